package projections

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
)

// The read side: view rows as the website and API use them, and Reader, the
// SQL implementation over any of the three dialects. Reader only runs
// SELECTs, so it works with the frontend's read-only role.

// ErrNotFound is returned for a miner, block or payout the read model does not hold.
var ErrNotFound = errors.New("projections: not found")

// Miner is a miner's summary row.
type Miner struct {
	Network      string
	MinerID      uuid.UUID
	Address      string
	Enabled      bool
	StateReason  string
	Target       string
	RegisteredAt time.Time
	CreditedSat  int64
	ReversedSat  int64
	PaidSat      int64 // planned payouts that did not fail
	BalanceSat   int64 // credited − reversed − paid
	Shares       int64
	Difficulty   int64
	Rejected     int64
	LastShareAt  time.Time
}

// Worker is one worker of a miner.
type Worker struct {
	Worker      string
	FirstSeen   time.Time
	LastSeen    time.Time
	LastShareAt time.Time
	Shares      int64
	Difficulty  int64
	Rejected    int64
	HashrateHPS int64 // the last rate the wallet reported with a share
}

// DayCount is one UTC day of shares.
type DayCount struct {
	Day         time.Time
	Shares      int64
	Difficulty  int64
	Rejected    int64
	Blocks      int64 // pool days only
	RewardSat   int64 // pool days only
	CreditedSat int64 // miner days only
}

// Rejection counts rejected solutions of one worker for one reason.
type Rejection struct {
	Worker     string
	Reason     string
	Count      int64
	LastAt     time.Time
	LastDetail string
}

// Block is a pool block.
type Block struct {
	Network         string
	Hash            string
	Height          int64
	FinderMinerID   uuid.UUID
	FinderAddress   string
	RewardSat       int64
	Status          string // pending, matured, orphaned
	Confirmations   int64
	BlockTime       time.Time
	DiscoveredAt    time.Time
	MaturedAt       time.Time
	OrphanedAt      time.Time
	ReplacedBy      string
	Scheme          string
	RoundShares     int64
	RoundDifficulty int64
	RoundMiners     int64
	CreditedSat     int64
	FeeSat          int64
	ReversedSat     int64
	// RoundRule is how the block's round is made: events.RoundRulePosition
	// ('', closed when the block was found, by the order shares were
	// stored) or events.RoundRuleHeight ("height", closed at maturity, by
	// the height each share was mined on).
	RoundRule string
	// RoundClosedAt is when the round was decided (zero: a round by height
	// still open; for rounds by position read by a read model migrated from
	// an earlier release, zero too: they were closed at discovery).
	RoundClosedAt time.Time
	// RoundFromHeight: rule height, the previous pool block's height; the
	// round counts shares mined on the heights after it up to Height (PROP).
	RoundFromHeight int64
	// CarriedInSat is what the round took from the carry account.
	CarriedInSat int64
	// LateShares counts shares of earlier heights counted in this round
	// because they were stored after their own round had been credited;
	// LateCountedLater the shares of this round's heights counted so in a
	// later round.
	LateShares       int64
	LateCountedLater int64
	// EmptyOutcome is "" for a round with shares, else events.EmptyRound*:
	// "finder" (EmptySat went to the finder) or "carried" (to the carry
	// account, for the next round with shares).
	EmptyOutcome string
	EmptySat     int64
	// FeeBps is the fee credited at maturity; FeeKnown says whether it was
	// recorded (matured blocks; not those migrated from an earlier release).
	FeeBps   int64
	FeeKnown bool
}

// RoundOpen reports whether the block's round is still to be decided: a
// pending block whose round is made by height (at maturity).
func (b Block) RoundOpen() bool {
	return b.RoundRule == events.RoundRuleHeight && b.RoundClosedAt.IsZero() && b.Status == "pending"
}

// RoundByHeight reports whether the round is made by the shares' heights.
func (b Block) RoundByHeight() bool { return b.RoundRule == events.RoundRuleHeight }

// Credit is a miner's part of one pool block's round.
type Credit struct {
	BlockHash       string
	Height          int64
	RoundID         uuid.UUID
	RewardSat       int64
	FeeSat          int64
	RoundShares     int64
	RoundDifficulty int64
	MinerShares     int64
	MinerDifficulty int64
	AmountSat       int64
	ReversedSat     int64
	CreditedAt      time.Time // zero until the block matured
	BlockStatus     string
}

// SharePercent is the miner's part of the round, e.g. "12.34%".
func (c Credit) SharePercent() string {
	return SharePercent(c.MinerDifficulty, c.RoundDifficulty, c.MinerShares, c.RoundShares)
}

// LedgerEntry is one change of a miner's balance.
type LedgerEntry struct {
	EventID  uuid.UUID
	Position int64
	// Kind: credit, reversal, payout, and the payouts whose amounts came
	// back: payout_failed, payout_conflicted, payout_corrected (the Note
	// says why); fee, fee_reversal for the pool account; carry_in,
	// carry_out, carry_reversal for the carry account.
	Kind      string
	AmountSat int64 // signed: positive adds to the balance
	BlockHash string
	Height    int64
	PayoutID  uuid.UUID
	Note      string
	At        time.Time
}

