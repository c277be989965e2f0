package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/projections"
)

var pageNames = []string{"home", "howtojoin", "statistics", "blocks", "block", "payouts", "payout", "miner", "statement", "error"}

var funcs = template.FuncMap{
	"bbp":   formatAmount,   // in full: "1,234.56789012 BBP"
	"bbps":  amountHTML,     // overviews: "1,234.57 BBP", in full as its title
	"num":   formatNum,      // "1,234,567"
	"bps":   formatBps,      // hundredths of a percent: "123.45 %"
	"dur":   formatDuration, // "3 h 5 min"
	"pct":   projections.Percent,
	"when":  timeHTML,
	"day":   func(t time.Time) string { return t.UTC().Format("Mon 01-02") },
	"short": func(s string) string { return shortHash(s) },
	"hps":   formatHashrate,
	"add":   func(a, b int) int { return a + b },
	"inc":   func(v int64) int64 { return v + 1 },
	"neg":   func(v int64) bool { return v < 0 },
	"dict": func(kv ...any) (map[string]any, error) {
		if len(kv)%2 != 0 {
			return nil, errors.New("dict: odd arguments")
		}
		m := make(map[string]any, len(kv)/2)
		for i := 0; i < len(kv); i += 2 {
			k, ok := kv[i].(string)
			if !ok {
				return nil, errors.New("dict: key is not a string")
			}
			m[k] = kv[i+1]
		}
		return m, nil
	},
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func shortHash(s string) string {
	if len(s) > 16 {
		return s[:8] + "…" + s[len(s)-8:]
	}
	return s
}

// formatHashrate formats hashes per second with an SI prefix, by integer
// arithmetic (one decimal).
func formatHashrate(h int64) string {
	units := []string{"H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"}
	i := 0
	scaled := h * 10
	for scaled >= 10000 && i < len(units)-1 {
		scaled /= 1000
		i++
	}
	return strconv.FormatInt(scaled/10, 10) + "." + strconv.FormatInt(scaled%10, 10) + " " + units[i]
}

// view is what every page template gets.
type view struct {
	PoolName string
	// Network is the page's network; pages outside one (an unknown
	// network's 404) get the default network, so their navigation works.
	Network  string
	Networks []string
	Title    string
	Now      time.Time
	Data     any
	// Miner is the address of a miner page (the live script refreshes
	// its balance).
	Miner string
	net   Network
}

// TxLink is a transaction id in full, linked to the explorer if set.
func (v view) TxLink(txid string) template.HTML {
	return idLink(explorerURL(v.net.ExplorerTxURL, "{txid}", txid), txid)
}

// TxShort is TxLink shortened, for tables.
func (v view) TxShort(txid string) template.HTML {
	return shortIDLink(explorerURL(v.net.ExplorerTxURL, "{txid}", txid), txid)
}

// BlockLink is a block hash in full, linked to the explorer if set.
func (v view) BlockLink(hash string) template.HTML {
	return idLink(explorerURL(v.net.ExplorerBlockURL, "{hash}", hash), hash)
}

// ExplorerBlock is the explorer's URL of a block ("" without one).
func (v view) ExplorerBlock(hash string) string {
	return explorerURL(v.net.ExplorerBlockURL, "{hash}", hash)
}

// TxURL is the explorer's URL of a transaction ("" without one).
func (v view) TxURL(txid string) string { return explorerURL(v.net.ExplorerTxURL, "{txid}", txid) }

// Ago is how long before the page's time t was.
func (v view) Ago(t time.Time) string { return formatAgo(t, v.Now) }

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	network, _ := r.Context().Value(ctxKey{}).(string)
	if network == "" {
		network = h.cfg.DefaultNetwork
	}
	v := view{PoolName: h.cfg.PoolName, Network: network, Networks: networkNames(h.cfg.Networks), Title: name, Now: h.cfg.Now().UTC(), Data: data,
		net: h.cfg.Networks[network]}
	if md, ok := data.(minerData); ok {
		v.Miner = md.Miner.Address
	}
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "base", v); err != nil {
		h.log.ErrorContext(r.Context(), "web: render", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// home shows the search form; ?address= goes to the miner page.
func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	network := networkOf(r)
	data := map[string]any{}
	if q := strings.TrimSpace(r.URL.Query().Get("address")); q != "" {
		addr := q
		if wid, err := biblepay.ParseWorkerID(q); err == nil {
			addr = wid.Address // a pasted workerid works too
		}
		nw, _ := biblepay.LookupNetwork(network)
		if err := nw.ValidateAddress(addr); err != nil {
			data["Query"] = q
			data["Error"] = fmt.Sprintf("%q is not a %s address.", q, network)
			if o, err := h.overview(r.Context(), network); err == nil {
				data["O"] = o
			}
			h.render(w, r, http.StatusBadRequest, "home", data)
			return
		}
		http.Redirect(w, r, "/"+network+"/miner/"+url.PathEscape(addr), http.StatusSeeOther)
		return
	}
	o, err := h.overview(r.Context(), network)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	data["O"] = o
	h.render(w, r, http.StatusOK, "home", data)
}

func (h *Handler) howToJoin(w http.ResponseWriter, r *http.Request) {
	network := networkOf(r)
	n := h.cfg.Networks[network]
	example := "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"
	if network != "main" {
		var pkh [20]byte
		nw, _ := biblepay.LookupNetwork(network)
		example = nw.Address(pkh)
	}
	// The page works without the read model: the policy then comes from
	// the configuration.
	pool, err := h.reader.Pool(r.Context(), network)
	if err != nil {
		h.log.WarnContext(r.Context(), "web: read model", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, http.StatusOK, "howtojoin", map[string]any{
		"Conf":     confLines(n, "<your-biblepay-address>", ""),
		"Example":  confLines(n, example, "rig01"),
		"Net":      n,
		"Schedule": n.scheduleText(),
		"Policy":   policyOf(n, pool),
	})
}

// Policy is what the pages tell miners about how blocks are paid: the
// crediting policy the backend recorded (PoolPolicySet), else the
// configured fee and an unknown scheme.
type Policy struct {
	// Recorded: the backend recorded the policy (the fee is then exact).
	Recorded bool
	// Scheme is PROP, PPLNS or SOLO; "" when not recorded yet.
	Scheme string
	// Window is PPLNS's number of shares.
	Window int64
	// FeeBps is the fee in basis points; FeeKnown says whether it is known
	// (recorded, or configured above 0).
	FeeBps   int64
	FeeKnown bool
}

func policyOf(n Network, p projections.Pool) Policy {
	if p.PolicyKnown() {
		return Policy{Recorded: true, Scheme: p.PolicyScheme, Window: p.PPLNSWindow, FeeBps: p.FeeBps, FeeKnown: true}
	}
	return Policy{FeeBps: n.FeeBps, FeeKnown: n.FeeBps > 0}
}

// confLines are the biblepay.conf lines for this pool (spec §2).
func confLines(n Network, address, worker string) string {
	var b strings.Builder
	b.WriteString("gen=1\ngenproclimit=1\npool=" + n.PoolURL + "\n")
	if n.PoolPort != 0 && n.PoolPort != 80 && strings.HasPrefix(n.PoolURL, "http://") {
		b.WriteString("poolport=" + strconv.Itoa(n.PoolPort) + "\n")
	}
	wid := address
	if worker != "" {
		wid += "/" + worker
	}
	b.WriteString("workerid=" + wid + "\n")
	return b.String()
}

func validPoolURL(u string) error {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(u, "https://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, "/:?# ") {
		return fmt.Errorf("pool URL %q must be exactly http://host or https://host (the wallet adds no path or port)", u)
	}
	return nil
}

// Forecast is Purepool's block forecast for today: the pool blocks of
// yesterday and today so far, per hour elapsed since yesterday 00:00,
// times 24, rounded (integer arithmetic).
func Forecast(yesterday, today int64, now time.Time) int64 {
	hours := int64(24 + now.UTC().Hour())
	return ((yesterday+today)*24*2 + hours) / (2 * hours)
}

type statsData struct {
	Window     projections.WindowStats
	Pool       projections.Pool
	Policy     Policy
	Percent    string
	Chart      chart
	TopMiners  []projections.TopMiner
	LastBlocks []projections.Block
	Forecast   int64
	// HashrateHPS sums the rates reported by the workers with a share in
	// the last 15 minutes; Workers counts them.
	HashrateHPS int64
	Workers     int64
	// Anchor is the latest public anchor of the ledger on this network
	// (nil before the first payout transaction carrying one was sent).
	Anchor *projections.Anchor
	// The last blocks with their effort, the pool's luck over them, the
	// current round's effort.
	Rows       []blockRow
	Luck       luck
	Round      projections.Work
	RoundBP    int64
	RoundKnown bool
	// Today: pool blocks found since 00:00 UTC, and how many more the
	// last 24 hours' pace gives by 24:00 UTC.
	FoundToday   int64
	ExpectedRest int64
	HoursLeft    int64
	SharesHPS    int64 // the pool's hash rate from the shares of the last hour
}

func (h *Handler) statsData(r *http.Request) (statsData, error) {
	ctx, network := r.Context(), networkOf(r)
	now := h.cfg.Now().UTC()
	var d statsData
	var err error
	if d.Window, err = h.reader.Window(ctx, network, now.Add(-24*time.Hour)); err != nil {
		return d, err
	}
	if d.Pool, err = h.reader.Pool(ctx, network); err != nil {
		return d, err
	}
	d.Policy = policyOf(h.cfg.Networks[network], d.Pool)
	d.Percent = percentNumber(d.Window.PoolBlocks, d.Window.AllBlocks)
	from := projections.Day(now).AddDate(0, 0, -6)
	days, err := h.reader.PoolDays(ctx, network, from, now)
	if err != nil {
		return d, err
	}
	week := fillDays(days, from, 7)
	d.Chart = newChart(week)
	d.Forecast = Forecast(week[5].Blocks, week[6].Blocks, now)
	if d.TopMiners, err = h.reader.TopMiners(ctx, network, projections.Day(now).AddDate(0, 0, -1), 25); err != nil {
		return d, err
	}
	if d.LastBlocks, err = h.reader.Blocks(ctx, network, 0, 50); err != nil {
		return d, err
	}
	if d.HashrateHPS, d.Workers, err = h.reader.Hashrate(ctx, network, now.Add(-15*time.Minute)); err != nil {
		return d, err
	}
	a, found, err := h.reader.LatestAnchor(ctx, network)
	if err != nil {
		return d, err
	}
	if found {
		d.Anchor = &a
	}
	return d, nil
}

// siteStats adds to statsData what the statistics page shows beyond the API.
func (h *Handler) siteStats(r *http.Request, d *statsData) error {
	ctx, network := r.Context(), networkOf(r)
	now := h.cfg.Now().UTC()
	var err error
	if d.Rows, err = h.blockRows(ctx, network, d.LastBlocks, d.Pool.Height); err != nil {
		return err
	}
	d.Luck = luckOf(d.Rows)
	d.FoundToday = d.Chart.Bars[len(d.Chart.Bars)-1].Blocks
	end := projections.Day(now).AddDate(0, 0, 1)
	left := end.Sub(now)
	d.HoursLeft = int64(left / time.Hour)
	// blocks per second over the last day × seconds left, rounded.
	d.ExpectedRest = (d.Window.PoolBlocks*int64(left/time.Second)*2 + 86400) / (2 * 86400)
	if sr, ok := h.reader.(siteReader); ok {
		if d.Round, err = sr.RoundWork(ctx, network); err != nil {
			return err
		}
		d.RoundBP, d.RoundKnown = d.Round.Effort()
		hours, err := sr.PoolHours(ctx, network, now.Add(-2*time.Hour), now)
		if err != nil {
			return err
		}
		d.SharesHPS = rateOver(hours, now)
	}
	return nil
}

func (h *Handler) statistics(w http.ResponseWriter, r *http.Request) {
	d, err := h.statsData(r)
	if err == nil {
		err = h.siteStats(r, &d)
	}
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "statistics", d)
}

// fillDays returns n consecutive days from `from`, with zeros where the
// read model has no row.
func fillDays(rows []projections.DayCount, from time.Time, n int) []projections.DayCount {
	out := make([]projections.DayCount, n)
	for i := range out {
		out[i].Day = from.AddDate(0, 0, i)
	}
	for _, r := range rows {
		i := int(projections.Day(r.Day).Sub(from).Hours() / 24)
		if i >= 0 && i < n {
			r.Day = out[i].Day
			out[i] = r
		}
	}
	return out
}

type listData struct {
	Page, Limit int
	Prev, Next  int
	Items       any
}

func (h *Handler) blocks(w http.ResponseWriter, r *http.Request) {
	p, limit, offset, err := page(r, 50, 500)
	if err != nil {
		h.fail(w, r, false, http.StatusBadRequest, err.Error())
		return
	}
	ctx, network := r.Context(), networkOf(r)
	bs, err := h.reader.Blocks(ctx, network, offset, limit)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	pool, err := h.reader.Pool(ctx, network)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	rows, err := h.blockRows(ctx, network, bs, pool.Height)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "blocks", pager(p, limit, len(bs), rows))
}

