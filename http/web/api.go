package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/purepool/purepool/projections"
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// StatisticsResponse is Purepool's /{network}/api/statistics, field for
// field (purepool/frontend/views.py api_statistics): the last day's chain
// and pool blocks. bbp_mined is whole BBP (Purepool stored subsidies as
// integers) and null when the pool found no block; the *_sat field is
// Purepool-the-Go-port's exact addition.
type StatisticsResponse struct {
	Network           string      `json:"network"`
	Days              int         `json:"days"`
	CurrentHeight     int64       `json:"current_height"`
	AllBlocks         int64       `json:"all_blocks"`
	PoolBlocks        int64       `json:"pool_blocks"`
	PoolBlocksPercent json.Number `json:"pool_blocks_percent"`
	BBPMined          *int64      `json:"bbp_mined"`
	MinersCount       int64       `json:"miners_count"`
	BBPMinedSat       int64       `json:"bbp_mined_sat"`
}

func (h *Handler) apiStatistics(w http.ResponseWriter, r *http.Request) {
	network := networkOf(r)
	const days = 1
	win, err := h.reader.Window(r.Context(), network, h.cfg.Now().Add(-days*24*time.Hour))
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	pool, err := h.reader.Pool(r.Context(), network)
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	resp := StatisticsResponse{Network: network, Days: days, CurrentHeight: pool.Height, AllBlocks: win.AllBlocks,
		PoolBlocks: win.PoolBlocks, PoolBlocksPercent: json.Number(percentNumber(win.PoolBlocks, win.AllBlocks)),
		MinersCount: win.ActiveMiners, BBPMinedSat: win.PoolRewardSat}
	if win.PoolBlocks > 0 {
		mined := projections.WholeBBP(win.PoolRewardSat)
		resp.BBPMined = &mined
	}
	writeJSON(w, http.StatusOK, resp)
}

// SubsidySumResponse is Purepool's /{network}/api/block_subsidysum/{days}:
// the sum (whole BBP, null when there is none) and count of the rewards of
// the pool's blocks found in the last days. (Purepool summed every chain
// block it had recorded; this pool knows the rewards of its own blocks.)
type SubsidySumResponse struct {
	Sum    *int64 `json:"sum"`
	Count  int64  `json:"count"`
	SumSat int64  `json:"sum_sat"`
}

func (h *Handler) apiBlockSubsidySum(w http.ResponseWriter, r *http.Request) {
	days, err := strconv.Atoi(chi.URLParam(r, "days"))
	if err != nil || days < 0 || days > 3650 {
		h.fail(w, r, true, http.StatusNotFound, "days must be a whole number from 0 to 3650")
		return
	}
	win, err := h.reader.Window(r.Context(), networkOf(r), h.cfg.Now().Add(-time.Duration(days)*24*time.Hour))
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	resp := SubsidySumResponse{Count: win.PoolBlocks, SumSat: win.PoolRewardSat}
	if win.PoolBlocks > 0 {
		sum := projections.WholeBBP(win.PoolRewardSat)
		resp.Sum = &sum
	}
	writeJSON(w, http.StatusOK, resp)
}