// Payout is a payout transaction.
type Payout struct {
	Network  string
	PayoutID uuid.UUID
	// Status: planned (also again after its signed transaction was
	// recorded dead), signed (its transaction is signed and recorded, not
	// known to be in the chain yet: not settled), sent, confirmed,
	// halted; and, the amounts back in the balances: failed, conflicted,
	// corrected (it was recorded as sent in a transaction that does not
	// pay it).
	Status    string
	TotalSat  int64
	ItemCount int64
	// TxID and FeeSat are the payout's transaction: the signed one while
	// signed, the sent one after; empty while planned. A conflicted or
	// corrected payout keeps the transaction it was recorded in.
	TxID          string
	FeeSat        int64
	Reason        string
	Confirmations int64
	PlannedAt     time.Time
	SentAt        time.Time
	ConfirmedAt   time.Time
	FailedAt      time.Time // when the amounts came back (failed, conflicted, corrected)
	HaltedAt      time.Time
	// Attempts counts its signed transactions (0: a payout of a release
	// before signed payouts, or not signed yet).
	Attempts int64
	// PoolID is the installation that planned it; Anchor the event log's
	// head its transaction carries (nil for payouts of earlier releases).
	PoolID uuid.UUID
	Anchor *LogAnchor
	// ChangedAt is when its latest event happened (zero in rows migrated
	// from a read model of shape 2 until their next event).
	ChangedAt time.Time
	Items     []PayoutItem // filled by Reader.Payout only
	// Transactions are its signed transactions, the first first, dead
	// ones included (filled by Reader.Payout only).
	Transactions []PayoutTx
	// AmountSat is the miner's item when listed by MinerPayouts.
	AmountSat int64
}

// Settled reports a payout whose outcome is known.
func (p Payout) Settled() bool {
	switch p.Status {
	case "sent", "confirmed", "failed", "conflicted", "corrected":
		return true
	}
	return false
}

// Returned reports a payout whose amounts went back to the balances.
func (p Payout) Returned() bool {
	return p.Status == "failed" || p.Status == "conflicted" || p.Status == "corrected"
}

// DeadTransactions are the payout's signed transactions recorded dead.
func (p Payout) DeadTransactions() []PayoutTx {
	var out []PayoutTx
	for _, t := range p.Transactions {
		if t.Dead() {
			out = append(out, t)
		}
	}
	return out
}

// PayoutItem is one recipient of a payout.
type PayoutItem struct {
	MinerID   uuid.UUID
	Address   string
	AmountSat int64
	// SentSat is what the recipient gets on the chain in the payout's
	// transaction: AmountSat less its share of the fee (0: unknown, a
	// payout not signed, or of a release before signed payouts).
	SentSat int64
}

// PayoutTx is one signed transaction of a payout.
type PayoutTx struct {
	TxID     string
	Attempt  int64
	FeeSat   int64
	Inputs   int64
	SignedAt time.Time
	// DeadAt is when it was recorded dead (zero: not dead): SpentInput
	// ("txid:vout") was spent by another transaction buried deep enough.
	DeadAt     time.Time
	SpentInput string
	DeadReason string
}

// Dead reports a transaction recorded dead: it can never confirm.
func (t PayoutTx) Dead() bool { return !t.DeadAt.IsZero() }

// LogAnchor is a head of the event log: events 1..Size, their Merkle
// root and the chain hash of event Size (events.LogAnchor).
type LogAnchor struct {
	Size uint64
	Root string
	Hash string
}

// Anchor is the latest log head carried by a payout's transaction that
// was sent (or confirmed): the pool's latest public anchor on a network.
type Anchor struct {
	LogAnchor
	PayoutID      uuid.UUID
	TxID          string
	Status        string // sent or confirmed
	Confirmations int64
	PlannedAt     time.Time
	SentAt        time.Time
}