// block shows one pool block with its round: how it is made, whether it
// is still open, its late shares, what an empty round did, the fee.
func (h *Handler) block(w http.ResponseWriter, r *http.Request) {
	network := networkOf(r)
	b, err := h.reader.Block(r.Context(), network, chi.URLParam(r, "hash"))
	if errors.Is(err, projections.ErrNotFound) {
		h.fail(w, r, false, http.StatusNotFound, "no pool block with this hash on "+network)
		return
	}
	var rows []blockRow
	if err == nil {
		var pool projections.Pool
		if pool, err = h.reader.Pool(r.Context(), network); err == nil {
			rows, err = h.blockRows(r.Context(), network, []projections.Block{b}, pool.Height)
		}
	}
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "block", rows[0])
}

func pager(p, limit, n int, items any) listData {
	d := listData{Page: p, Limit: limit, Items: items}
	if p > 1 {
		d.Prev = p - 1
	}
	if n == limit {
		d.Next = p + 1
	}
	return d
}

func (h *Handler) payouts(w http.ResponseWriter, r *http.Request) {
	p, limit, offset, err := page(r, 50, 500)
	if err != nil {
		h.fail(w, r, false, http.StatusBadRequest, err.Error())
		return
	}
	ps, err := h.reader.Payouts(r.Context(), networkOf(r), offset, limit)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "payouts", pager(p, limit, len(ps), ps))
}

