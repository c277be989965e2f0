package events

// The catalogue of ledger events. Each event is a plain struct with an explicit
// Type constant: that string is stored with every event and is part of the
// stored contract, so it never changes, even if the Go type is renamed. A new
// shape of an existing event gets a new SchemaVersion, and Decode keeps
// reading the old ones.
//
// Money is an int64 count of satoshis (1 BBP = 100,000,000). Fee rates are in
// basis points. No float appears in any event.
//
// Streams (see the Stream* functions):
//
//	miner-{minerID}               MinerRegistered, WorkerRegistered, MinerDisabled, MinerEnabled, MinerTargetChanged
//	work-{workID}                 WorkIssued
//	solution-{solutionID}         SolutionAccepted | SolutionRejected
//	biblehash-{network}-{hash}    BibleHashReserved (makes a bible hash acceptable once)
//	chain-{network}               ChainBlockRecorded (every block's hash, for reorg detection)
//	block-{network}-{blockHash}   BlockDiscovered, RoundClosed, LateSharesCounted, RoundEmpty,
//	                              BlockConfirmed, BlockMatured, MinerCredited…, FeeCredited,
//	                              BlockOrphaned, CreditReversed…
//	policy-{network}              PoolPolicySet (the fee and scheme in force)
//	payout-{payoutID}             PayoutPlanned, PayoutSigned, PayoutTxDead → PayoutSigned…,
//	                              PayoutSent | PayoutFailed | PayoutHalted, PayoutConfirmed | PayoutConflicted,
//	                              PayoutCorrected
//	payouts-{network}             PayoutsPaused, PayoutsResumed
//	pool                          PoolInstalled (the installation's id, written by migrate)

import (
	"time"

	"github.com/google/uuid"
)

// Event types: the stored contract.
const (
	TypeMinerRegistered    = "MinerRegistered"
	TypeWorkerRegistered   = "WorkerRegistered"
	TypeMinerDisabled      = "MinerDisabled"
	TypeMinerEnabled       = "MinerEnabled"
	TypeMinerTargetChanged = "MinerTargetChanged"
	TypeWorkIssued         = "WorkIssued"
	TypeSolutionAccepted   = "SolutionAccepted"
	TypeSolutionRejected   = "SolutionRejected"
	TypeBibleHashReserved  = "BibleHashReserved"
	TypeChainBlockRecorded = "ChainBlockRecorded"
	TypeBlockDiscovered    = "BlockDiscovered"
	TypeRoundClosed        = "RoundClosed"
	TypeBlockConfirmed     = "BlockConfirmed"
	TypeBlockMatured       = "BlockMatured"
	TypeBlockOrphaned      = "BlockOrphaned"
	TypeMinerCredited      = "MinerCredited"
	TypeFeeCredited        = "FeeCredited"
	TypeCreditReversed     = "CreditReversed"
	TypePayoutPlanned      = "PayoutPlanned"
	TypePayoutSent         = "PayoutSent"
	TypePayoutConfirmed    = "PayoutConfirmed"
	TypePayoutFailed       = "PayoutFailed"
	TypePayoutHalted       = "PayoutHalted"
	TypePayoutConflicted   = "PayoutConflicted"
	TypePayoutsPaused      = "PayoutsPaused"
	TypePayoutsResumed     = "PayoutsResumed"
	TypePoolPolicySet      = "PoolPolicySet"
	TypeLateSharesCounted  = "LateSharesCounted"
	TypeRoundEmpty         = "RoundEmpty"
	TypePayoutSigned       = "PayoutSigned"
	TypePayoutTxDead       = "PayoutTxDead"
	TypePayoutCorrected    = "PayoutCorrected"
	TypePoolInstalled      = "PoolInstalled"
	TypeLeaseTaken         = "LeaseTaken"
)