// Pool is the pool's totals on a network.
type Pool struct {
	Network        string
	Height         int64 // highest chain block recorded
	Miners         int64 // miners ever seen
	BlocksFound    int64
	BlocksMatured  int64
	BlocksOrphaned int64
	RewardSat      int64
	CreditedSat    int64
	ReversedSat    int64
	FeeSat         int64
	FeeReversedSat int64
	PaidSat        int64
	Payouts        int64
	Shares         int64
	Difficulty     int64
	Rejected       int64
	PayoutsPaused  bool
	PayoutsReason  string
	LastBlockAt    time.Time
	LastEventAt    time.Time
	// The crediting policy in force (PoolPolicySet); PolicyScheme is ""
	// before the backend recorded one (then FeeBps is 0 and unknown).
	PolicyScheme string
	FeeBps       int64
	PPLNSWindow  int64
	PolicyAt     time.Time
	// EmptyRounds counts matured blocks whose round had no share;
	// EmptyFinderSat is what they gave to their finders (in CreditedSat).
	EmptyRounds    int64
	EmptyFinderSat int64
	// CarriedSat is the carry account's balance: the miners' part of
	// empty rounds without a known finder, owed to the next round with
	// shares. It is neither a miner's balance nor the pool's fee.
	CarriedSat int64
	// LateShares counts shares counted in a later round than their height's.
	LateShares int64
	// PoolID is the installation's id (PoolInstalled; nil before it, or in
	// a read model not rebuilt since it was migrated to shape 3 while the
	// event was older); InstalledAt when it was written.
	PoolID      uuid.UUID
	InstalledAt time.Time

	// The pool blocks by where they stand now (from the blocks table):
	// BlocksFound = BlocksPending + blocks matured and still on the chain
	// + BlocksOrphaned, and RewardSat (every block found, at discovery)
	// = PendingRewardSat + MaturedRewardSat + OrphanedRewardSat for a clean
	// log. Only matured blocks were credited: CreditedSat + FeeSat +
	// carried out − carried in = MaturedRewardSat +
	// OrphanedMaturedRewardSat (blocks orphaned after they matured, whose
	// credits were reversed: ReversedSat, FeeReversedSat).
	BlocksPending            int64
	PendingRewardSat         int64 // found, not yet matured nor orphaned
	MaturedRewardSat         int64 // matured and still on the chain
	OrphanedRewardSat        int64 // orphaned, before or after maturity
	OrphanedMaturedRewardSat int64 // the part of OrphanedRewardSat that had matured
}

// MinersBalanceSat is what the miners are owed: credited − reversed −
// paid (the fee account is never paid out, the carry account is apart).
func (p Pool) MinersBalanceSat() int64 { return p.CreditedSat - p.ReversedSat - p.PaidSat }

// FeeBalanceSat is the pool-fee account's balance: the pool's own money.
func (p Pool) FeeBalanceSat() int64 { return p.FeeSat - p.FeeReversedSat }

// HasPoolID reports whether the installation's id is known (PoolInstalled).
func (p Pool) HasPoolID() bool { return p.PoolID != uuid.Nil }

// PolicyKnown reports whether a PoolPolicySet was folded.
func (p Pool) PolicyKnown() bool { return p.PolicyScheme != "" }

// TopMiner is a miner ranked by shares in a window.
type TopMiner struct {
	Address    string
	Shares     int64
	Difficulty int64
}

// WindowStats are Purepool's statistics over a time window.
type WindowStats struct {
	AllBlocks     int64 // chain blocks recorded in the window
	PoolBlocks    int64 // pool blocks discovered in the window
	PoolRewardSat int64 // their rewards
	ActiveMiners  int64 // miners with shares in the window's days
}

// Reader reads the read model.
type Reader struct {
	db *sql.DB
	d  Dialect
}

// NewReader reads through db (which may be a read-only connection).
func NewReader(db *sql.DB, d Dialect) *Reader { return &Reader{db: db, d: d} }

func (r *Reader) t(name string) string {
	if r.d == Postgres {
		return PostgresSchema + "." + name
	}
	return name
}

func (r *Reader) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := r.db.QueryContext(ctx, r.d.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("projections: read: %w", err)
	}
	return rows, nil
}

// nullTime scans a nullable timestamp from any driver (SQLite hands back text).
type nullTime struct{ t *time.Time }

func (n nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.t = time.Time{}
	case time.Time:
		*n.t = x.UTC()
	case string:
		return n.parse(x)
	case []byte:
		return n.parse(string(x))
	default:
		return fmt.Errorf("projections: cannot scan %T as time", v)
	}
	return nil
}

func (n nullTime) parse(s string) error {
	for _, layout := range []string{sqliteTime, time.DateOnly, time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			*n.t = t.UTC()
			return nil
		}
	}
	return fmt.Errorf("projections: cannot parse time %q", s)
}

// nullUUID scans a nullable uuid from any driver.
type nullUUID struct{ u *uuid.UUID }

func (n nullUUID) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*n.u = uuid.Nil
		return nil
	case [16]byte:
		*n.u = x
		return nil
	}
	return n.u.Scan(v)
}

const minerCols = "network, miner_id, address, state, state_reason, target, registered_at, credited_sat, reversed_sat, paid_sat, balance_sat, shares, difficulty, rejected, last_share_at"

func scanMiner(s interface{ Scan(...any) error }) (Miner, error) {
	var m Miner
	var state string
	err := s.Scan(&m.Network, nullUUID{&m.MinerID}, &m.Address, &state, &m.StateReason, &m.Target, nullTime{&m.RegisteredAt},
		&m.CreditedSat, &m.ReversedSat, &m.PaidSat, &m.BalanceSat, &m.Shares, &m.Difficulty, &m.Rejected, nullTime{&m.LastShareAt})
	m.Enabled = state != "disabled"
	return m, err
}

// Miner is the miner behind an address.
func (r *Reader) Miner(ctx context.Context, network, address string) (Miner, error) {
	row := r.db.QueryRowContext(ctx, r.d.q("SELECT "+minerCols+" FROM "+r.t(TMiners)+" WHERE network = ? AND address = ?"), network, address)
	m, err := scanMiner(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Miner{}, fmt.Errorf("%w: miner %s on %s", ErrNotFound, address, network)
	}
	if err != nil {
		return Miner{}, fmt.Errorf("projections: read miner: %w", err)
	}
	return m, nil
}