// APIPool is /{network}/api/pool.
//
// Rewards by where the blocks stand: found_reward_sat (every pool block
// found) = pending_reward_sat (found, not yet matured nor orphaned) +
// matured_reward_sat (matured, still on the chain) + orphaned_reward_sat
// (left the chain, before or after maturity). Only matured blocks are
// credited: credited_sat (to miners) + fee_sat (to the pool-fee account)
// + what empty rounds carried out − what rounds took from the carry account
// = matured_reward_sat + orphaned_matured_reward_sat, the blocks orphaned
// after maturity, whose credits are in reversed_sat and fee_reversed_sat.
//
// Balances are kept apart: miners_balance_sat is what the miners are owed
// (credited − reversed − paid), fee_balance_sat the pool's own fee account
// (fee − fee reversed), carried_sat the carry account (owed to the miners
// of the next round with shares; neither a miner's nor the pool's).
type APIPool struct {
	Network        string `json:"network"`
	Height         int64  `json:"height"`
	Miners         int64  `json:"miners"`
	BlocksFound    int64  `json:"blocks_found"`
	BlocksPending  int64  `json:"blocks_pending"`
	BlocksMatured  int64  `json:"blocks_matured"` // matured ever, later orphaned ones included
	BlocksOrphaned int64  `json:"blocks_orphaned"`
	// RewardSat is kept for clients written before the split: it is
	// found_reward_sat, the rewards of EVERY block found (pending and
	// orphaned ones included), not the rewards behind credited_sat and
	// fee_sat (matured_reward_sat + orphaned_matured_reward_sat).
	RewardSat                int64     `json:"reward_sat"`
	FoundRewardSat           int64     `json:"found_reward_sat"`
	PendingRewardSat         int64     `json:"pending_reward_sat"`
	MaturedRewardSat         int64     `json:"matured_reward_sat"`
	OrphanedRewardSat        int64     `json:"orphaned_reward_sat"`
	OrphanedMaturedRewardSat int64     `json:"orphaned_matured_reward_sat"`
	CreditedSat              int64     `json:"credited_sat"` // to miners, by matured blocks
	ReversedSat              int64     `json:"reversed_sat"` // miners' credits taken back
	FeeSat                   int64     `json:"fee_sat"`      // to the pool-fee account, by matured blocks
	FeeReversedSat           int64     `json:"fee_reversed_sat"`
	PaidSat                  int64     `json:"paid_sat"` // to miners, in payouts that did not fail
	MinersBalanceSat         int64     `json:"miners_balance_sat"`
	FeeBalanceSat            int64     `json:"fee_balance_sat"`
	Payouts                  int64     `json:"payouts"`
	Shares                   int64     `json:"shares"`
	Rejected                 int64     `json:"rejected"`
	PayoutsPaused            bool      `json:"payouts_paused"`
	LastBlockAt              time.Time `json:"last_block_at"`
	ForecastToday            int64     `json:"forecast_blocks_today"`
	HashrateHPS              int64     `json:"hashrate_hps"`
	ActiveWorkers            int64     `json:"active_workers"`
	// The crediting policy in force, as the backend recorded it
	// (PoolPolicySet): scheme "" and fee_bps null before the first.
	Scheme      string `json:"scheme"`
	FeeBps      *int64 `json:"fee_bps"`
	PPLNSWindow int64  `json:"pplns_window,omitempty"`
	// EmptyRounds counts matured blocks whose round had no share;
	// CarriedSat is the carry account: the miners' part of those without a
	// known finder, owed to the next round with shares (not the pool's).
	EmptyRounds int64 `json:"empty_rounds"`
	CarriedSat  int64 `json:"carried_sat"`
	LateShares  int64 `json:"late_shares"`
	// PoolID is the installation's id (PoolInstalled): every payout
	// transaction of this pool names it in its data output. "" before the
	// backend recorded it.
	PoolID string `json:"pool_id"`
	// LatestAnchor is the latest public anchor of the ledger: the largest
	// head of the event log carried by a payout transaction recorded as
	// sent or confirmed on this network (null before the first).
	LatestAnchor *APIPublicAnchor `json:"latest_anchor"`
}

// APIAnchor is a head of the pool's event log: events 1..size, the RFC
// 6962 Merkle root of their chain hashes, and the chain hash of event
// size (hex).
type APIAnchor struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
	Hash string `json:"hash"`
}

// APIPublicAnchor is a head carried on the chain: the payout whose
// transaction (txid) carries it in its data output.
type APIPublicAnchor struct {
	APIAnchor
	TxID          string    `json:"txid"`
	PayoutID      string    `json:"payout_id"`
	Status        string    `json:"status"` // the payout's: sent or confirmed
	Confirmations int64     `json:"confirmations"`
	SentAt        time.Time `json:"sent_at"`
}

func apiPublicAnchor(a *projections.Anchor) *APIPublicAnchor {
	if a == nil {
		return nil
	}
	return &APIPublicAnchor{APIAnchor: APIAnchor{Size: a.Size, Root: a.Root, Hash: a.Hash}, TxID: a.TxID, PayoutID: a.PayoutID.String(),
		Status: a.Status, Confirmations: a.Confirmations, SentAt: a.SentAt}
}

func uuidString(u uuid.UUID) string {
	if u == uuid.Nil {
		return ""
	}
	return u.String()
}

