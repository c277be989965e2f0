package web_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// fixture is a website over a real SQLite read model projected from a
// generated week of pool history.
type fixture struct {
	h    *ledgergen.History
	now  time.Time
	srv  *httptest.Server
	web  *web.Handler
	read *projections.Reader
}

var (
	histOnce sync.Once
	hist     *ledgergen.History
)

func history() *ledgergen.History {
	histOnce.Do(func() {
		hist = ledgergen.Generate(ledgergen.Config{Seed: 3, Miners: 6, ChainBlocks: 170, SharesPerBlock: 6, PayoutEvery: 20,
			Maturity: 6, Spacing: time.Hour})
	})
	return hist
}

// readModels are the three read-model databases; PostgreSQL and MariaDB
// are read through a role that may only SELECT, as the frontend does.
var readModels = []struct {
	name string
	open func(t *testing.T) (writer *projections.DB, readOnly *sql.DB)
}{
	{"sqlite", func(t *testing.T) (*projections.DB, *sql.DB) {
		db := openRM(t, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"), "")
		return db, db.SQL
	}},
	{"postgres", openPostgresReadOnly},
	{"mariadb", openMariaDBReadOnly},
}

func openRM(t *testing.T, url, frontendRole string) *projections.DB {
	t.Helper()
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.FrontendRole = frontendRole
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

func openPostgresReadOnly(t *testing.T) (*projections.DB, *sql.DB) {
	ctx := context.Background()
	role := testenv.UniqueName("pp_frontend")
	admin, err := sql.Open("pgx", testenv.PostgresAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.PingContext(ctx); err != nil {
		testenv.Unavailable(t, "PostgreSQL", err)
	}
	if _, err := admin.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the database is dropped
		a, err := sql.Open("pgx", testenv.PostgresAdminURL())
		if err == nil {
			_, _ = a.Exec("DROP ROLE IF EXISTS " + role)
			a.Close()
		}
	})
	rmURL := testenv.NewPostgresDB(t)
	writer := openRM(t, rmURL, role)
	u, err := url.Parse(rmURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(role)
	ro, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	// The frontend role reads the views and can change nothing.
	_, err = ro.ExecContext(ctx, "INSERT INTO readmodel.pool (network) VALUES ('main')")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("insert as the frontend role: %v, want permission denied (42501)", err)
	}
	if _, err := ro.ExecContext(ctx, "DELETE FROM readmodel_v1.miners"); err == nil {
		t.Fatal("the frontend role could delete from the generation tables")
	}
	return writer, ro
}

func openMariaDBReadOnly(t *testing.T) (*projections.DB, *sql.DB) {
	ctx := context.Background()
	dsn := testenv.NewMySQLDB(t)
	writer := openRM(t, "mysql://"+dsn, "")
	dbName := dsn[strings.LastIndex(dsn, "/")+1:]
	dbName, _, _ = strings.Cut(dbName, "?")
	user := testenv.UniqueName("ppf")
	if _, err := writer.SQL.ExecContext(ctx, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'readonly'"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("mysql", testenv.MySQLAdminDSN())
		if err == nil {
			_, _ = a.Exec("DROP USER IF EXISTS '" + user + "'@'%'")
			a.Close()
		}
	})
	if _, err := writer.SQL.ExecContext(ctx, "GRANT SELECT ON "+dbName+".* TO '"+user+"'@'%'"); err != nil {
		t.Fatal(err)
	}
	host := dsn[strings.Index(dsn, "@"):strings.LastIndex(dsn, "/")]
	ro, err := sql.Open("mysql", user+":readonly"+host+"/"+dbName+"?parseTime=true")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	_, err = ro.ExecContext(ctx, "INSERT INTO pool (network) VALUES ('main')")
	var myErr *mysql.MySQLError
	if !errors.As(err, &myErr) || myErr.Number != 1142 {
		t.Fatalf("insert as the read-only user: %v, want error 1142", err)
	}
	return writer, ro
}

func newFixture(t *testing.T) *fixture { return newFixtureOn(t, 0) }