// Workers lists a miner's workers seen since the given time, most recent first.
func (r *Reader) Workers(ctx context.Context, network string, minerID uuid.UUID, since time.Time) ([]Worker, error) {
	rows, err := r.query(ctx, "SELECT worker, first_seen, last_seen, last_share_at, shares, difficulty, rejected, hashrate_hps FROM "+r.t(TWorkers)+
		" WHERE network = ? AND miner_id = ? AND last_seen >= ? ORDER BY last_seen DESC, worker", network, r.d.Arg(minerID), r.d.Arg(since))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Worker, error) {
		var w Worker
		err := s.Scan(&w.Worker, nullTime{&w.FirstSeen}, nullTime{&w.LastSeen}, nullTime{&w.LastShareAt}, &w.Shares, &w.Difficulty, &w.Rejected, &w.HashrateHPS)
		return w, err
	})
}

func collect[T any](rows *sql.Rows, scan func(*sql.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("projections: read: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("projections: read: %w", err)
	}
	return out, nil
}

// MinerDays lists a miner's shares per day in [from, to], oldest first
// (days without shares are absent).
func (r *Reader) MinerDays(ctx context.Context, network string, minerID uuid.UUID, from, to time.Time) ([]DayCount, error) {
	rows, err := r.query(ctx, "SELECT "+r.d.ident("day")+", shares, difficulty, rejected, credited_sat FROM "+r.t(TMinerDays)+
		" WHERE network = ? AND miner_id = ? AND "+r.d.ident("day")+" >= ? AND "+r.d.ident("day")+" <= ? ORDER BY "+r.d.ident("day"),
		network, r.d.Arg(minerID), r.d.DayArg(from), r.d.DayArg(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (DayCount, error) {
		var d DayCount
		err := s.Scan(nullTime{&d.Day}, &d.Shares, &d.Difficulty, &d.Rejected, &d.CreditedSat)
		return d, err
	})
}

// PoolDays lists the pool's shares and blocks per day in [from, to], oldest first.
func (r *Reader) PoolDays(ctx context.Context, network string, from, to time.Time) ([]DayCount, error) {
	rows, err := r.query(ctx, "SELECT "+r.d.ident("day")+", shares, difficulty, rejected, blocks_found, reward_sat FROM "+r.t(TPoolDays)+
		" WHERE network = ? AND "+r.d.ident("day")+" >= ? AND "+r.d.ident("day")+" <= ? ORDER BY "+r.d.ident("day"),
		network, r.d.DayArg(from), r.d.DayArg(to))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (DayCount, error) {
		var d DayCount
		err := s.Scan(nullTime{&d.Day}, &d.Shares, &d.Difficulty, &d.Rejected, &d.Blocks, &d.RewardSat)
		return d, err
	})
}

// Rejections sums a miner's rejected solutions per worker and reason since a day.
func (r *Reader) Rejections(ctx context.Context, network string, minerID uuid.UUID, sinceDay time.Time) ([]Rejection, error) {
	rows, err := r.query(ctx, "SELECT worker, reason, SUM("+r.d.ident("count")+"), MAX(last_at), MAX(last_detail) FROM "+r.t(TRejections)+
		" WHERE network = ? AND miner_id = ? AND "+r.d.ident("day")+" >= ? GROUP BY worker, reason ORDER BY worker, reason",
		network, r.d.Arg(minerID), r.d.DayArg(sinceDay))
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Rejection, error) {
		var j Rejection
		err := s.Scan(&j.Worker, &j.Reason, &j.Count, nullTime{&j.LastAt}, &j.LastDetail)
		return j, err
	})
}

const blockCols = "b.network, b.hash, b.height, b.finder_miner_id, COALESCE(m.address, ''), b.reward_sat, b.status, b.confirmations, b.block_time, " +
	"b.discovered_at, b.matured_at, b.orphaned_at, b.replaced_by, b.scheme, b.round_shares, b.round_difficulty, b.round_miners, b.credited_sat, b.fee_sat, b.reversed_sat, " +
	"b.round_rule, b.round_closed_at, b.round_from_height, b.carried_in_sat, b.late_shares, b.late_counted_later, b.empty_outcome, b.empty_sat, b.fee_bps, b.fee_set"

func scanBlock(s interface{ Scan(...any) error }) (Block, error) {
	var b Block
	var feeSet string
	err := s.Scan(&b.Network, &b.Hash, &b.Height, nullUUID{&b.FinderMinerID}, &b.FinderAddress, &b.RewardSat, &b.Status, &b.Confirmations,
		nullTime{&b.BlockTime}, nullTime{&b.DiscoveredAt}, nullTime{&b.MaturedAt}, nullTime{&b.OrphanedAt}, &b.ReplacedBy, &b.Scheme,
		&b.RoundShares, &b.RoundDifficulty, &b.RoundMiners, &b.CreditedSat, &b.FeeSat, &b.ReversedSat,
		&b.RoundRule, nullTime{&b.RoundClosedAt}, &b.RoundFromHeight, &b.CarriedInSat, &b.LateShares, &b.LateCountedLater,
		&b.EmptyOutcome, &b.EmptySat, &b.FeeBps, &feeSet)
	b.FeeKnown = feeSet != ""
	return b, err
}

