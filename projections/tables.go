package projections

// The read-model tables, described once in Go. The DDL of each dialect, the
// incremental upserts and the bulk loads of a rebuild are all generated from
// these descriptions, so the three targets cannot drift apart.
//
// Every mutable column names how a later change merges into the stored row
// (see merge): counters add, "latest" values overwrite only when the change
// carries one, first/last times keep the minimum/maximum. That lets a batch
// be folded into compact per-row changes in Go and applied as one upsert per
// row, and lets a rebuild write each final row once.

// kind is a column's value type.
type kind int

const (
	kText kind = iota // short text; may be a key
	kLong             // long text (notes, reasons); never a key
	kInt              // BIGINT (satoshis, counts)
	kUUID             // uuid; NULL when unknown
	kTime             // timestamp (UTC, microseconds); NULL when unknown
	kDate             // calendar day (UTC)
)

// merge says how a change's value combines with the stored one.
type merge int

const (
	mKey      merge = iota // part of the primary key
	mSet                   // overwrite
	mAdd                   // stored + change
	mNonEmpty              // overwrite unless the change is ''
	mNonZero               // overwrite unless the change is 0
	mCoalesce              // overwrite unless the change is NULL
	mMin                   // smallest non-NULL
	mMax                   // largest non-NULL
	mSetIf                 // overwrite when the column named by column.ifCol is non-empty in the change
)

type column struct {
	name  string
	kind  kind
	merge merge
	ifCol string
	// added is the read-model shape that added the column (0: the first).
	// Migrate adds a column missing from a stored table (ALTER TABLE …
	// ADD COLUMN, with its default), so a read model written by an earlier
	// release opens without a rebuild; its existing rows keep the default
	// until a rebuild fills them. Columns added later go at the end of
	// their table, never a key.
	added int
}

type index struct {
	name string
	cols []string
}

// table describes one read-model table.
type table struct {
	name string
	cols []column
	// insertOnly tables hold immutable rows keyed by event: a second insert
	// of the same key changes nothing.
	insertOnly bool
	indexes    []index
	// added is the read-model shape that added the table (0: the first).
	// Migrate creates a table missing from a read model of an earlier
	// shape (empty, with its indexes) — a rebuild fills it from the log.
	added int
}

func (t *table) keys() []string {
	var k []string
	for _, c := range t.cols {
		if c.merge == mKey {
			k = append(k, c.name)
		}
	}
	return k
}

// Table names. The website reads them (PostgreSQL: schema readmodel).
const (
	TMiners      = "miners"
	TWorkers     = "workers"
	TMinerDays   = "miner_days"
	TPoolDays    = "pool_days"
	TRejections  = "rejections"
	TBlocks      = "blocks"
	TRoundMiners = "round_miners"
	TChain       = "chain"
	TLedger      = "ledger_entries"
	TPayouts     = "payouts"
	TPayoutItems = "payout_items"
	TPool        = "pool"
	TCheckpoints = "checkpoints"
	// Shape 3 (signed payouts).
	TPayoutTxs    = "payout_txs"
	TPayoutSends  = "payout_sends"
	TInstallation = "installation"
	// Shape 4 (pool counters for /metrics).
	TPoolCounters = "pool_counters"
	// Shape 4 (the website: hourly charts, effort, immature balances).
	TPoolHours    = "pool_hours"
	TMinerHours   = "miner_hours"
	TPoolHeights  = "pool_heights"
	TMinerHeights = "miner_heights"
)

// Shapes of the read model. Each later shape adds columns at the end of
// tables (column.added) or whole tables (table.added); Migrate brings a
// read model of any earlier shape to the current one in place.
//
//	1  the first release
//	2  rounds by height, empty rounds, the carry account, the policy
//	3  signed payouts: signed and dead transactions, on-chain amounts,
//	   corrections, the log head each payout anchors, the pool's id
//	4  pool counters by label (rejected solutions by reason), for /metrics
//	   and, for the website, accepted shares per hour (pool and miner) and
//	   per height mined (pool and miner: effort, immature balances), and
//	   the network difficulty of chain blocks
//	5  miners.directory_pos: the position of the last event that changed a
//	   miner's target or state, so that frontends poll the changes of
//	   their in-memory miner directory (Reader.MinerDirectory)
const Shape = 5