// payout shows one payout: its recipients with what each gets on the
// chain, its signed transactions (dead ones included), why its amounts
// came back if they did, and the log head its transaction carries.
func (h *Handler) payout(w http.ResponseWriter, r *http.Request) {
	network := networkOf(r)
	id, err := uuid.Parse(chi.URLParam(r, "id"))
	if err != nil {
		h.fail(w, r, false, http.StatusNotFound, "no payout with this id on "+network)
		return
	}
	p, err := h.reader.Payout(r.Context(), network, id)
	if errors.Is(err, projections.ErrNotFound) {
		h.fail(w, r, false, http.StatusNotFound, "no payout with this id on "+network)
		return
	}
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "payout", p)
}

type minerData struct {
	Miner      projections.Miner
	Chart      chart
	Week       []projections.DayCount
	Workers    []projections.Worker
	Ledger     []projections.LedgerEntry
	Rejections []projections.Rejection
	Payouts    []projections.Payout
	Extras     minerExtras
}

func (h *Handler) miner(w http.ResponseWriter, r *http.Request) {
	m, ok := h.minerFor(w, r, false)
	if !ok {
		return
	}
	ctx, network := r.Context(), networkOf(r)
	now := h.cfg.Now().UTC()
	d := minerData{Miner: m}
	from := projections.Day(now).AddDate(0, 0, -6)
	days, err := h.reader.MinerDays(ctx, network, m.MinerID, from, now)
	if err == nil {
		d.Week = fillDays(days, from, 7)
		d.Chart = newChart(d.Week)
		d.Workers, err = h.reader.Workers(ctx, network, m.MinerID, now.Add(-24*time.Hour))
	}
	if err == nil {
		d.Ledger, err = h.reader.Ledger(ctx, network, m.MinerID, 0, 100)
	}
	if err == nil {
		d.Rejections, err = h.reader.Rejections(ctx, network, m.MinerID, from)
	}
	if err == nil {
		d.Payouts, err = h.reader.MinerPayouts(ctx, network, m.MinerID, 0, 20)
	}
	if err == nil {
		err = h.minerExtras(ctx, network, &d)
	}
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "miner", d)
}