func (r *Reader) blockFrom() string {
	return " FROM " + r.t(TBlocks) + " b LEFT JOIN " + r.t(TMiners) + " m ON m.network = b.network AND m.miner_id = b.finder_miner_id"
}

// Blocks lists pool blocks, highest first; offset and limit page them.
func (r *Reader) Blocks(ctx context.Context, network string, offset, limit int) ([]Block, error) {
	rows, err := r.query(ctx, "SELECT "+blockCols+r.blockFrom()+" WHERE b.network = ? AND b.discovered_at IS NOT NULL ORDER BY b.height DESC, b.hash LIMIT ? OFFSET ?",
		network, limit, offset)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Block, error) { return scanBlock(s) })
}

// BlocksSince lists pool blocks discovered after t, oldest first (live updates).
func (r *Reader) BlocksSince(ctx context.Context, network string, t time.Time, limit int) ([]Block, error) {
	rows, err := r.query(ctx, "SELECT "+blockCols+r.blockFrom()+" WHERE b.network = ? AND b.discovered_at > ? ORDER BY b.discovered_at, b.hash LIMIT ?",
		network, r.d.Arg(t), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Block, error) { return scanBlock(s) })
}

// Block is one pool block by hash.
func (r *Reader) Block(ctx context.Context, network, hash string) (Block, error) {
	b, err := scanBlock(r.db.QueryRowContext(ctx, r.d.q("SELECT "+blockCols+r.blockFrom()+" WHERE b.network = ? AND b.hash = ?"), network, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Block{}, fmt.Errorf("%w: block %s on %s", ErrNotFound, hash, network)
	}
	if err != nil {
		return Block{}, fmt.Errorf("projections: read block: %w", err)
	}
	return b, nil
}

// Credits lists a miner's round parts, highest block first.
func (r *Reader) Credits(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]Credit, error) {
	rows, err := r.query(ctx, "SELECT c.block_hash, c.height, c.round_id, c.reward_sat, c.fee_sat, c.round_shares, c.round_difficulty, c.shares, c.difficulty, "+
		"c.amount_sat, c.reversed_sat, c.credited_at, COALESCE(b.status, '') FROM "+r.t(TRoundMiners)+" c LEFT JOIN "+r.t(TBlocks)+
		" b ON b.network = c.network AND b.hash = c.block_hash WHERE c.network = ? AND c.miner_id = ? ORDER BY c.height DESC, c.block_hash LIMIT ? OFFSET ?",
		network, r.d.Arg(minerID), limit, offset)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Credit, error) {
		var c Credit
		err := s.Scan(&c.BlockHash, &c.Height, nullUUID{&c.RoundID}, &c.RewardSat, &c.FeeSat, &c.RoundShares, &c.RoundDifficulty, &c.MinerShares,
			&c.MinerDifficulty, &c.AmountSat, &c.ReversedSat, nullTime{&c.CreditedAt}, &c.BlockStatus)
		return c, err
	})
}

// Ledger lists a miner's balance changes, newest first.
func (r *Reader) Ledger(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]LedgerEntry, error) {
	rows, err := r.query(ctx, "SELECT event_id, "+r.d.ident("position")+", "+r.d.ident("kind")+", amount_sat, block_hash, height, payout_id, note, "+r.d.ident("at")+
		" FROM "+r.t(TLedger)+" WHERE network = ? AND account_id = ? ORDER BY "+r.d.ident("position")+" DESC LIMIT ? OFFSET ?",
		network, r.d.Arg(minerID), limit, offset)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (LedgerEntry, error) {
		var e LedgerEntry
		err := s.Scan(nullUUID{&e.EventID}, &e.Position, &e.Kind, &e.AmountSat, &e.BlockHash, &e.Height, nullUUID{&e.PayoutID}, &e.Note, nullTime{&e.At})
		return e, err
	})
}

const payoutCols = "p.network, p.payout_id, p." + "status" + ", p.total_sat, p.items, p.txid, p.fee_sat, p.reason, p.confirmations, p.planned_at, p.sent_at, p.confirmed_at, p.failed_at, p.halted_at, " +
	"p.attempts, p.pool_id, p.anchor_size, p.anchor_root, p.anchor_hash, p.changed_at"

func scanPayout(s interface{ Scan(...any) error }, extra ...any) (Payout, error) {
	var p Payout
	var a LogAnchor
	var size int64
	dst := []any{&p.Network, nullUUID{&p.PayoutID}, &p.Status, &p.TotalSat, &p.ItemCount, &p.TxID, &p.FeeSat, &p.Reason, &p.Confirmations,
		nullTime{&p.PlannedAt}, nullTime{&p.SentAt}, nullTime{&p.ConfirmedAt}, nullTime{&p.FailedAt}, nullTime{&p.HaltedAt},
		&p.Attempts, nullUUID{&p.PoolID}, &size, &a.Root, &a.Hash, nullTime{&p.ChangedAt}}
	if len(extra) > 0 {
		dst = append(dst, &p.AmountSat)
	}
	err := s.Scan(dst...)
	if size > 0 {
		a.Size = uint64(size)
		p.Anchor = &a
	}
	return p, err
}