func newFixtureOn(t *testing.T, i int) *fixture {
	t.Helper()
	ctx := context.Background()
	writer, ro := readModels[i].open(t)
	h := history()
	if _, err := writer.ApplyBatch(ctx, 0, h.Envelopes); err != nil {
		t.Fatal(err)
	}
	return serve(t, h, projections.NewReader(ro, writer.Dialect))
}

func serve(t *testing.T, h *ledgergen.History, r *projections.Reader) *fixture {
	t.Helper()
	// Ten minutes after the last accepted share (the last chain block may
	// have none), so that the pool has active workers.
	var now time.Time
	for _, env := range h.Envelopes {
		if env.Type == events.TypeSolutionAccepted {
			ev, err := events.Decode(env)
			if err != nil {
				t.Fatal(err)
			}
			now = ev.(events.SolutionAccepted).At.Add(10 * time.Minute)
		}
	}
	wh, err := web.NewHandler(web.Config{
		Networks:  map[string]web.Network{"main": {PoolURL: "https://pool.example.org", MinPayoutSat: 10 * 100_000_000, FeeBps: 100}, "test": {PoolURL: "http://testpool.example.org", PoolPort: 8080}},
		Now:       func() time.Time { return now },
		EventPoll: 10 * time.Millisecond,
	}, r)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	return &fixture{h: h, now: now, srv: srv, web: wh, read: r}
}

func (f *fixture) get(t *testing.T, path string) (int, string, http.Header) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(f.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header
}

// richMiner is the miner with the most credits (its pages have every section).
func (f *fixture) richMiner() *ledgergen.Miner {
	var best *ledgergen.Miner
	for _, m := range f.h.Expected.Miners {
		if best == nil || m.CreditedSat > best.CreditedSat || (m.CreditedSat == best.CreditedSat && m.Address < best.Address) {
			best = m
		}
	}
	return best
}

func TestPages_Render(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testPagesRender(t, newFixtureOn(t, i))
		})
	}
}

func testPagesRender(t *testing.T, f *fixture) {
	m := f.richMiner()
	var block *ledgergen.Block
	for _, b := range f.h.Expected.Blocks {
		if block == nil || b.Height > block.Height {
			block = b
		}
	}
	var txid string
	for _, p := range f.h.Expected.Payouts {
		if p.TxID != "" {
			txid = p.TxID
		}
	}
	var rejectedReason string
	for r := range f.h.Expected.RejectedByReason {
		rejectedReason = r
	}
	_ = rejectedReason
	// A corrected payout, and a signed one whose first transaction died.
	var corrected, redone uuid.UUID
	var dead string
	for id, p := range f.h.Ledger.Network("main").Payouts {
		if p.Status == "corrected" {
			corrected = id
		}
		if len(p.Dead) > 0 && p.TxID != "" {
			redone, dead = id, p.Dead[0]
		}
	}
	if corrected == uuid.Nil || redone == uuid.Nil {
		t.Fatalf("the generated history lacks a corrected payout (%s) or a dead transaction (%s)", corrected, redone)
	}
	tests := []struct {
		path   string
		status int
		want   []string
	}{
		{"/main/", 200, []string{"Purepool", `name="address"`, commas(strconv.FormatInt(f.h.Expected.ChainHeight, 10)), "Last pool blocks", "Pool hash rate", `<svg class="chart rate"`}},
		{"/main/howtojoin", 200, []string{"pool=https://pool.example.org\n", "workerid=&lt;your-biblepay-address&gt;", "gen=1", "genproclimit=1", "workerid=B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH/rig01", "10.00000000 BBP", "1.00%"}},
		{"/test/howtojoin", 200, []string{"pool=http://testpool.example.org\n", "poolport=8080"}},
		{"/main/statistics", 200, []string{"<svg", "Top miners", "Last 50 pool blocks", block.Hash[:8], `id="forecast"`,
			"Latest public anchor of the ledger", `<p class="muted" id="anchor">No payout transaction has carried`, `id="pool-id">` + f.h.Ledger.PoolID.String()}},
		{"/main/blocks", 200, []string{block.Hash[:8], "status-" + block.Status, bbpText(block.RewardSat), `data-label="Effort"`}},
		{"/main/payouts", 200, []string{txid, `class="status-corrected">corrected<`, `href="/main/payout/` + corrected.String() + `"`}},
		{"/main/payout/" + corrected.String(), 200, []string{`class="status-corrected">corrected`, "reconciled with another payout&#39;s transaction"}},
		{"/main/payout/" + redone.String(), 200, []string{`<table id="transactions"`, dead, `class="status-dead">dead</span>`}},
		{"/main/payout/" + uuid.NewString(), 404, []string{"no payout"}},
		{"/main/miner/" + m.Address, 200, []string{m.Address, `id="balance">` + bbpText(m.BalanceSat) + "<", `id="immature">`, `id="next-payout-text"`, m.Workers[0], "<svg", "block ", "of the round&#39;s work"}},
		{"/main/miner/" + m.Address + "/statement", 200, []string{bbpText(m.BalanceSat), "statement.csv", "Round shares"}},
		{"/", 302, nil},
		{"/nosuchnet/", 404, []string{"does not serve network"}},
		{"/main/miner/notanaddress", 404, []string{"is not a main address"}},
		{"/main/miner/B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", 404, []string{"no miner"}},
		{"/main/blocks?page=0", 400, []string{"page must be"}},
		{"/main/nosuchpage", 404, nil},
		{"/static/style.css", 200, []string{"svg.chart"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			status, body, _ := f.get(t, tt.path)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %.300s", status, tt.status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q", w)
				}
			}
		})
	}
	// A miner with rejections shows them per worker and reason.
	for _, mm := range f.h.Expected.Miners {
		if mm.Rejected == 0 {
			continue
		}
		_, body, _ := f.get(t, "/main/miner/"+mm.Address)
		found := false
		for r := range f.h.Expected.RejectedByReason {
			found = found || strings.Contains(body, "<code>"+r+"</code>")
		}
		if !found {
			t.Errorf("miner %s has %d rejections but the page shows no reason", mm.Address, mm.Rejected)
		}
		break
	}
}