var tables = []*table{
	{name: TMiners, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID},
		{name: "address", kind: kText, merge: mNonEmpty},
		{name: "state", kind: kText, merge: mNonEmpty}, // '' never changed, 'enabled', 'disabled'
		{name: "state_reason", kind: kLong, merge: mSetIf, ifCol: "state"},
		{name: "target", kind: kText, merge: mNonEmpty},
		{name: "registered_at", kind: kTime, merge: mMin},
		{name: "credited_sat", kind: kInt, merge: mAdd},
		{name: "reversed_sat", kind: kInt, merge: mAdd},
		{name: "paid_sat", kind: kInt, merge: mAdd}, // planned payouts that did not fail
		{name: "balance_sat", kind: kInt, merge: mAdd},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
		{name: "last_share_at", kind: kTime, merge: mMax},
		// Shape 5: the log position of the latest MinerDisabled, MinerEnabled
		// or MinerTargetChanged (0: none since the read model reached shape
		// 5, or none at all). Batches commit in position order, so a
		// frontend that read every row up to position p finds every later
		// change with directory_pos > p.
		{name: "directory_pos", kind: kInt, merge: mMax, added: 5},
	}, indexes: []index{{"address", []string{"network", "address"}}}},
	{name: TWorkers, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID}, {name: "worker", kind: kText},
		{name: "first_seen", kind: kTime, merge: mMin},
		{name: "last_seen", kind: kTime, merge: mMax},
		{name: "last_share_at", kind: kTime, merge: mMax},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
		{name: "hashrate_hps", kind: kInt, merge: mNonZero},
	}},
	{name: TMinerDays, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID}, {name: "day", kind: kDate},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
		{name: "credited_sat", kind: kInt, merge: mAdd},
	}, indexes: []index{{"day", []string{"network", "day"}}}},
	{name: TPoolDays, cols: []column{
		{name: "network", kind: kText}, {name: "day", kind: kDate},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
		{name: "blocks_found", kind: kInt, merge: mAdd},
		{name: "reward_sat", kind: kInt, merge: mAdd},
	}},
	{name: TRejections, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID}, {name: "day", kind: kDate},
		{name: "worker", kind: kText}, {name: "reason", kind: kText},
		{name: "count", kind: kInt, merge: mAdd},
		{name: "last_at", kind: kTime, merge: mMax},
		{name: "last_detail", kind: kLong, merge: mNonEmpty},
	}},
	{name: TBlocks, cols: []column{
		{name: "network", kind: kText}, {name: "hash", kind: kText},
		{name: "height", kind: kInt, merge: mNonZero},
		{name: "finder_miner_id", kind: kUUID, merge: mCoalesce},
		{name: "recipient", kind: kText, merge: mNonEmpty},
		{name: "reward_sat", kind: kInt, merge: mNonZero},
		{name: "status", kind: kText, merge: mNonEmpty}, // pending, matured, orphaned
		{name: "confirmations", kind: kInt, merge: mMax},
		{name: "block_time", kind: kTime, merge: mCoalesce},
		{name: "discovered_at", kind: kTime, merge: mCoalesce},
		{name: "matured_at", kind: kTime, merge: mCoalesce},
		{name: "orphaned_at", kind: kTime, merge: mCoalesce},
		{name: "replaced_by", kind: kText, merge: mNonEmpty},
		{name: "scheme", kind: kText, merge: mNonEmpty},
		{name: "round_shares", kind: kInt, merge: mNonZero},
		{name: "round_difficulty", kind: kInt, merge: mNonZero},
		{name: "round_miners", kind: kInt, merge: mNonZero},
		{name: "credited_sat", kind: kInt, merge: mAdd},
		{name: "fee_sat", kind: kInt, merge: mAdd},
		{name: "reversed_sat", kind: kInt, merge: mAdd},
		// Shape 2: rounds by height (events.RoundRuleHeight), empty rounds,
		// late shares, the fee of each block.
		{name: "round_rule", kind: kText, merge: mNonEmpty, added: 2},            // '' by position (closed at discovery), 'height' (closed at maturity)
		{name: "round_closed_at", kind: kTime, merge: mCoalesce, added: 2},       // NULL: a round by height still open
		{name: "round_from_height", kind: kInt, merge: mNonZero, added: 2},       // rule height: the previous pool block's height (0 none)
		{name: "carried_in_sat", kind: kInt, merge: mNonZero, added: 2},          // taken from the carry account
		{name: "late_shares", kind: kInt, merge: mNonZero, added: 2},             // shares of earlier heights counted here (LateSharesCounted)
		{name: "late_counted_later", kind: kInt, merge: mAdd, added: 2},          // shares of this round's heights counted in a later round
		{name: "empty_outcome", kind: kText, merge: mNonEmpty, added: 2},         // RoundEmpty: 'finder' or 'carried'
		{name: "empty_sat", kind: kInt, merge: mNonZero, added: 2},               // the miners' part it gave to the finder or the carry account
		{name: "fee_bps", kind: kInt, merge: mSetIf, ifCol: "fee_set", added: 2}, // FeeCredited.FeeBps
		{name: "fee_set", kind: kText, merge: mNonEmpty, added: 2},               // 'yes' once a FeeCredited was folded
	}, indexes: []index{{"height", []string{"network", "height"}}}},
	{name: TRoundMiners, cols: []column{
		{name: "network", kind: kText}, {name: "block_hash", kind: kText}, {name: "miner_id", kind: kUUID},
		{name: "address", kind: kText, merge: mNonEmpty},
		{name: "height", kind: kInt, merge: mNonZero},
		{name: "round_id", kind: kUUID, merge: mCoalesce},
		{name: "shares", kind: kInt, merge: mNonZero},
		{name: "difficulty", kind: kInt, merge: mNonZero},
		{name: "round_shares", kind: kInt, merge: mNonZero},
		{name: "round_difficulty", kind: kInt, merge: mNonZero},
		{name: "reward_sat", kind: kInt, merge: mNonZero},
		{name: "fee_sat", kind: kInt, merge: mNonZero},
		{name: "amount_sat", kind: kInt, merge: mNonZero},
		{name: "credited_at", kind: kTime, merge: mCoalesce},
		{name: "reversed_sat", kind: kInt, merge: mAdd},
	}, indexes: []index{{"miner", []string{"network", "miner_id", "height"}}}},
	{name: TChain, cols: []column{
		{name: "network", kind: kText}, {name: "height", kind: kInt},
		{name: "hash", kind: kText, merge: mSet},
		{name: "block_time", kind: kTime, merge: mSet},
		// Shape 4: the network difficulty of the block (expected hashes,
		// as share difficulties), from its header's nBits when
		// ChainBlockRecorded carries it ("bits"); 0 unknown.
		{name: "difficulty", kind: kInt, merge: mNonZero, added: 4},
	}, indexes: []index{{"time", []string{"network", "block_time"}}}},
	{name: TLedger, insertOnly: true, cols: []column{
		{name: "event_id", kind: kUUID}, {name: "account_id", kind: kUUID},
		{name: "network", kind: kText, merge: mSet},
		{name: "position", kind: kInt, merge: mSet},
		{name: "kind", kind: kText, merge: mSet},      // credit, reversal, payout, payout_failed, payout_conflicted, payout_corrected, fee, fee_reversal; carry_in, carry_out, carry_reversal (the carry account)
		{name: "amount_sat", kind: kInt, merge: mSet}, // signed: + adds to the balance
		{name: "block_hash", kind: kText, merge: mSet},
		{name: "height", kind: kInt, merge: mSet},
		{name: "payout_id", kind: kUUID, merge: mSet},
		{name: "note", kind: kLong, merge: mSet},
		{name: "at", kind: kTime, merge: mSet},
	}, indexes: []index{{"account", []string{"network", "account_id", "position"}}}},
	{name: TPayouts, cols: []column{
		{name: "network", kind: kText}, {name: "payout_id", kind: kUUID},
		{name: "status", kind: kText, merge: mNonEmpty}, // planned, signed, sent, confirmed, failed, halted, conflicted, corrected
		{name: "total_sat", kind: kInt, merge: mNonZero},
		{name: "items", kind: kInt, merge: mNonZero},
		// The payout's transaction and its fee: signed (PayoutSigned) or
		// sent; both cleared when a signed transaction is recorded dead
		// (PayoutTxDead: planned again). Every event that sets them puts
		// tx_set (shape 3; before it, rows only ever gained a txid).
		{name: "txid", kind: kText, merge: mSetIf, ifCol: "tx_set"},
		{name: "fee_sat", kind: kInt, merge: mSetIf, ifCol: "tx_set"},
		{name: "reason", kind: kLong, merge: mNonEmpty},
		{name: "confirmations", kind: kInt, merge: mMax},
		{name: "planned_at", kind: kTime, merge: mCoalesce},
		{name: "sent_at", kind: kTime, merge: mCoalesce},
		{name: "confirmed_at", kind: kTime, merge: mCoalesce},
		{name: "failed_at", kind: kTime, merge: mCoalesce}, // the amounts returned: failed, conflicted or corrected
		{name: "halted_at", kind: kTime, merge: mCoalesce},
		// Shape 3: signed payouts. NULL, 0 and '' in payouts of earlier
		// releases (sendmany, no anchor) and in rows migrated from shape 2.
		{name: "tx_set", kind: kText, merge: mNonEmpty, added: 3},      // 'yes' once an event set txid and fee_sat
		{name: "attempts", kind: kInt, merge: mMax, added: 3},          // signed transactions so far (PayoutSigned.Attempt)
		{name: "pool_id", kind: kUUID, merge: mCoalesce, added: 3},     // the installation that planned it
		{name: "anchor_size", kind: kInt, merge: mNonZero, added: 3},   // the log head its transaction carries: events 1..size,
		{name: "anchor_root", kind: kText, merge: mNonEmpty, added: 3}, // their RFC 6962 Merkle root (hex),
		{name: "anchor_hash", kind: kText, merge: mNonEmpty, added: 3}, // the chain hash of event size (hex)
		{name: "changed_at", kind: kTime, merge: mMax, added: 3},       // its latest event (signed and dead transactions included)
	}, indexes: []index{{"planned", []string{"network", "planned_at"}}}},
	{name: TPayoutItems, insertOnly: true, cols: []column{
		{name: "payout_id", kind: kUUID}, {name: "miner_id", kind: kUUID},
		{name: "network", kind: kText, merge: mSet},
		{name: "address", kind: kText, merge: mSet},
		{name: "amount_sat", kind: kInt, merge: mSet},
	}, indexes: []index{{"miner", []string{"network", "miner_id"}}}},
	// Shape 3: every signed transaction of a payout (PayoutSigned), and
	// whether it was recorded dead (PayoutTxDead).
	{name: TPayoutTxs, added: 3, cols: []column{
		{name: "payout_id", kind: kUUID}, {name: "txid", kind: kText},
		{name: "network", kind: kText, merge: mNonEmpty},
		{name: "attempt", kind: kInt, merge: mNonZero},
		{name: "fee_sat", kind: kInt, merge: mNonZero},
		{name: "inputs", kind: kInt, merge: mNonZero},
		{name: "signed_at", kind: kTime, merge: mCoalesce},
		{name: "dead_at", kind: kTime, merge: mCoalesce},
		{name: "spent_input", kind: kText, merge: mNonEmpty},
		{name: "dead_reason", kind: kLong, merge: mNonEmpty},
	}},
	// Shape 3: what each recipient gets on the chain in one signed
	// transaction: its item less its share of the fee (PayoutSigned.Sends).
	{name: TPayoutSends, added: 3, insertOnly: true, cols: []column{
		{name: "payout_id", kind: kUUID}, {name: "txid", kind: kText}, {name: "miner_id", kind: kUUID},
		{name: "network", kind: kText, merge: mSet},
		{name: "address", kind: kText, merge: mSet},
		{name: "amount_sat", kind: kInt, merge: mSet},
	}},
	{name: TPool, cols: []column{
		{name: "network", kind: kText},
		{name: "blocks_found", kind: kInt, merge: mAdd},
		{name: "blocks_matured", kind: kInt, merge: mAdd},
		{name: "blocks_orphaned", kind: kInt, merge: mAdd},
		{name: "reward_sat", kind: kInt, merge: mAdd},
		{name: "credited_sat", kind: kInt, merge: mAdd},
		{name: "reversed_sat", kind: kInt, merge: mAdd},
		{name: "fee_sat", kind: kInt, merge: mAdd},
		{name: "fee_reversed_sat", kind: kInt, merge: mAdd},
		{name: "paid_sat", kind: kInt, merge: mAdd},
		{name: "payouts", kind: kInt, merge: mAdd},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
		{name: "payouts_state", kind: kText, merge: mNonEmpty}, // '' never changed, 'paused', 'running'
		{name: "payouts_reason", kind: kLong, merge: mSetIf, ifCol: "payouts_state"},
		{name: "last_block_at", kind: kTime, merge: mMax},
		{name: "last_event_at", kind: kTime, merge: mMax},
		// Shape 2: the crediting policy in force (PoolPolicySet), empty
		// rounds and the carry account (events.CarryAccountID: owed to
		// miners, never the pool's fee, never a miner).
		{name: "policy_scheme", kind: kText, merge: mNonEmpty, added: 2}, // '' before the first PoolPolicySet
		{name: "fee_bps", kind: kInt, merge: mSetIf, ifCol: "policy_scheme", added: 2},
		{name: "pplns_window", kind: kInt, merge: mSetIf, ifCol: "policy_scheme", added: 2},
		{name: "policy_at", kind: kTime, merge: mSetIf, ifCol: "policy_scheme", added: 2},
		{name: "empty_rounds", kind: kInt, merge: mAdd, added: 2},
		{name: "empty_finder_sat", kind: kInt, merge: mAdd, added: 2}, // given to finders (also in credited_sat)
		{name: "carried_sat", kind: kInt, merge: mAdd, added: 2},      // the carry account's balance
		{name: "late_shares", kind: kInt, merge: mAdd, added: 2},
	}},
	// Shape 4: the pool's counters that have a label, folded like the
	// pool row's: counter 'rejected' by label = the rejection reason
	// (events.Reject…). The website's /metrics reads them with one indexed
	// query per network; a read model migrated from an earlier shape
	// counts from the migration on, until a rebuild fills it from the log.
	{name: TPoolCounters, added: 4, cols: []column{
		{name: "network", kind: kText}, {name: "counter", kind: kText}, {name: "label", kind: kText},
		{name: "total", kind: kInt, merge: mAdd},
	}},
	// Shape 4: accepted shares per UTC hour (hour: Unix seconds / 3600),
	// of the pool and of each miner: hash rates and their charts.
	{name: TPoolHours, added: 4, cols: []column{
		{name: "network", kind: kText}, {name: "hour", kind: kInt},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
	}},
	{name: TMinerHours, added: 4, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID}, {name: "hour", kind: kInt},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
		{name: "rejected", kind: kInt, merge: mAdd},
	}},
	// Shape 4: accepted shares by the height they were mined on
	// (PrevHeight + 1), of the pool and of each miner: a block's effort
	// (the work of the heights after the previous pool block), and the
	// estimate of a pending block's credits (its round by height).
	{name: TPoolHeights, added: 4, cols: []column{
		{name: "network", kind: kText}, {name: "height", kind: kInt},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
	}},
	{name: TMinerHeights, added: 4, cols: []column{
		{name: "network", kind: kText}, {name: "miner_id", kind: kUUID}, {name: "height", kind: kInt},
		{name: "shares", kind: kInt, merge: mAdd},
		{name: "difficulty", kind: kInt, merge: mAdd},
	}},
	// Shape 3: the installation's id (PoolInstalled, written once by
	// migrate; the first one is the pool's). Not per network.
	{name: TInstallation, added: 3, insertOnly: true, cols: []column{
		{name: "pool_id", kind: kUUID},
		{name: "position", kind: kInt, merge: mSet},
		{name: "installed_at", kind: kTime, merge: mSet},
	}},
}

// checkpointTable is the projection's position, written in the same
// transaction as the rows it covers.
var checkpointTable = &table{name: TCheckpoints, cols: []column{
	{name: "name", kind: kText},
	{name: "position", kind: kInt, merge: mSet},
	{name: "updated_at", kind: kTime, merge: mSet},
}}