func (h *Handler) apiPool(w http.ResponseWriter, r *http.Request) {
	d, err := h.statsData(r)
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	p := d.Pool
	writeJSON(w, http.StatusOK, APIPool{Network: p.Network, Height: p.Height, Miners: p.Miners, BlocksFound: p.BlocksFound,
		BlocksPending: p.BlocksPending, BlocksMatured: p.BlocksMatured, BlocksOrphaned: p.BlocksOrphaned, RewardSat: p.RewardSat,
		FoundRewardSat: p.RewardSat, PendingRewardSat: p.PendingRewardSat, MaturedRewardSat: p.MaturedRewardSat,
		OrphanedRewardSat: p.OrphanedRewardSat, OrphanedMaturedRewardSat: p.OrphanedMaturedRewardSat, CreditedSat: p.CreditedSat,
		ReversedSat: p.ReversedSat, FeeSat: p.FeeSat, FeeReversedSat: p.FeeReversedSat, PaidSat: p.PaidSat,
		MinersBalanceSat: p.MinersBalanceSat(), FeeBalanceSat: p.FeeBalanceSat(), Payouts: p.Payouts,
		Shares: p.Shares, Rejected: p.Rejected, PayoutsPaused: p.PayoutsPaused, LastBlockAt: p.LastBlockAt, ForecastToday: d.Forecast,
		HashrateHPS: d.HashrateHPS, ActiveWorkers: d.Workers, Scheme: p.PolicyScheme, FeeBps: feeBpsOf(p), PPLNSWindow: p.PPLNSWindow,
		EmptyRounds: p.EmptyRounds, CarriedSat: p.CarriedSat, LateShares: p.LateShares, PoolID: uuidString(p.PoolID),
		LatestAnchor: apiPublicAnchor(d.Anchor)})
}

func feeBpsOf(p projections.Pool) *int64 {
	if !p.PolicyKnown() {
		return nil
	}
	v := p.FeeBps
	return &v
}

// APIBlock is a pool block in the API.
type APIBlock struct {
	Height        int64     `json:"height"`
	Hash          string    `json:"hash"`
	Status        string    `json:"status"`
	Confirmations int64     `json:"confirmations"`
	Finder        string    `json:"finder"`
	RewardSat     int64     `json:"reward_sat"`
	Reward        string    `json:"reward_bbp"`
	RoundShares   int64     `json:"round_shares"`
	CreditedSat   int64     `json:"credited_sat"`
	FeeSat        int64     `json:"fee_sat"`
	BlockTime     time.Time `json:"block_time"`
	DiscoveredAt  time.Time `json:"discovered_at"`
	// RoundRule is "height" (the round counts shares by the height they
	// were mined on, decided at maturity) or "position" (blocks of earlier
	// releases: closed when found, by the order shares were stored).
	RoundRule string `json:"round_rule"`
	// RoundOpen: a pending block whose round is decided at maturity.
	RoundOpen       bool  `json:"round_open"`
	RoundFromHeight int64 `json:"round_from_height,omitempty"`
	// LateShares: shares of earlier heights counted here (stored after
	// their round was credited); LateCountedLater: shares of this round's
	// heights counted in a later round.
	LateShares       int64 `json:"late_shares"`
	LateCountedLater int64 `json:"late_counted_later"`
	CarriedInSat     int64 `json:"carried_in_sat"`
	// EmptyOutcome: "" (the round had shares), "finder" or "carried".
	EmptyOutcome string `json:"empty_outcome,omitempty"`
	EmptySat     int64  `json:"empty_sat,omitempty"`
	// FeeBps is the fee credited at maturity (null until then).
	FeeBps *int64 `json:"fee_bps"`
}

