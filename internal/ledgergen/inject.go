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
)

// Injections lists every injection.
var Injections = []Injection{
	OverCredit, SplitShift, RewardMismatch, CreditAfterOrphan, UnreversedCredit, ReorgWithoutOrphan, OverReversal,
	OverPayout, UnknownWork, WorkOfOtherMiner, DuplicateBibleHash, PayoutWithoutTxID, TxIDReused, PayoutTotal,
	SentAfterFailed, WrongStream,
}