func TestHome_SearchRedirects(t *testing.T) {
	f := newFixture(t)
	m := f.richMiner()
	status, _, hdr := f.get(t, "/main/?address="+m.Address+"/rig01")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/main/miner/"+m.Address {
		t.Fatalf("search: %d to %q", status, hdr.Get("Location"))
	}
	status, body, _ := f.get(t, "/main/?address=yNotMain")
	if status != http.StatusBadRequest || !strings.Contains(body, "is not a main address") {
		t.Fatalf("bad search: %d %.200s", status, body)
	}
}

// Purepool's API field names, from purepool/frontend/views.py.
func TestAPI_PurepoolFieldNames(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testAPIPurepool(t, newFixtureOn(t, i))
		})
	}
}

func testAPIPurepool(t *testing.T, f *fixture) {
	status, body, _ := f.get(t, "/main/api/statistics")
	if status != 200 {
		t.Fatalf("statistics: %d %s", status, body)
	}
	var stats map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"network", "days", "current_height", "all_blocks", "pool_blocks", "pool_blocks_percent", "bbp_mined", "miners_count"} {
		if _, ok := stats[k]; !ok {
			t.Errorf("api/statistics lacks Purepool's field %q", k)
		}
	}
	// Values: the last 24 hours of the generated history.
	since := f.now.Add(-24 * time.Hour)
	var poolBlocks, chainBlocks, rewardSat int64
	chain := map[int64]time.Time{} // the block recorded last at each height (a reorganisation replaces one)
	for _, env := range f.h.Envelopes {
		ev, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case events.BlockDiscovered:
			if !e.At.Before(since) {
				poolBlocks++
				rewardSat += e.RewardSat
			}
		case events.ChainBlockRecorded:
			chain[e.Height] = e.Time
		}
	}
	for _, t := range chain {
		if !t.Before(since) {
			chainBlocks++
		}
	}
	var got web.StatisticsResponse
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Network != "main" || got.Days != 1 || got.CurrentHeight != f.h.Expected.ChainHeight || got.PoolBlocks != poolBlocks ||
		got.AllBlocks != chainBlocks || got.BBPMinedSat != rewardSat || (poolBlocks > 0 && (got.BBPMined == nil || *got.BBPMined != rewardSat/100_000_000)) {
		t.Errorf("statistics %+v; want pool blocks %d, chain blocks %d, reward %d", got, poolBlocks, chainBlocks, rewardSat)
	}
	if chainBlocks == 0 || poolBlocks == 0 {
		t.Fatalf("fixture has no blocks in the last day (%d, %d)", chainBlocks, poolBlocks)
	}
	status, body, _ = f.get(t, "/main/api/block_subsidysum/1")
	var sum map[string]json.RawMessage
	if status != 200 || json.Unmarshal([]byte(body), &sum) != nil {
		t.Fatalf("subsidysum: %d %s", status, body)
	}
	for _, k := range []string{"sum", "count"} {
		if _, ok := sum[k]; !ok {
			t.Errorf("api/block_subsidysum lacks Purepool's field %q", k)
		}
	}
	if string(sum["count"]) != strconv.FormatInt(poolBlocks, 10) || string(sum["sum"]) != strconv.FormatInt(rewardSat/100_000_000, 10) {
		t.Errorf("subsidysum %s, want count %d sum %d", body, poolBlocks, rewardSat/100_000_000)
	}
	// An empty window: Purepool's Sum() of nothing is null.
	status, body, _ = f.get(t, "/main/api/block_subsidysum/0")
	if status != 200 || !strings.Contains(body, `"sum": null`) || !strings.Contains(body, `"count": 0`) {
		t.Errorf("empty subsidysum: %d %s", status, body)
	}
	if status, _, _ := f.get(t, "/main/api/block_subsidysum/x"); status != 404 {
		t.Errorf("non-integer days: %d, want 404 like Purepool's int converter", status)
	}
}