// Stream names.
func StreamMiner(minerID uuid.UUID) string       { return "miner-" + minerID.String() }
func StreamWork(workID uuid.UUID) string         { return "work-" + workID.String() }
func StreamSolution(solutionID uuid.UUID) string { return "solution-" + solutionID.String() }
func StreamBibleHash(network, bibleHash string) string {
	return "biblehash-" + network + "-" + bibleHash
}
func StreamChain(network string) string            { return "chain-" + network }
func StreamBlock(network, blockHash string) string { return "block-" + network + "-" + blockHash }
func StreamPayout(payoutID uuid.UUID) string       { return "payout-" + payoutID.String() }
func StreamPayoutSchedule(network string) string   { return "payouts-" + network }
func StreamPolicy(network string) string           { return "policy-" + network }

// StreamPool holds the installation's identity (PoolInstalled).
const StreamPool = "pool"

// StreamLease is the stream of a named lease (backend/lease).
func StreamLease(name string) string { return "lease-" + name }

// Namespace is the UUIDv5 namespace of Purepool's deterministic ids.
var Namespace = uuid.MustParse("6f1d3c52-7a0e-5b8e-9f43-2c1d9a7e4b10")

// MinerID is the deterministic id of the miner behind an address on a
// network, so the frontend can answer readytomine2 without writing anything.
func MinerID(network, address string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("miner:"+network+":"+address))
}

// FeeAccountID is the id under which a network's pool fee is credited.
func FeeAccountID(network string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("fee:"+network))
}

// CarryAccountID is the account that holds the miners' part of a matured
// pool block whose round had no share and no known finder, until the next
// round that has shares takes it (RoundEmpty, RoundClosed.CarriedInSat). It
// is owed to miners, never to the pool, and never paid out by itself.
func CarryAccountID(network string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte("carry:"+network))
}

// MinerRegistered: first contact of an address on a network.
type MinerRegistered struct {
	Network string    `json:"network"`
	MinerID uuid.UUID `json:"miner_id"`
	Address string    `json:"address"`
	At      time.Time `json:"at"`
}

// WorkerRegistered: first contact of a worker name of a miner.
type WorkerRegistered struct {
	Network string    `json:"network"`
	MinerID uuid.UUID `json:"miner_id"`
	Worker  string    `json:"worker"`
	At      time.Time `json:"at"`
}