func apiBlock(b projections.Block) APIBlock {
	out := APIBlock{Height: b.Height, Hash: b.Hash, Status: b.Status, Confirmations: b.Confirmations, Finder: b.FinderAddress,
		RewardSat: b.RewardSat, Reward: projections.FormatBBP(b.RewardSat), RoundShares: b.RoundShares, CreditedSat: b.CreditedSat,
		FeeSat: b.FeeSat, BlockTime: b.BlockTime, DiscoveredAt: b.DiscoveredAt, RoundRule: "position", RoundOpen: b.RoundOpen(),
		RoundFromHeight: b.RoundFromHeight, LateShares: b.LateShares, LateCountedLater: b.LateCountedLater, CarriedInSat: b.CarriedInSat,
		EmptyOutcome: b.EmptyOutcome, EmptySat: b.EmptySat}
	if b.RoundByHeight() {
		out.RoundRule = "height"
	}
	if b.FeeKnown {
		v := b.FeeBps
		out.FeeBps = &v
	}
	return out
}

// Page is a paged API answer.
type Page[T any] struct {
	Page  int `json:"page"`
	Limit int `json:"limit"`
	Items []T `json:"items"`
}

func (h *Handler) apiBlocks(w http.ResponseWriter, r *http.Request) {
	p, limit, offset, err := page(r, 50, 500)
	if err != nil {
		h.fail(w, r, true, http.StatusBadRequest, err.Error())
		return
	}
	bs, err := h.reader.Blocks(r.Context(), networkOf(r), offset, limit)
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	out := Page[APIBlock]{Page: p, Limit: limit, Items: []APIBlock{}}
	for _, b := range bs {
		out.Items = append(out.Items, apiBlock(b))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiBlock(w http.ResponseWriter, r *http.Request) {
	b, err := h.reader.Block(r.Context(), networkOf(r), chi.URLParam(r, "hash"))
	if errors.Is(err, projections.ErrNotFound) {
		h.fail(w, r, true, http.StatusNotFound, "no such pool block")
		return
	}
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, apiBlock(b))
}

// APIPayout is a payout in the API.
//
// Status: planned (again after a signed transaction was recorded dead),
// signed (its transaction is signed and recorded, and is or will be
// broadcast; not settled), sent, confirmed, halted; failed, conflicted and
// corrected (recorded as sent in a transaction that does not pay it) gave
// the amounts back to the balances: reason says why. txid and fee_sat are
// its transaction's: the signed one while signed; "" and 0 while planned.
type APIPayout struct {
	PayoutID      string    `json:"payout_id"`
	Status        string    `json:"status"`
	TotalSat      int64     `json:"total_sat"`
	Total         string    `json:"total_bbp"`
	Recipients    int64     `json:"recipients"`
	TxID          string    `json:"txid"`
	FeeSat        int64     `json:"fee_sat"`
	Confirmations int64     `json:"confirmations"`
	PlannedAt     time.Time `json:"planned_at"`
	SentAt        time.Time `json:"sent_at"`
	// Settled: its outcome is known (sent, confirmed, failed, conflicted,
	// corrected).
	Settled bool   `json:"settled"`
	Reason  string `json:"reason,omitempty"`
	// ReturnedAt is when the amounts came back (failed, conflicted,
	// corrected).
	ReturnedAt time.Time `json:"returned_at,omitzero"`
	// Attempts counts its signed transactions (0 for payouts of releases
	// before signed payouts).
	Attempts int64 `json:"attempts"`
	// PoolID is the installation that planned it; Anchor the event log's
	// head its transaction carries (both absent for earlier payouts).
	PoolID string          `json:"pool_id,omitempty"`
	Anchor *APIAnchor      `json:"anchor,omitempty"`
	Items  []APIPayoutItem `json:"items,omitempty"`
	// Transactions are its signed transactions, the first first; a dead
	// one (dead: true) can never confirm, and the payout was signed again
	// (one payout object only, /api/payouts/{id}).
	Transactions []APIPayoutTx `json:"transactions,omitempty"`
}

// APIPayoutItem is one recipient of a payout: the amount taken from its
// balance, and what it gets on the chain in the payout's transaction
// (sent_sat: the amount less its share of the fee; absent while there is
// no signed transaction, and for payouts of earlier releases).
type APIPayoutItem struct {
	Address   string `json:"address"`
	AmountSat int64  `json:"amount_sat"`
	Amount    string `json:"amount_bbp"`
	SentSat   int64  `json:"sent_sat,omitempty"`
	Sent      string `json:"sent_bbp,omitempty"`
}

// APIPayoutTx is one signed transaction of a payout.
type APIPayoutTx struct {
	TxID     string    `json:"txid"`
	Attempt  int64     `json:"attempt"`
	FeeSat   int64     `json:"fee_sat"`
	SignedAt time.Time `json:"signed_at"`
	// Dead: an input of it (spent_input) was spent by another transaction
	// buried deep enough; it can never confirm.
	Dead       bool      `json:"dead"`
	DeadAt     time.Time `json:"dead_at,omitzero"`
	SpentInput string    `json:"spent_input,omitempty"`
	Reason     string    `json:"reason,omitempty"`
}

func apiPayout(p projections.Payout) APIPayout {
	out := APIPayout{PayoutID: p.PayoutID.String(), Status: p.Status, TotalSat: p.TotalSat, Total: projections.FormatBBP(p.TotalSat),
		Recipients: p.ItemCount, TxID: p.TxID, FeeSat: p.FeeSat, Confirmations: p.Confirmations, PlannedAt: p.PlannedAt, SentAt: p.SentAt,
		Settled: p.Settled(), Reason: p.Reason, Attempts: p.Attempts, PoolID: uuidString(p.PoolID)}
	if p.Returned() {
		out.ReturnedAt = p.FailedAt
	}
	if p.Anchor != nil {
		out.Anchor = &APIAnchor{Size: p.Anchor.Size, Root: p.Anchor.Root, Hash: p.Anchor.Hash}
	}
	for _, it := range p.Items {
		item := APIPayoutItem{Address: it.Address, AmountSat: it.AmountSat, Amount: projections.FormatBBP(it.AmountSat)}
		if it.SentSat != 0 {
			item.SentSat, item.Sent = it.SentSat, projections.FormatBBP(it.SentSat)
		}
		out.Items = append(out.Items, item)
	}
	for _, t := range p.Transactions {
		out.Transactions = append(out.Transactions, APIPayoutTx{TxID: t.TxID, Attempt: t.Attempt, FeeSat: t.FeeSat, SignedAt: t.SignedAt,
			Dead: t.Dead(), DeadAt: t.DeadAt, SpentInput: t.SpentInput, Reason: t.DeadReason})
	}
	return out
}

func (h *Handler) apiPayouts(w http.ResponseWriter, r *http.Request) {
	p, limit, offset, err := page(r, 50, 500)
	if err != nil {
		h.fail(w, r, true, http.StatusBadRequest, err.Error())
		return
	}
	ps, err := h.reader.Payouts(r.Context(), networkOf(r), offset, limit)
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	out := Page[APIPayout]{Page: p, Limit: limit, Items: []APIPayout{}}
	for _, x := range ps {
		out.Items = append(out.Items, apiPayout(x))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiPayout(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, true, http.StatusNotFound, "no such payout")
		return
	}
	p, err := h.reader.Payout(r.Context(), networkOf(r), id)
	if errors.Is(err, projections.ErrNotFound) {
		h.fail(w, r, true, http.StatusNotFound, "no such payout")
		return
	}
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	writeJSON(w, http.StatusOK, apiPayout(p))
}

// APIMiner is /{network}/api/miner/{address}.
type APIMiner struct {
	Network     string      `json:"network"`
	Address     string      `json:"address"`
	Enabled     bool        `json:"enabled"`
	BalanceSat  int64       `json:"balance_sat"`
	Balance     string      `json:"balance_bbp"`
	CreditedSat int64       `json:"credited_sat"`
	ReversedSat int64       `json:"reversed_sat"`
	PaidSat     int64       `json:"paid_sat"`
	Shares      int64       `json:"shares"`
	Rejected    int64       `json:"rejected"`
	LastShareAt time.Time   `json:"last_share_at"`
	Workers     []APIWorker `json:"workers"`
}

// APIWorker is a worker seen in the last 24 hours.
type APIWorker struct {
	Worker      string    `json:"worker"`
	LastSeen    time.Time `json:"last_seen"`
	Shares      int64     `json:"shares"`
	Rejected    int64     `json:"rejected"`
	HashrateHPS int64     `json:"hashrate_hps"`
}

func (h *Handler) apiMiner(w http.ResponseWriter, r *http.Request) {
	m, ok := h.minerFor(w, r, true)
	if !ok {
		return
	}
	ws, err := h.reader.Workers(r.Context(), networkOf(r), m.MinerID, h.cfg.Now().Add(-24*time.Hour))
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	out := APIMiner{Network: m.Network, Address: m.Address, Enabled: m.Enabled, BalanceSat: m.BalanceSat, Balance: projections.FormatBBP(m.BalanceSat),
		CreditedSat: m.CreditedSat, ReversedSat: m.ReversedSat, PaidSat: m.PaidSat, Shares: m.Shares, Rejected: m.Rejected,
		LastShareAt: m.LastShareAt, Workers: []APIWorker{}}
	for _, x := range ws {
		out.Workers = append(out.Workers, APIWorker{Worker: x.Worker, LastSeen: x.LastSeen, Shares: x.Shares, Rejected: x.Rejected, HashrateHPS: x.HashrateHPS})
	}
	writeJSON(w, http.StatusOK, out)
}

// statementJSON serves the statement; with ?page= or ?limit= it is paged
// (credits and payouts each), otherwise whole.
func (h *Handler) statementJSON(w http.ResponseWriter, r *http.Request) {
	m, ok := h.minerFor(w, r, true)
	if !ok {
		return
	}
	offset, limit := 0, statementLimit
	if r.URL.Query().Has("page") || r.URL.Query().Has("limit") {
		var err error
		if _, limit, offset, err = page(r, 100, 1000); err != nil {
			h.fail(w, r, true, http.StatusBadRequest, err.Error())
			return
		}
	}
	s, err := h.buildStatement(r, m, offset, limit)
	if err != nil {
		h.serverError(w, r, true, err)
		return
	}
	if chi.RouteContext(r.Context()).RoutePattern() == "/{network}/miner/{address}/statement.json" {
		w.Header().Set("Content-Disposition", `attachment; filename="purepool-`+s.Network+`-`+s.Address+`.json"`)
	}
	writeJSON(w, http.StatusOK, s)
}

func (h *Handler) statementCSV(w http.ResponseWriter, r *http.Request) {
	m, ok := h.minerFor(w, r, false)
	if !ok {
		return
	}
	s, err := h.buildStatement(r, m, 0, statementLimit)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="purepool-`+s.Network+`-`+s.Address+`.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"type", "time", "block_height", "block_hash", "block_status", "reward_bbp", "round_shares", "miner_shares",
		"share_percent", "amount_bbp", "amount_sat", "payout_id", "payout_status", "txid", "note"})
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	for _, c := range s.Credits {
		_ = cw.Write([]string{"credit", c.CreditedAt.UTC().Format(time.RFC3339), i64(c.Height), c.BlockHash, c.BlockStatus, c.Reward,
			i64(c.RoundShares), i64(c.MinerShares), c.SharePercent, c.Amount, i64(c.AmountSat), "", "", "", ""})
		if c.ReversedSat != 0 {
			_ = cw.Write([]string{"reversal", "", i64(c.Height), c.BlockHash, c.BlockStatus, c.Reward, i64(c.RoundShares), i64(c.MinerShares),
				c.SharePercent, projections.FormatBBP(-c.ReversedSat), i64(-c.ReversedSat), "", "", "", ""})
		}
	}
	for _, p := range s.Payouts {
		amount := -p.AmountSat
		if p.Status == "failed" || p.Status == "conflicted" {
			amount = 0 // the amount came back to the balance: the column sums to it
		}
		note := ""
		if amount == 0 {
			note = p.Reason // why it came back
		}
		_ = cw.Write([]string{"payout", p.PlannedAt.UTC().Format(time.RFC3339), "", "", "", "", "", "", "",
			projections.FormatBBP(amount), i64(amount), p.PayoutID, p.Status, p.TxID, note})
		if p.Status == "corrected" {
			// It was recorded as paid in a transaction that does not pay
			// it; the correction is a line of its own that gives the
			// amount back, with the reason.
			_ = cw.Write([]string{"payout_corrected", p.ReturnedAt.UTC().Format(time.RFC3339), "", "", "", "", "", "", "",
				projections.FormatBBP(p.AmountSat), i64(p.AmountSat), p.PayoutID, p.Status, p.TxID, p.Reason})
		}
	}
	cw.Flush()
}
