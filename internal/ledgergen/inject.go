package ledgergen

// Injection is one kind of violation a history can carry (Config.Inject).
type Injection string

// The violations the generator can inject, each once.
const (
	None               Injection = ""
	OverCredit         Injection = "over_credit"          // a credit 1 sat too large: credits + fee > reward
	SplitShift         Injection = "split_shift"          // 1 sat moved between two miners' credits
	RewardMismatch     Injection = "reward_mismatch"      // matured with another reward than discovered
	CreditAfterOrphan  Injection = "credit_after_orphan"  // a credit for a block orphaned before maturity
	UnreversedCredit   Injection = "unreversed_credit"    // the late reorg forgets one reversal
	ReorgWithoutOrphan Injection = "reorg_without_orphan" // the chain replaces a credited block, nothing reversed
	OverReversal       Injection = "over_reversal"        // a reversal larger than the credit
	OverPayout         Injection = "over_payout"          // a payout item 1 sat above the balance
	UnknownWork        Injection = "unknown_work"         // an accepted solution names no issued work
	WorkOfOtherMiner   Injection = "work_of_other_miner"  // an accepted solution on another miner's work
	DuplicateBibleHash Injection = "duplicate_bible_hash" // a bible hash accepted twice
	PayoutWithoutTxID  Injection = "payout_without_txid"  // a payout sent with no transaction id
	TxIDReused         Injection = "txid_reused"          // two payouts name one transaction
	PayoutTotal        Injection = "payout_total"         // a payout's total is not the sum of its items
	SentAfterFailed    Injection = "sent_after_failed"    // a failed payout later recorded as sent
	WrongStream        Injection = "wrong_stream"         // an event stored in another stream
	// Fairness (rounds by height, issue 12).
	WinningShareOutside Injection = "winning_share_outside" // a round credited without its block's winning share
	DoubleCount         Injection = "double_count"          // a round also counts a share the previous round counted
	RoundRewritten      Injection = "round_rewritten"       // a second RoundClosed after the block was credited
	FeeNotConfigured    Injection = "fee_not_configured"    // a block credited at another fee than the PoolPolicySet's
	EmptyRoundToFee     Injection = "empty_round_to_fee"    // an empty round's whole reward to the fee account (the old release did)
)

// Injections lists every injection.
var Injections = []Injection{
	OverCredit, SplitShift, RewardMismatch, CreditAfterOrphan, UnreversedCredit, ReorgWithoutOrphan, OverReversal,
	OverPayout, UnknownWork, WorkOfOtherMiner, DuplicateBibleHash, PayoutWithoutTxID, TxIDReused, PayoutTotal,
	SentAfterFailed, WrongStream,
	WinningShareOutside, DoubleCount, RoundRewritten, FeeNotConfigured, EmptyRoundToFee,
}