func TestAPI_PagedEndpoints(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testAPIPaged(t, newFixtureOn(t, i))
		})
	}
}

func testAPIPaged(t *testing.T, f *fixture) {
	m := f.richMiner()
	var blocks web.Page[web.APIBlock]
	getJSON(t, f, "/main/api/blocks?limit=5&page=2", &blocks)
	all := make([]*ledgergen.Block, 0)
	for _, b := range f.h.Expected.Blocks {
		all = append(all, b)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Height > all[j].Height })
	if len(blocks.Items) != 5 || blocks.Items[0].Hash != all[5].Hash || blocks.Items[0].Status != all[5].Status {
		t.Fatalf("blocks page 2: %+v", blocks)
	}
	var one web.APIBlock
	getJSON(t, f, "/main/api/blocks/"+all[0].Hash, &one)
	if one.Hash != all[0].Hash || one.RewardSat != all[0].RewardSat {
		t.Fatalf("block: %+v", one)
	}
	var payouts web.Page[web.APIPayout]
	getJSON(t, f, "/main/api/payouts?limit=500", &payouts)
	if len(payouts.Items) != len(f.h.Expected.Payouts) {
		t.Fatalf("%d payouts, want %d", len(payouts.Items), len(f.h.Expected.Payouts))
	}
	for _, p := range payouts.Items {
		want := f.h.Expected.Payouts[mustUUID(t, p.PayoutID)]
		if p.Status != want.Status || p.TxID != want.TxID || p.TotalSat != want.TotalSat {
			t.Errorf("payout %s: %+v want %+v", p.PayoutID, p, want)
		}
		var full web.APIPayout
		getJSON(t, f, "/main/api/payouts/"+p.PayoutID, &full)
		if len(full.Items) != len(want.Items) {
			t.Errorf("payout %s has %d items, want %d", p.PayoutID, len(full.Items), len(want.Items))
		}
		// Its transactions and fee as the backend's own fold has them.
		fold := f.h.Ledger.Network("main").Payouts[mustUUID(t, p.PayoutID)]
		var dead []string
		for _, tx := range full.Transactions {
			if tx.Dead {
				dead = append(dead, tx.TxID)
			}
		}
		if full.FeeSat != fold.FeeSat || full.Attempts != int64(fold.Attempts()) || len(full.Transactions) != fold.Attempts() ||
			strings.Join(dead, ",") != strings.Join(fold.Dead, ",") || full.Settled != fold.Settled() {
			t.Errorf("payout %s: %+v; the backend's fold: %s fee %d, dead %v", p.PayoutID, full, fold.Status, fold.FeeSat, fold.Dead)
		}
		if fold.Status == "corrected" && (full.ReturnedAt.IsZero() || !strings.Contains(full.Reason, fold.Reason)) {
			t.Errorf("corrected payout %s: %+v, reason %q", p.PayoutID, full, fold.Reason)
		}
		if fold.Signed != nil && fold.Signed.TxID == full.TxID {
			for i, it := range full.Items {
				if it.SentSat == 0 {
					t.Errorf("payout %s: item %d has no on-chain amount", p.PayoutID, i)
				}
			}
		}
	}
	var miner web.APIMiner
	getJSON(t, f, "/main/api/miner/"+m.Address, &miner)
	if miner.BalanceSat != m.BalanceSat || miner.Shares != m.Shares || miner.Balance != projections.FormatBBP(m.BalanceSat) {
		t.Fatalf("miner: %+v want %+v", miner, m)
	}
	var pool web.APIPool
	getJSON(t, f, "/main/api/pool", &pool)
	if pool.Shares != f.h.Expected.Shares || pool.PaidSat != f.h.Expected.PaidSat || pool.FeeSat != f.h.Expected.FeeSat ||
		pool.PoolID != f.h.Ledger.PoolID.String() || pool.LatestAnchor != nil {
		t.Fatalf("pool: %+v", pool)
	}
	// The pool's hash rate: the last rate of each worker with a share in
	// the last 15 minutes.
	last := map[string]events.SolutionAccepted{}
	for _, env := range f.h.Envelopes {
		if env.Type == events.TypeSolutionAccepted {
			ev, _ := events.Decode(env)
			e := ev.(events.SolutionAccepted)
			last[e.MinerID.String()+"/"+e.Worker] = e
		}
	}
	var hps, workers int64
	for _, e := range last {
		if !e.At.Before(f.now.Add(-15 * time.Minute)) {
			hps += e.HashrateHPS
			workers++
		}
	}
	if workers == 0 || pool.HashrateHPS != hps || pool.ActiveWorkers != workers {
		t.Fatalf("pool hash rate %d from %d workers, want %d from %d", pool.HashrateHPS, pool.ActiveWorkers, hps, workers)
	}
	if status, body, _ := f.get(t, "/main/api/miner/B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"); status != 404 || !strings.Contains(body, `"error"`) {
		t.Fatalf("unknown miner: %d %s", status, body)
	}
	if status, _, _ := f.get(t, "/main/api/blocks?limit=501"); status != 400 {
		t.Fatalf("limit 501: %d", status)
	}
}