// Statement is a miner's full account: every credit with its proof and
// every payout. It is what statement.csv and statement.json hold.
type Statement struct {
	Network     string            `json:"network"`
	Address     string            `json:"address"`
	MinerID     string            `json:"miner_id"`
	GeneratedAt time.Time         `json:"generated_at"`
	BalanceSat  int64             `json:"balance_sat"`
	Balance     string            `json:"balance_bbp"`
	CreditedSat int64             `json:"credited_sat"`
	ReversedSat int64             `json:"reversed_sat"`
	PaidSat     int64             `json:"paid_sat"`
	Credits     []StatementCredit `json:"credits"`
	Payouts     []StatementPayout `json:"payouts"`
}

// StatementCredit is one credit line.
type StatementCredit struct {
	Height          int64     `json:"block_height"`
	BlockHash       string    `json:"block_hash"`
	BlockStatus     string    `json:"block_status"`
	RewardSat       int64     `json:"reward_sat"`
	Reward          string    `json:"reward_bbp"`
	FeeSat          int64     `json:"fee_sat"`
	RoundShares     int64     `json:"round_shares"`
	MinerShares     int64     `json:"miner_shares"`
	RoundDifficulty int64     `json:"round_difficulty"`
	MinerDifficulty int64     `json:"miner_difficulty"`
	SharePercent    string    `json:"share_percent"`
	AmountSat       int64     `json:"amount_sat"`
	Amount          string    `json:"amount_bbp"`
	ReversedSat     int64     `json:"reversed_sat"`
	CreditedAt      time.Time `json:"credited_at"`
}