// MinerDisabled: an admin stopped the miner; the frontend refuses its work requests.
type MinerDisabled struct {
	Network string    `json:"network"`
	MinerID uuid.UUID `json:"miner_id"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// MinerEnabled: an admin allowed a disabled miner again.
type MinerEnabled struct {
	Network string    `json:"network"`
	MinerID uuid.UUID `json:"miner_id"`
	At      time.Time `json:"at"`
}

// MinerTargetChanged: miner evaluation (vardiff) set the share target the
// frontend hands out from now on.
type MinerTargetChanged struct {
	Network string    `json:"network"`
	MinerID uuid.UUID `json:"miner_id"`
	Target  string    `json:"target"` // 64 hex digits
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// WorkIssued: the pool answered readytomine2 with this work.
type WorkIssued struct {
	Network  string    `json:"network"`
	WorkID   uuid.UUID `json:"work_id"`
	MinerID  uuid.UUID `json:"miner_id"`
	Address  string    `json:"address"`
	Worker   string    `json:"worker"`
	Target   string    `json:"target"` // 64 hex digits
	ThreadID int       `json:"thread_id"`
	Agent    string    `json:"agent"`
	OS       string    `json:"os"`
	At       time.Time `json:"at"`
}

// SolutionAccepted: a share passed every check. Difficulty is the share's
// weight (expected hashes to find it at its target); shares are weighted by it.
type SolutionAccepted struct {
	Network     string    `json:"network"`
	SolutionID  uuid.UUID `json:"solution_id"`
	WorkID      uuid.UUID `json:"work_id"`
	MinerID     uuid.UUID `json:"miner_id"`
	Address     string    `json:"address"`
	Worker      string    `json:"worker"`
	BlockHash   string    `json:"block_hash"`
	BibleHash   string    `json:"bible_hash"`
	PrevHeight  int64     `json:"prev_height"`
	Nonce       uint32    `json:"nonce"`
	Target      string    `json:"target"`
	Difficulty  int64     `json:"difficulty"`
	HashrateHPS int64     `json:"hashrate_hps"`
	At          time.Time `json:"at"`
}

// Rejection reason codes, shown to the miner on the website.
const (
	RejectUnknownWork      = "UNKNOWN_WORK"
	RejectWrongMiner       = "WORK_OF_ANOTHER_MINER"
	RejectWrongNetwork     = "WRONG_NETWORK"
	RejectHighHash         = "HIGH_HASH"
	RejectBibleHashWrong   = "BIBLEHASH_WRONG"
	RejectBlockHashWrong   = "BLOCKHASH_WRONG"
	RejectInvalidRecipient = "INVALID_RECIPIENT"
	RejectBlockInvalid     = "BLOCK_INVALID"
	RejectNonceTooHigh     = "NONCE_TOO_HIGH"
	RejectStale            = "STALE_HEIGHT"
	RejectDuplicate        = "DUPLICATE_SOLUTION"
	RejectMalformed        = "MALFORMED_SOLUTION"
	RejectMinerDisabled    = "MINER_DISABLED"
)

// SolutionRejected: a share failed a check; Reason is one of the Reject* codes.
type SolutionRejected struct {
	Network    string    `json:"network"`
	SolutionID uuid.UUID `json:"solution_id"`
	WorkID     uuid.UUID `json:"work_id"`
	MinerID    uuid.UUID `json:"miner_id"`
	Address    string    `json:"address"`
	Worker     string    `json:"worker"`
	BibleHash  string    `json:"bible_hash"`
	Reason     string    `json:"reason"`
	Detail     string    `json:"detail"`
	At         time.Time `json:"at"`
}

// BibleHashReserved is the first and only event of a biblehash-… stream; it
// is written atomically with the SolutionAccepted that used the hash.
type BibleHashReserved struct {
	Network    string    `json:"network"`
	BibleHash  string    `json:"bible_hash"`
	SolutionID uuid.UUID `json:"solution_id"`
}

// ChainBlockRecorded: the chain follower saw this hash at this height.
// A later record at the same height with another hash is a reorganisation.
// Time and SeenAt date the block for judging shares as of their receipt
// (aggregates.ChainPoint.Appeared): a share is stale once a later block
// had appeared when it arrived.
type ChainBlockRecorded struct {
	Network string    `json:"network"`
	Height  int64     `json:"height"`
	Hash    string    `json:"hash"`
	Time    time.Time `json:"time"` // block time
	// SeenAt is when the follower first recorded the block (absent in
	// events of releases before the rounds by height).
	SeenAt time.Time `json:"seen_at,omitzero"`
	// Bits is the block's compact target (nBits) as getblock prints it
	// ("1e0ffff0"): the network difficulty the website's effort and luck
	// figures need. Absent in events of earlier releases.
	Bits string `json:"bits,omitempty"`
}

// Round rules: how a pool block's round is made. A block's rule is fixed
// when it is discovered (BlockDiscovered.RoundRule) and its round is judged
// by it forever, so a log written by an earlier release replays and audits
// by the rule that made it.
const (
	// RoundRulePosition (the empty string, releases before the rounds by
	// height): the round is closed when the block is discovered and counts
	// the shares stored (by log position) since the previous close.
	RoundRulePosition = ""
	// RoundRuleHeight: the round is closed when the block matures and counts
	// the shares by the height they were mined on (PrevHeight+1): PROP, every
	// share not yet counted mined at or below the block's height; PPLNS, the
	// last N shares mined at or below it. Neither the order nor the delay in
	// which the backend validated them matters.
	RoundRuleHeight = "height"
)

// BlockDiscovered: a block paying the pool address is on the chain.
type BlockDiscovered struct {
	Network       string    `json:"network"`
	Height        int64     `json:"height"`
	Hash          string    `json:"hash"`
	FinderMinerID uuid.UUID `json:"finder_miner_id"` // uuid.Nil if the coinbase names no known miner
	Recipient     string    `json:"recipient"`
	RewardSat     int64     `json:"reward_sat"` // exact coinbase vout[0] value
	BlockTime     time.Time `json:"block_time"`
	// RoundRule is the rule the block's round is made by (RoundRule*).
	RoundRule string    `json:"round_rule,omitempty"`
	At        time.Time `json:"at"`
}

// ShareTally is one miner's part of a round.
type ShareTally struct {
	MinerID    uuid.UUID `json:"miner_id"`
	Address    string    `json:"address"`
	Shares     int64     `json:"shares"`
	Difficulty int64     `json:"difficulty"`
}

// Payment schemes.
const (
	SchemePROP  = "PROP"
	SchemePPLNS = "PPLNS"
	SchemeSOLO  = "SOLO"
)

// RoundClosed fixes the shares a pool block pays for. CarriedOver names
// orphaned blocks whose rounds (by position) rolled into this one.
//
// Rule RoundRulePosition: written with BlockDiscovered; FromPosition and
// ToPosition bound (exclusive, inclusive) the global positions of the
// SolutionAccepted events counted.
//
// Rule RoundRuleHeight: written with BlockMatured and the credits, in one
// append; ToPosition is the log position the membership was decided at
// (shares stored later are not in it), FromHeight the height of the
// previous pool block on the chain (0: none), and CarriedInSat what the
// round takes from the carry account (CarryAccountID) on top of the block's
// reward.
type RoundClosed struct {
	Network         string       `json:"network"`
	RoundID         uuid.UUID    `json:"round_id"`
	BlockHash       string       `json:"block_hash"`
	Height          int64        `json:"height"`
	Scheme          string       `json:"scheme"`
	Shares          []ShareTally `json:"shares"`
	TotalShares     int64        `json:"total_shares"`
	TotalDifficulty int64        `json:"total_difficulty"`
	FromPosition    uint64       `json:"from_position"`
	ToPosition      uint64       `json:"to_position"`
	CarriedOver     []string     `json:"carried_over,omitempty"`
	Rule            string       `json:"rule,omitempty"`
	FromHeight      int64        `json:"from_height,omitempty"`
	CarriedInSat    int64        `json:"carried_in_sat,omitempty"`
	At              time.Time    `json:"at"`
}

// LateShare is a share counted in a later round than the one of its height,
// because it was stored after that round had been credited.
type LateShare struct {
	SolutionID  uuid.UUID `json:"solution_id"`
	MinerID     uuid.UUID `json:"miner_id"`
	MinedHeight int64     `json:"mined_height"`
	Difficulty  int64     `json:"difficulty"`
	// MissedBlock is the pool block whose round the share's height belongs
	// to ("" when no pool block covers it).
	MissedBlock string `json:"missed_block,omitempty"`
}

// LateSharesCounted says which shares of a height-rule round (written right
// after its RoundClosed) belong by their height to an earlier round that had
// been credited before they were stored: they count here instead, once.
type LateSharesCounted struct {
	Network   string      `json:"network"`
	BlockHash string      `json:"block_hash"`
	Height    int64       `json:"height"`
	Shares    []LateShare `json:"shares"`
	At        time.Time   `json:"at"`
}

// Outcomes of an empty round.
const (
	EmptyRoundToFinder = "finder"  // the miners' part goes to the block's finder
	EmptyRoundCarried  = "carried" // it waits in the carry account for the next round
)

// RoundEmpty: a matured pool block's round counted no share. The pool still
// takes exactly its fee (FeeCredited); the miners' part (AmountSat: reward −
// fee + what the round took from the carry account) goes to the finder when
// the coinbase names a known miner (and a MinerCredited follows), otherwise
// into the carry account for the next round with shares. None of it goes to
// the fee account.
type RoundEmpty struct {
	Network       string    `json:"network"`
	BlockHash     string    `json:"block_hash"`
	Height        int64     `json:"height"`
	Outcome       string    `json:"outcome"`
	FinderMinerID uuid.UUID `json:"finder_miner_id"`
	Address       string    `json:"address,omitempty"`
	AmountSat     int64     `json:"amount_sat"`
	At            time.Time `json:"at"`
}

// PoolPolicySet records the crediting policy in force on a network from its
// position on: the fee in basis points and the payment scheme. The backend
// writes it when the configuration differs from the last one recorded,
// before it credits a block, so the auditor judges every fee against the
// log alone.
type PoolPolicySet struct {
	Network     string    `json:"network"`
	FeeBps      int64     `json:"fee_bps"`
	Scheme      string    `json:"scheme"`
	PPLNSWindow int       `json:"pplns_window,omitempty"`
	At          time.Time `json:"at"`
}

// BlockConfirmed: the pool block's confirmation count reached Confirmations.
type BlockConfirmed struct {
	Network       string    `json:"network"`
	Hash          string    `json:"hash"`
	Height        int64     `json:"height"`
	Confirmations int64     `json:"confirmations"`
	At            time.Time `json:"at"`
}

// BlockMatured: the pool block reached the maturity depth; its reward is spendable.
type BlockMatured struct {
	Network       string    `json:"network"`
	Hash          string    `json:"hash"`
	Height        int64     `json:"height"`
	RewardSat     int64     `json:"reward_sat"`
	Confirmations int64     `json:"confirmations"`
	At            time.Time `json:"at"`
}

// BlockOrphaned: the pool block left the best chain. AfterMaturity means it
// had matured (and been credited) before it disappeared.
type BlockOrphaned struct {
	Network       string    `json:"network"`
	Hash          string    `json:"hash"`
	Height        int64     `json:"height"`
	ReplacedBy    string    `json:"replaced_by"`
	AfterMaturity bool      `json:"after_maturity"`
	At            time.Time `json:"at"`
}

// MinerCredited: one miner's share of a matured pool block, with its proof.
type MinerCredited struct {
	Network         string    `json:"network"`
	MinerID         uuid.UUID `json:"miner_id"`
	Address         string    `json:"address"`
	BlockHash       string    `json:"block_hash"`
	Height          int64     `json:"height"`
	RoundID         uuid.UUID `json:"round_id"`
	RewardSat       int64     `json:"reward_sat"`
	FeeSat          int64     `json:"fee_sat"`
	RoundShares     int64     `json:"round_shares"`
	RoundDifficulty int64     `json:"round_difficulty"`
	MinerShares     int64     `json:"miner_shares"`
	MinerDifficulty int64     `json:"miner_difficulty"`
	AmountSat       int64     `json:"amount_sat"`
	At              time.Time `json:"at"`
}

// FeeCredited: the pool fee of a matured pool block.
type FeeCredited struct {
	Network   string    `json:"network"`
	AccountID uuid.UUID `json:"account_id"` // FeeAccountID(network)
	BlockHash string    `json:"block_hash"`
	Height    int64     `json:"height"`
	FeeBps    int64     `json:"fee_bps"`
	AmountSat int64     `json:"amount_sat"`
	At        time.Time `json:"at"`
}

// CreditReversed takes back a credit of a block that left the chain after it
// was credited. AccountID is a miner id or the fee account.
type CreditReversed struct {
	Network   string    `json:"network"`
	AccountID uuid.UUID `json:"account_id"`
	Address   string    `json:"address"`
	BlockHash string    `json:"block_hash"`
	AmountSat int64     `json:"amount_sat"`
	Fee       bool      `json:"fee"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// PayoutItem is one recipient of a payout. AmountSat is taken from the
// miner's balance; the network fee is subtracted from it on the chain.
type PayoutItem struct {
	MinerID   uuid.UUID `json:"miner_id"`
	Address   string    `json:"address"`
	AmountSat int64     `json:"amount_sat"`
}

// PayoutPlanned is recorded before any RPC: the intent to send.
type PayoutPlanned struct {
	Network  string       `json:"network"`
	PayoutID uuid.UUID    `json:"payout_id"`
	Items    []PayoutItem `json:"items"`
	TotalSat int64        `json:"total_sat"`
	// PoolID is the installation that planned it (PoolInstalled); empty in
	// payouts of releases before signed payouts.
	PoolID uuid.UUID `json:"pool_id,omitzero"`
	// Anchor is the event log's head when the payout was planned; the
	// payout's transaction carries it in its data output (package anchor).
	// Nil in payouts of earlier releases and on stores without a hash chain.
	Anchor *LogAnchor `json:"anchor,omitempty"`
	// Adopted: recorded after the fact from a wallet transaction this
	// installation sent, which the ledger had lost (a restored backup
	// behind the wallet; AdoptWalletPayout). A PayoutSigned and a
	// PayoutSent follow in the same write.
	Adopted bool      `json:"adopted,omitempty"`
	At      time.Time `json:"at"`
}

// LogAnchor is a head of the event log: the RFC 6962 Merkle tree over the
// chain hashes of events 1..Size (package anchor), and the chain hash of
// event Size. Hex strings.
type LogAnchor struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
	Hash string `json:"hash"`
}