func getJSON(t *testing.T, f *fixture, path string, v any) {
	t.Helper()
	status, body, hdr := f.get(t, path)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: %d %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// The statement's lines add up to the balance, in the CSV and the JSON.
func TestStatement_SumsToBalance(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testStatement(t, newFixtureOn(t, i))
		})
	}
}

func testStatement(t *testing.T, f *fixture) {
	for _, m := range f.h.Expected.Miners {
		status, body, hdr := f.get(t, "/main/miner/"+m.Address+"/statement.csv")
		if status != 200 || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv: %d %v", status, hdr)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		for _, r := range rows[1:] {
			v, err := strconv.ParseInt(r[10], 10, 64)
			if err != nil {
				t.Fatalf("amount_sat %q: %v", r[10], err)
			}
			sum += v
		}
		if sum != m.BalanceSat {
			t.Errorf("%s: CSV amounts sum to %d, balance %d", m.Address, sum, m.BalanceSat)
		}
		var st web.Statement
		getJSON(t, f, "/main/miner/"+m.Address+"/statement.json", &st)
		var credits int64
		for _, c := range st.Credits {
			credits += c.AmountSat
			if c.Amount != projections.FormatBBP(c.AmountSat) || !strings.HasSuffix(c.SharePercent, "%") || c.RoundShares < c.MinerShares {
				t.Errorf("credit line %+v", c)
			}
		}
		if credits != m.CreditedSat || st.BalanceSat != m.BalanceSat {
			t.Errorf("%s: JSON credits %d (want %d), balance %d (want %d)", m.Address, credits, m.CreditedSat, st.BalanceSat, m.BalanceSat)
		}
		var paged web.Statement
		getJSON(t, f, "/main/api/miner/"+m.Address+"/statement?limit=2&page=1", &paged)
		if len(paged.Credits) > 2 || len(paged.Payouts) > 2 {
			t.Errorf("paged statement returned %d credits, %d payouts", len(paged.Credits), len(paged.Payouts))
		}
	}
}