func (r *Reader) payoutCols() string {
	return strings.Replace(payoutCols, "p.status", "p."+r.d.ident("status"), 1)
}

// Payouts lists payouts, newest first.
func (r *Reader) Payouts(ctx context.Context, network string, offset, limit int) ([]Payout, error) {
	rows, err := r.query(ctx, "SELECT "+r.payoutCols()+" FROM "+r.t(TPayouts)+" p WHERE p.network = ? ORDER BY p.planned_at DESC, p.payout_id LIMIT ? OFFSET ?",
		network, limit, offset)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Payout, error) { return scanPayout(s) })
}

// PayoutsSince lists payouts changed after t (planned, signed, a signed
// transaction dead, sent, confirmed, failed, halted, conflicted or
// corrected), oldest change first (live updates).
func (r *Reader) PayoutsSince(ctx context.Context, network string, t time.Time, limit int) ([]Payout, error) {
	// The latest of the times set: PostgreSQL's GREATEST skips NULLs;
	// MariaDB's GREATEST and SQLite's MAX return NULL for any NULL, so the
	// unset ones stand in as planned_at (never NULL, never the latest).
	// changed_at (shape 3) also moves with a signed or dead transaction;
	// rows migrated from shape 2 have it NULL until their next event.
	last := "GREATEST(p.planned_at, p.sent_at, p.confirmed_at, p.failed_at, p.halted_at, p.changed_at)"
	if r.d != Postgres {
		fn := "GREATEST"
		if r.d == SQLite {
			fn = "MAX"
		}
		last = fn + "(p.planned_at, COALESCE(p.sent_at, p.planned_at), COALESCE(p.confirmed_at, p.planned_at), " +
			"COALESCE(p.failed_at, p.planned_at), COALESCE(p.halted_at, p.planned_at), COALESCE(p.changed_at, p.planned_at))"
	}
	rows, err := r.query(ctx, "SELECT "+r.payoutCols()+" FROM "+r.t(TPayouts)+" p WHERE p.network = ? AND "+last+" > ? ORDER BY "+last+", p.payout_id LIMIT ?",
		network, r.d.Arg(t), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Payout, error) { return scanPayout(s) })
}

// Payout is one payout with its items.
func (r *Reader) Payout(ctx context.Context, network string, id uuid.UUID) (Payout, error) {
	p, err := scanPayout(r.db.QueryRowContext(ctx, r.d.q("SELECT "+r.payoutCols()+" FROM "+r.t(TPayouts)+" p WHERE p.network = ? AND p.payout_id = ?"), network, r.d.Arg(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return Payout{}, fmt.Errorf("%w: payout %s on %s", ErrNotFound, id, network)
	}
	if err != nil {
		return Payout{}, fmt.Errorf("projections: read payout: %w", err)
	}
	// Each item with what it gets on the chain in the payout's current
	// transaction (none while planned, or for a payout sent by sendmany).
	rows, err := r.query(ctx, "SELECT i.miner_id, i.address, i.amount_sat, COALESCE(s.amount_sat, 0) FROM "+r.t(TPayoutItems)+" i LEFT JOIN "+r.t(TPayoutSends)+
		" s ON s.payout_id = i.payout_id AND s.miner_id = i.miner_id AND s.txid = ? WHERE i.payout_id = ? ORDER BY i.address", p.TxID, r.d.Arg(id))
	if err != nil {
		return Payout{}, err
	}
	p.Items, err = collect(rows, func(s *sql.Rows) (PayoutItem, error) {
		var it PayoutItem
		err := s.Scan(nullUUID{&it.MinerID}, &it.Address, &it.AmountSat, &it.SentSat)
		return it, err
	})
	if err != nil {
		return Payout{}, err
	}
	rows, err = r.query(ctx, "SELECT txid, attempt, fee_sat, inputs, signed_at, dead_at, spent_input, dead_reason FROM "+r.t(TPayoutTxs)+
		" WHERE payout_id = ? ORDER BY CASE WHEN attempt = 0 THEN 1 ELSE 0 END, attempt, txid", r.d.Arg(id))
	if err != nil {
		return Payout{}, err
	}
	p.Transactions, err = collect(rows, func(s *sql.Rows) (PayoutTx, error) {
		var t PayoutTx
		err := s.Scan(&t.TxID, &t.Attempt, &t.FeeSat, &t.Inputs, nullTime{&t.SignedAt}, nullTime{&t.DeadAt}, &t.SpentInput, &t.DeadReason)
		return t, err
	})
	return p, err
}

// LatestAnchor is the pool's latest public anchor on a network: the
// largest log head carried by a payout transaction recorded as sent or
// confirmed (the one the auditor calls the latest anchored head); found
// is false before the first.
func (r *Reader) LatestAnchor(ctx context.Context, network string) (a Anchor, found bool, err error) {
	var size int64
	err = r.db.QueryRowContext(ctx, r.d.q("SELECT anchor_size, anchor_root, anchor_hash, payout_id, txid, "+r.d.ident("status")+", confirmations, planned_at, sent_at FROM "+
		r.t(TPayouts)+" WHERE network = ? AND anchor_size > 0 AND txid <> '' AND "+r.d.ident("status")+" IN ('sent', 'confirmed') "+
		"ORDER BY anchor_size DESC, planned_at DESC, payout_id LIMIT 1"), network).
		Scan(&size, &a.Root, &a.Hash, nullUUID{&a.PayoutID}, &a.TxID, &a.Status, &a.Confirmations, nullTime{&a.PlannedAt}, nullTime{&a.SentAt})
	if errors.Is(err, sql.ErrNoRows) {
		return Anchor{}, false, nil
	}
	if err != nil {
		return Anchor{}, false, fmt.Errorf("projections: read latest anchor: %w", err)
	}
	a.Size = uint64(size)
	return a, true, nil
}

// MinerPayouts lists the payouts that paid a miner, newest first, with the
// miner's amount in AmountSat.
func (r *Reader) MinerPayouts(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]Payout, error) {
	rows, err := r.query(ctx, "SELECT "+r.payoutCols()+", i.amount_sat FROM "+r.t(TPayoutItems)+" i JOIN "+r.t(TPayouts)+
		" p ON p.payout_id = i.payout_id AND p.network = i.network WHERE i.network = ? AND i.miner_id = ? ORDER BY p.planned_at DESC, p.payout_id LIMIT ? OFFSET ?",
		network, r.d.Arg(minerID), limit, offset)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (Payout, error) { return scanPayout(s, true) })
}