// StatementPayout is one payout line. A payout whose amount came back to
// the balance (failed, conflicted, corrected: recorded as sent in a
// transaction that does not pay it) says when and why.
type StatementPayout struct {
	PayoutID   string    `json:"payout_id"`
	Status     string    `json:"status"`
	AmountSat  int64     `json:"amount_sat"`
	Amount     string    `json:"amount_bbp"`
	TxID       string    `json:"txid"`
	PlannedAt  time.Time `json:"planned_at"`
	SentAt     time.Time `json:"sent_at"`
	Returned   bool      `json:"returned,omitempty"`
	ReturnedAt time.Time `json:"returned_at,omitzero"`
	Reason     string    `json:"reason,omitempty"`
}

// statementLimit bounds one statement (pages of the API go further).
const statementLimit = 100_000

func (h *Handler) buildStatement(r *http.Request, m projections.Miner, offset, limit int) (Statement, error) {
	ctx, network := r.Context(), networkOf(r)
	s := Statement{Network: network, Address: m.Address, MinerID: m.MinerID.String(), GeneratedAt: h.cfg.Now().UTC(),
		BalanceSat: m.BalanceSat, Balance: projections.FormatBBP(m.BalanceSat), CreditedSat: m.CreditedSat, ReversedSat: m.ReversedSat,
		PaidSat: m.PaidSat, Credits: []StatementCredit{}, Payouts: []StatementPayout{}}
	credits, err := h.reader.Credits(ctx, network, m.MinerID, offset, limit)
	if err != nil {
		return s, err
	}
	for _, c := range credits {
		if c.CreditedAt.IsZero() {
			continue // a round whose block has not matured: no credit yet
		}
		s.Credits = append(s.Credits, StatementCredit{Height: c.Height, BlockHash: c.BlockHash, BlockStatus: c.BlockStatus,
			RewardSat: c.RewardSat, Reward: projections.FormatBBP(c.RewardSat), FeeSat: c.FeeSat, RoundShares: c.RoundShares,
			MinerShares: c.MinerShares, RoundDifficulty: c.RoundDifficulty, MinerDifficulty: c.MinerDifficulty,
			SharePercent: c.SharePercent(), AmountSat: c.AmountSat, Amount: projections.FormatBBP(c.AmountSat),
			ReversedSat: c.ReversedSat, CreditedAt: c.CreditedAt})
	}
	payouts, err := h.reader.MinerPayouts(ctx, network, m.MinerID, offset, limit)
	if err != nil {
		return s, err
	}
	for _, p := range payouts {
		sp := StatementPayout{PayoutID: p.PayoutID.String(), Status: p.Status, AmountSat: p.AmountSat,
			Amount: projections.FormatBBP(p.AmountSat), TxID: p.TxID, PlannedAt: p.PlannedAt, SentAt: p.SentAt}
		if p.Returned() {
			sp.Returned, sp.ReturnedAt, sp.Reason = true, p.FailedAt, p.Reason
		}
		s.Payouts = append(s.Payouts, sp)
	}
	return s, nil
}

func (h *Handler) statement(w http.ResponseWriter, r *http.Request) {
	m, ok := h.minerFor(w, r, false)
	if !ok {
		return
	}
	s, err := h.buildStatement(r, m, 0, statementLimit)
	if err != nil {
		h.serverError(w, r, false, err)
		return
	}
	h.render(w, r, http.StatusOK, "statement", s)
}