func TestEvents_StreamsBlocksAndPayouts(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			testEvents(t, newFixtureOn(t, i))
		})
	}
}

func testEvents(t *testing.T, f *fixture) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/main/api/events?since="+f.h.Config.Start.Format(time.RFC3339), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var kind string
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "event: "); ok {
			kind = k
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			var v map[string]any
			if err := json.Unmarshal([]byte(d), &v); err != nil {
				t.Fatalf("event data %q: %v", d, err)
			}
			seen[kind]++
		}
		if seen["block"] == len(f.h.Expected.Blocks) && seen["payout"] >= len(f.h.Expected.Payouts) {
			break
		}
	}
	if seen["block"] != len(f.h.Expected.Blocks) || seen["payout"] < len(f.h.Expected.Payouts) {
		t.Fatalf("saw %v, want %d blocks and %d payouts", seen, len(f.h.Expected.Blocks), len(f.h.Expected.Payouts))
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	f.get(t, "/main/statistics")
	status, body, _ := f.get(t, "/metrics")
	if status != 200 || !strings.Contains(body, `purepool_web_requests_total{code="200",route="/{network}/statistics"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("metrics: %d %.2000s", status, body)
	}
}

func TestNewHandler_RejectsBadPoolURL(t *testing.T) {
	for _, u := range []string{"pool.example.org", "http://pool.example.org/", "http://pool.example.org:8080", "ftp://x"} {
		if _, err := web.NewHandler(web.Config{Networks: map[string]web.Network{"main": {PoolURL: u}}}, nil); err == nil {
			t.Errorf("pool URL %q accepted", u)
		}
	}
}

func TestForecast(t *testing.T) {
	at := func(h int) time.Time { return time.Date(2026, 11, 25, h, 30, 0, 0, time.UTC) }
	for _, c := range []struct {
		y, d int64
		now  time.Time
		want int64
	}{
		{0, 0, at(0), 0},
		{24, 0, at(0), 24},   // 24 blocks in 24 hours
		{20, 10, at(12), 20}, // 30 in 36 h → 20 a day
		{5, 2, at(23), 4},    // 7 in 47 h → 3.57 → 4
		{1, 0, at(23), 1},    // 24/47 = 0.51 → 1
		{0, 1, at(0), 1},
	} {
		if got := web.Forecast(c.y, c.d, c.now); got != c.want {
			t.Errorf("Forecast(%d, %d, %s) = %d, want %d", c.y, c.d, c.now, got, c.want)
		}
	}
}

func mustUUID(t *testing.T, s string) uuid.UUID {
	t.Helper()
	u, err := uuid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// A fresh pool with an empty read model renders every page.
func TestPages_EmptyReadModel(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			writer, ro := readModels[i].open(t)
			f := serve(t, history(), projections.NewReader(ro, writer.Dialect))
			for _, p := range []string{"/main/", "/main/statistics", "/main/blocks", "/main/payouts", "/main/howtojoin", "/main/api/pool", "/main/api/blocks", "/main/api/payouts"} {
				if status, body, _ := f.get(t, p); status != 200 {
					t.Errorf("%s: %d %.300s", p, status, body)
				}
			}
			_, body, _ := f.get(t, "/main/api/statistics")
			for _, want := range []string{`"bbp_mined": null`, `"pool_blocks_percent": 0`, `"current_height": 0`, `"miners_count": 0`} {
				if !strings.Contains(body, want) {
					t.Errorf("empty statistics lack %s: %s", want, body)
				}
			}
		})
	}
}