// Pool is the pool's totals; a network the read model has not seen reads as zeros.
func (r *Reader) Pool(ctx context.Context, network string) (Pool, error) {
	p := Pool{Network: network}
	var state string
	err := r.db.QueryRowContext(ctx, r.d.q("SELECT blocks_found, blocks_matured, blocks_orphaned, reward_sat, credited_sat, reversed_sat, fee_sat, fee_reversed_sat, "+
		"paid_sat, payouts, shares, difficulty, rejected, payouts_state, payouts_reason, last_block_at, last_event_at, "+
		"policy_scheme, fee_bps, pplns_window, policy_at, empty_rounds, empty_finder_sat, carried_sat, late_shares FROM "+r.t(TPool)+" WHERE network = ?"), network).
		Scan(&p.BlocksFound, &p.BlocksMatured, &p.BlocksOrphaned, &p.RewardSat, &p.CreditedSat, &p.ReversedSat, &p.FeeSat, &p.FeeReversedSat,
			&p.PaidSat, &p.Payouts, &p.Shares, &p.Difficulty, &p.Rejected, &state, &p.PayoutsReason, nullTime{&p.LastBlockAt}, nullTime{&p.LastEventAt},
			&p.PolicyScheme, &p.FeeBps, &p.PPLNSWindow, nullTime{&p.PolicyAt}, &p.EmptyRounds, &p.EmptyFinderSat, &p.CarriedSat, &p.LateShares)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Pool{}, fmt.Errorf("projections: read pool: %w", err)
	}
	p.PayoutsPaused = state == "paused"
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(MAX(height), 0) FROM "+r.t(TChain)+" WHERE network = ?"), network).Scan(&p.Height); err != nil {
		return Pool{}, fmt.Errorf("projections: read height: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT count(*) FROM "+r.t(TMiners)+" WHERE network = ? AND address <> ''"), network).Scan(&p.Miners); err != nil {
		return Pool{}, fmt.Errorf("projections: count miners: %w", err)
	}
	if err := r.poolRewards(ctx, &p); err != nil {
		return Pool{}, err
	}
	err = r.db.QueryRowContext(ctx, r.d.q("SELECT pool_id, installed_at FROM "+r.t(TInstallation)+" ORDER BY "+r.d.ident("position")+" LIMIT 1")).
		Scan(nullUUID{&p.PoolID}, nullTime{&p.InstalledAt})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Pool{}, fmt.Errorf("projections: read pool id: %w", err)
	}
	return p, nil
}