// OutPoint names a transaction output (display-hex txid and index).
type OutPoint struct {
	TxID string `json:"txid"`
	Vout uint32 `json:"vout"`
}

// PayoutSigned: the payout's transaction is built, funded and signed, and
// is recorded before it is broadcast. Broadcasting Hex again is always
// safe: it is the same transaction. Sends are what each recipient gets on
// the chain: its planned amount less its share of FeeSat (aggregates.SplitFee);
// sends plus FeeSat equal the payout's total.
type PayoutSigned struct {
	Network  string       `json:"network"`
	PayoutID uuid.UUID    `json:"payout_id"`
	TxID     string       `json:"txid"`
	Hex      string       `json:"hex"`
	Inputs   []OutPoint   `json:"inputs"`
	FeeSat   int64        `json:"fee_sat"`
	Sends    []PayoutItem `json:"sends"`
	// Attempt counts the payout's signed transactions from 1; a later one
	// follows only a PayoutTxDead of the one before.
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
}

// PayoutTxDead: a signed transaction of the payout can never confirm: one
// of its inputs (SpentInput) was spent by another transaction, buried under
// the payout confirmations, and the transaction itself is not in the chain.
// The payout goes back to planned, and a new transaction is signed for it.
type PayoutTxDead struct {
	Network    string    `json:"network"`
	PayoutID   uuid.UUID `json:"payout_id"`
	TxID       string    `json:"txid"`
	SpentInput string    `json:"spent_input"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

// PayoutCorrected: an admin's correction of a payout recorded as sent in a
// transaction that does not pay it (e.g. a wrong ReconcilePayout of an
// earlier release). Nothing was paid: the amounts return to the balances.
// The wrong record stays in the log; this event says it was wrong.
type PayoutCorrected struct {
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	TxID     string    `json:"txid"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// LeaseTaken: Owner holds the lease Name (a singleton job's lock, see
// backend/lease) until Until, by the writer's clock; a renewal is another
// LeaseTaken by the same owner. It is not a fact of the ledger: no balance,
// share, block or payout depends on it, and the folds ignore it.
type LeaseTaken struct {
	Name  string    `json:"name"`
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
	At    time.Time `json:"at"`
}

// PoolInstalled names an installation: migrate writes it once, into a
// fresh store or one of an earlier release. Payout ids derive from it, so
// two installations never share one.
type PoolInstalled struct {
	PoolID uuid.UUID `json:"pool_id"`
	At     time.Time `json:"at"`
}

// PayoutSent: the wallet accepted the transaction.
type PayoutSent struct {
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	TxID     string    `json:"txid"`
	FeeSat   int64     `json:"fee_sat"` // network fee, subtracted from the amounts
	// Reconciled is true when the send was found in the wallet after its
	// outcome was unknown, rather than reported by the send call.
	Reconciled bool      `json:"reconciled,omitempty"`
	At         time.Time `json:"at"`
}

// PayoutConfirmed: the payout transaction has Confirmations on the chain.
type PayoutConfirmed struct {
	Network       string    `json:"network"`
	PayoutID      uuid.UUID `json:"payout_id"`
	TxID          string    `json:"txid"`
	Confirmations int64     `json:"confirmations"`
	At            time.Time `json:"at"`
}

// PayoutFailed: it is certain that nothing was sent; the amounts return to
// the miners' balances.
type PayoutFailed struct {
	Network    string    `json:"network"`
	PayoutID   uuid.UUID `json:"payout_id"`
	Reason     string    `json:"reason"`
	Reconciled bool      `json:"reconciled,omitempty"`
	At         time.Time `json:"at"`
}

// PayoutHalted: the send's outcome is unknown. No further payout of the
// network goes out until the payout is reconciled into PayoutSent or
// PayoutFailed.
type PayoutHalted struct {
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// PayoutConflicted: the payout's transaction, recorded as sent, can no
// longer confirm: a transaction in the chain spends its inputs (a
// reorganisation took them, e.g. the coinbase it spent was orphaned). It is
// recorded only once the conflict is buried under the network's payout
// confirmations, so the transaction cannot come back. The miners were not
// paid: the amounts return to their balances, and a later payout pays them.
type PayoutConflicted struct {
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	TxID     string    `json:"txid"`
	// Conflicts are the wallet's walletconflicts for the transaction (may be
	// empty: the node does not always know the conflicting transaction).
	Conflicts []string  `json:"conflicts,omitempty"`
	Reason    string    `json:"reason"`
	At        time.Time `json:"at"`
}

// PayoutsPaused: an admin stopped the network's payout schedule.
type PayoutsPaused struct {
	Network string    `json:"network"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// PayoutsResumed: an admin restarted the network's payout schedule.
type PayoutsResumed struct {
	Network string    `json:"network"`
	At      time.Time `json:"at"`
}

func (MinerRegistered) EventType() string    { return TypeMinerRegistered }
func (WorkerRegistered) EventType() string   { return TypeWorkerRegistered }
func (MinerDisabled) EventType() string      { return TypeMinerDisabled }
func (MinerEnabled) EventType() string       { return TypeMinerEnabled }
func (MinerTargetChanged) EventType() string { return TypeMinerTargetChanged }
func (WorkIssued) EventType() string         { return TypeWorkIssued }
func (SolutionAccepted) EventType() string   { return TypeSolutionAccepted }
func (SolutionRejected) EventType() string   { return TypeSolutionRejected }
func (BibleHashReserved) EventType() string  { return TypeBibleHashReserved }
func (ChainBlockRecorded) EventType() string { return TypeChainBlockRecorded }
func (BlockDiscovered) EventType() string    { return TypeBlockDiscovered }
func (RoundClosed) EventType() string        { return TypeRoundClosed }
func (BlockConfirmed) EventType() string     { return TypeBlockConfirmed }
func (BlockMatured) EventType() string       { return TypeBlockMatured }
func (BlockOrphaned) EventType() string      { return TypeBlockOrphaned }
func (MinerCredited) EventType() string      { return TypeMinerCredited }
func (FeeCredited) EventType() string        { return TypeFeeCredited }
func (CreditReversed) EventType() string     { return TypeCreditReversed }
func (PayoutPlanned) EventType() string      { return TypePayoutPlanned }
func (PayoutSent) EventType() string         { return TypePayoutSent }
func (PayoutConfirmed) EventType() string    { return TypePayoutConfirmed }
func (PayoutFailed) EventType() string       { return TypePayoutFailed }
func (PayoutHalted) EventType() string       { return TypePayoutHalted }
func (PayoutConflicted) EventType() string   { return TypePayoutConflicted }
func (PayoutsPaused) EventType() string      { return TypePayoutsPaused }
func (PayoutsResumed) EventType() string     { return TypePayoutsResumed }
func (PoolPolicySet) EventType() string      { return TypePoolPolicySet }
func (LateSharesCounted) EventType() string  { return TypeLateSharesCounted }
func (RoundEmpty) EventType() string         { return TypeRoundEmpty }
func (PayoutSigned) EventType() string       { return TypePayoutSigned }
func (PayoutTxDead) EventType() string       { return TypePayoutTxDead }
func (PayoutCorrected) EventType() string    { return TypePayoutCorrected }
func (PoolInstalled) EventType() string      { return TypePoolInstalled }
func (LeaseTaken) EventType() string         { return TypeLeaseTaken }

// decoders maps each stored type (at schema version 1) to a fresh value.
var decoders = map[string]func() Event{
	TypeMinerRegistered:    func() Event { return &MinerRegistered{} },
	TypeWorkerRegistered:   func() Event { return &WorkerRegistered{} },
	TypeMinerDisabled:      func() Event { return &MinerDisabled{} },
	TypeMinerEnabled:       func() Event { return &MinerEnabled{} },
	TypeMinerTargetChanged: func() Event { return &MinerTargetChanged{} },
	TypeWorkIssued:         func() Event { return &WorkIssued{} },
	TypeSolutionAccepted:   func() Event { return &SolutionAccepted{} },
	TypeSolutionRejected:   func() Event { return &SolutionRejected{} },
	TypeBibleHashReserved:  func() Event { return &BibleHashReserved{} },
	TypeChainBlockRecorded: func() Event { return &ChainBlockRecorded{} },
	TypeBlockDiscovered:    func() Event { return &BlockDiscovered{} },
	TypeRoundClosed:        func() Event { return &RoundClosed{} },
	TypeBlockConfirmed:     func() Event { return &BlockConfirmed{} },
	TypeBlockMatured:       func() Event { return &BlockMatured{} },
	TypeBlockOrphaned:      func() Event { return &BlockOrphaned{} },
	TypeMinerCredited:      func() Event { return &MinerCredited{} },
	TypeFeeCredited:        func() Event { return &FeeCredited{} },
	TypeCreditReversed:     func() Event { return &CreditReversed{} },
	TypePayoutPlanned:      func() Event { return &PayoutPlanned{} },
	TypePayoutSent:         func() Event { return &PayoutSent{} },
	TypePayoutConfirmed:    func() Event { return &PayoutConfirmed{} },
	TypePayoutFailed:       func() Event { return &PayoutFailed{} },
	TypePayoutHalted:       func() Event { return &PayoutHalted{} },
	TypePayoutConflicted:   func() Event { return &PayoutConflicted{} },
	TypePayoutsPaused:      func() Event { return &PayoutsPaused{} },
	TypePayoutsResumed:     func() Event { return &PayoutsResumed{} },
	TypePoolPolicySet:      func() Event { return &PoolPolicySet{} },
	TypeLateSharesCounted:  func() Event { return &LateSharesCounted{} },
	TypeRoundEmpty:         func() Event { return &RoundEmpty{} },
	TypePayoutSigned:       func() Event { return &PayoutSigned{} },
	TypePayoutTxDead:       func() Event { return &PayoutTxDead{} },
	TypePayoutCorrected:    func() Event { return &PayoutCorrected{} },
	TypePoolInstalled:      func() Event { return &PoolInstalled{} },
	TypeLeaseTaken:         func() Event { return &LeaseTaken{} },
}