// poolRewards sums the pool blocks' rewards by status (a pool finds few
// blocks: the blocks table is small).
func (r *Reader) poolRewards(ctx context.Context, p *Pool) error {
	rows, err := r.query(ctx, "SELECT status, CASE WHEN matured_at IS NULL THEN 0 ELSE 1 END, count(*), COALESCE(SUM(reward_sat), 0) FROM "+r.t(TBlocks)+
		" WHERE network = ? GROUP BY status, CASE WHEN matured_at IS NULL THEN 0 ELSE 1 END", p.Network)
	if err != nil {
		return fmt.Errorf("projections: pool rewards: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status string
		var matured int
		var n, sum int64
		if err := rows.Scan(&status, &matured, &n, &sum); err != nil {
			return fmt.Errorf("projections: pool rewards: %w", err)
		}
		switch status {
		case "pending":
			p.BlocksPending += n
			p.PendingRewardSat += sum
		case "matured":
			p.MaturedRewardSat += sum
		case "orphaned":
			p.OrphanedRewardSat += sum
			if matured == 1 {
				p.OrphanedMaturedRewardSat += sum
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("projections: pool rewards: %w", err)
	}
	return nil
}

// TopMiners ranks enabled miners by accepted shares on the days since sinceDay.
func (r *Reader) TopMiners(ctx context.Context, network string, sinceDay time.Time, limit int) ([]TopMiner, error) {
	rows, err := r.query(ctx, "SELECT m.address, SUM(d.shares) AS s, SUM(d.difficulty) FROM "+r.t(TMinerDays)+" d JOIN "+r.t(TMiners)+
		" m ON m.network = d.network AND m.miner_id = d.miner_id WHERE d.network = ? AND d."+r.d.ident("day")+" >= ? AND m.state <> 'disabled' "+
		"GROUP BY m.address HAVING SUM(d.shares) > 0 ORDER BY s DESC, m.address LIMIT ?", network, r.d.DayArg(sinceDay), limit)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(s *sql.Rows) (TopMiner, error) {
		var t TopMiner
		err := s.Scan(&t.Address, &t.Shares, &t.Difficulty)
		return t, err
	})
}

// Window computes Purepool's statistics since a time.
func (r *Reader) Window(ctx context.Context, network string, since time.Time) (WindowStats, error) {
	var w WindowStats
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT count(*) FROM "+r.t(TChain)+" WHERE network = ? AND block_time >= ?"), network, r.d.Arg(since)).Scan(&w.AllBlocks); err != nil {
		return w, fmt.Errorf("projections: window: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT count(*), COALESCE(SUM(reward_sat), 0) FROM "+r.t(TBlocks)+" WHERE network = ? AND discovered_at >= ?"),
		network, r.d.Arg(since)).Scan(&w.PoolBlocks, &w.PoolRewardSat); err != nil {
		return w, fmt.Errorf("projections: window: %w", err)
	}
	if err := r.db.QueryRowContext(ctx, r.d.q("SELECT count(DISTINCT miner_id) FROM "+r.t(TMinerDays)+" WHERE network = ? AND "+r.d.ident("day")+" >= ? AND shares > 0"),
		network, r.d.DayArg(since)).Scan(&w.ActiveMiners); err != nil {
		return w, fmt.Errorf("projections: window: %w", err)
	}
	return w, nil
}

// Hashrate sums the hash rates the wallets of workers with a share since t
// last reported: the pool's current hash rate, and how many workers.
func (r *Reader) Hashrate(ctx context.Context, network string, since time.Time) (hps, workers int64, err error) {
	err = r.db.QueryRowContext(ctx, r.d.q("SELECT COALESCE(SUM(hashrate_hps), 0), count(*) FROM "+r.t(TWorkers)+" WHERE network = ? AND last_share_at >= ?"),
		network, r.d.Arg(since)).Scan(&hps, &workers)
	if err != nil {
		return 0, 0, fmt.Errorf("projections: hashrate: %w", err)
	}
	return hps, workers, nil
}

// ChainTip is the highest chain block the backend recorded on a network and
// its block time; found is false before the first one.
func (r *Reader) ChainTip(ctx context.Context, network string) (height int64, blockTime time.Time, found bool, err error) {
	err = r.db.QueryRowContext(ctx, r.d.q("SELECT height, block_time FROM "+r.t(TChain)+" WHERE network = ? ORDER BY height DESC LIMIT 1"), network).
		Scan(&height, nullTime{&blockTime})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("projections: read chain tip: %w", err)
	}
	return height, blockTime, true, nil
}

// DirectoryEntry is what a frontend hands work by: a miner's own target
// (empty for the network's default) and whether it may mine.
type DirectoryEntry struct {
	Network  string
	MinerID  uuid.UUID
	Address  string
	Target   string
	Enabled  bool
	Position int64 // directory_pos: the latest event that changed them
}

// MinerDirectory returns the miners whose target or state changed after
// log position after (column directory_pos, shape 5), and the highest
// position among them (after, or 0 for after < 0, when none). With after < 0 it returns every
// miner that has a target or state of its own: a miner without either is
// handed work exactly like one the read model does not know. Projector
// batches commit in position order, so polling with the returned position
// sees every later change once.
func (r *Reader) MinerDirectory(ctx context.Context, after int64) ([]DirectoryEntry, int64, error) {
	q := "SELECT network, miner_id, address, state, target, directory_pos FROM " + r.t(TMiners)
	args := []any{}
	if after < 0 {
		q += " WHERE state <> '' OR target <> ''"
	} else {
		q += " WHERE directory_pos > ?"
		args = append(args, after)
	}
	rows, err := r.query(ctx, q, args...)
	if err != nil {
		return nil, after, err
	}
	last := max(after, 0)
	out, err := collect(rows, func(s *sql.Rows) (DirectoryEntry, error) {
		var e DirectoryEntry
		var state string
		err := s.Scan(&e.Network, nullUUID{&e.MinerID}, &e.Address, &state, &e.Target, &e.Position)
		e.Enabled = state != "disabled"
		last = max(last, e.Position)
		return e, err
	})
	if err != nil {
		return nil, after, err
	}
	return out, last, nil
}
