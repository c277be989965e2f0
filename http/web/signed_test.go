package web_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
)

// signedPayouts is a log of signed payouts on main:
//
//	A  planned with an anchor (events 1..3); signed (tx1), tx1 dead,
//	   signed again (tx2), sent, confirmed: the latest public anchor
//	B  sent by sendmany in txB (an earlier release), corrected
//	C  planned with a larger anchor (1..9), signed (tx3) only: not public
type signedPayouts struct {
	evs                []events.Event
	pool, a, b, c      uuid.UUID
	alice, bob         string
	aliceID, bobID     uuid.UUID
	tx1, tx2, tx3, txB string
	items              []events.PayoutItem
	sends2, sends3     []events.PayoutItem
	now                time.Time
}

func hex64(c string) string { return strings.Repeat(c, 64) }

func newSignedPayouts(t *testing.T) *signedPayouts {
	t.Helper()
	ms := history().Miners
	s := &signedPayouts{pool: uuid.New(), a: uuid.New(), b: uuid.New(), c: uuid.New(), alice: ms[0].Address, bob: ms[1].Address,
		tx1: hex64("1"), tx2: hex64("2"), tx3: hex64("3"), txB: hex64("b")}
	s.aliceID, s.bobID = events.MinerID("main", s.alice), events.MinerID("main", s.bob)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	s.now = t0.Add(time.Hour)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	split := func(fee int64) []events.PayoutItem {
		out, err := aggregates.SplitFee(s.items, fee)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	add := func(e ...events.Event) { s.evs = append(s.evs, e...) }
	add(events.PoolInstalled{PoolID: s.pool, At: at(0)})
	for _, m := range []struct {
		id   uuid.UUID
		addr string
	}{{s.aliceID, s.alice}, {s.bobID, s.bob}} {
		add(events.MinerRegistered{Network: "main", MinerID: m.id, Address: m.addr, At: at(0)},
			events.MinerCredited{Network: "main", MinerID: m.id, Address: m.addr, BlockHash: hex64("e"), Height: 10, RewardSat: 20_000_000_000,
				RoundShares: 2, RoundDifficulty: 2, MinerShares: 1, MinerDifficulty: 1, AmountSat: 10_000_000_000, At: at(1)})
	}
	s.items = []events.PayoutItem{{MinerID: s.aliceID, Address: s.alice, AmountSat: 3_000_000_001}, {MinerID: s.bobID, Address: s.bob, AmountSat: 1_000_000_000}}
	const total = 4_000_000_001
	s.sends2, s.sends3 = split(4519), split(3001)
	in := []events.OutPoint{{TxID: hex64("f"), Vout: 1}}
	add(
		events.PayoutPlanned{Network: "main", PayoutID: s.a, Items: s.items, TotalSat: total, PoolID: s.pool,
			Anchor: &events.LogAnchor{Size: 3, Root: hex64("a"), Hash: hex64("d")}, At: at(2)},
		events.PayoutSigned{Network: "main", PayoutID: s.a, TxID: s.tx1, Hex: "0100", Inputs: in, FeeSat: 2260, Sends: split(2260), Attempt: 1, At: at(3)},
		events.PayoutTxDead{Network: "main", PayoutID: s.a, TxID: s.tx1, SpentInput: hex64("f") + ":1", Reason: "input spent by another transaction", At: at(4)},
		events.PayoutSigned{Network: "main", PayoutID: s.a, TxID: s.tx2, Hex: "0100", Inputs: in, FeeSat: 4519, Sends: s.sends2, Attempt: 2, At: at(5)},
		events.PayoutSent{Network: "main", PayoutID: s.a, TxID: s.tx2, FeeSat: 4519, At: at(6)},
		events.PayoutConfirmed{Network: "main", PayoutID: s.a, TxID: s.tx2, Confirmations: 6, At: at(7)},

		events.PayoutPlanned{Network: "main", PayoutID: s.b, Items: s.items, TotalSat: total, At: at(8)},
		events.PayoutSent{Network: "main", PayoutID: s.b, TxID: s.txB, FeeSat: 2260, Reconciled: true, At: at(9)},
		events.PayoutCorrected{Network: "main", PayoutID: s.b, TxID: s.txB, Reason: "reconciled with another payout's transaction", At: at(10)},

		events.PayoutPlanned{Network: "main", PayoutID: s.c, Items: s.items, TotalSat: total, PoolID: s.pool,
			Anchor: &events.LogAnchor{Size: 9, Root: hex64("c"), Hash: hex64("e")}, At: at(11)},
		events.PayoutSigned{Network: "main", PayoutID: s.c, TxID: s.tx3, Hex: "0100", Inputs: in, FeeSat: 3001, Sends: s.sends3, Attempt: 1, At: at(12)},
	)
	return s
}

func newSignedFixture(t *testing.T, i int) (*fixture, *signedPayouts) {
	t.Helper()
	writer, ro := readModels[i].open(t)
	s := newSignedPayouts(t)
	var envs []events.Envelope
	for i, e := range s.evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Position: uint64(i + 1), Stream: "s", Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, Data: ne.Data, RecordedAt: time.Now().UTC()})
	}
	if cp, err := writer.ApplyBatch(context.Background(), 0, envs); err != nil || cp != uint64(len(envs)) {
		t.Fatalf("project: %d, %v", cp, err)
	}
	wh, err := web.NewHandler(web.Config{
		Networks:  map[string]web.Network{"main": {PoolURL: "https://pool.example.org", MinPayoutSat: 100_000_000, FeeBps: 100}},
		Now:       func() time.Time { return s.now },
		EventPoll: 10 * time.Millisecond,
	}, projections.NewReader(ro, writer.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	t.Cleanup(srv.Close)
	return &fixture{now: s.now, srv: srv, web: wh}, s
}

// The API and the website show signed payouts (their signed and dead
// transactions, what each recipient gets on the chain), a corrected
// payout with its reason and the amounts back in the balances, the
// pool's id, and the latest public anchor of the ledger with the
// transaction that carries it.
func TestSignedPayouts_APIAndPages(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			f, s := newSignedFixture(t, i)
			testSignedPayouts(t, f, s)
		})
	}
}

func testSignedPayouts(t *testing.T, f *fixture, s *signedPayouts) {
	// /api/pool: the pool id, and A's head (C's larger one is only signed).
	var pool web.APIPool
	getJSON(t, f, "/main/api/pool", &pool)
	if pool.PoolID != s.pool.String() || pool.LatestAnchor == nil {
		t.Fatalf("pool id %q, latest anchor %+v", pool.PoolID, pool.LatestAnchor)
	}
	if a := pool.LatestAnchor; a.Size != 3 || a.Root != hex64("a") || a.Hash != hex64("d") || a.TxID != s.tx2 || a.PayoutID != s.a.String() ||
		a.Status != "confirmed" || a.Confirmations != 6 {
		t.Errorf("latest anchor %+v", a)
	}
	_, body, _ := f.get(t, "/main/api/pool")
	for _, want := range []string{`"pool_id": "` + s.pool.String() + `"`, `"latest_anchor": {`, `"size": 3`, `"root": "` + hex64("a") + `"`, `"txid": "` + s.tx2 + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/api/pool lacks %s: %s", want, body)
		}
	}

	// The statistics page: the latest public anchor, with its transaction.
	status, body, _ := f.get(t, "/main/statistics")
	if status != 200 {
		t.Fatalf("statistics: %d", status)
	}
	for _, want := range []string{"Latest public anchor of the ledger", `id="anchor-size">1 to 3<`, `id="anchor-root">` + hex64("a") + "<",
		`id="anchor-txid">` + s.tx2 + "<", `href="/main/payout/` + s.a.String() + `"`, `id="pool-id">` + s.pool.String() + "<"} {
		if !strings.Contains(body, want) {
			t.Errorf("statistics page lacks %s", want)
		}
	}
	if strings.Contains(body, s.tx3) || strings.Contains(body, hex64("c")) {
		t.Error("the statistics page shows the head of a payout only signed as the latest public anchor")
	}

	// A: confirmed in its second transaction; the first is listed dead.
	var a web.APIPayout
	getJSON(t, f, "/main/api/payouts/"+s.a.String(), &a)
	if a.Status != "confirmed" || a.TxID != s.tx2 || a.FeeSat != 4519 || a.Attempts != 2 || !a.Settled || a.PoolID != s.pool.String() ||
		a.Anchor == nil || a.Anchor.Size != 3 || a.Anchor.Root != hex64("a") {
		t.Errorf("payout A: %+v", a)
	}
	if len(a.Transactions) != 2 || a.Transactions[0].TxID != s.tx1 || !a.Transactions[0].Dead || a.Transactions[0].SpentInput != hex64("f")+":1" ||
		a.Transactions[0].Reason != "input spent by another transaction" || a.Transactions[0].DeadAt.IsZero() ||
		a.Transactions[1].TxID != s.tx2 || a.Transactions[1].Dead || a.Transactions[1].Attempt != 2 {
		t.Errorf("payout A's transactions: %+v", a.Transactions)
	}
	checkAPISends(t, "payout A", a, s.sends2)

	// C: signed, not settled, its signed transaction's txid and fee.
	var c web.APIPayout
	getJSON(t, f, "/main/api/payouts/"+s.c.String(), &c)
	if c.Status != "signed" || c.TxID != s.tx3 || c.FeeSat != 3001 || c.Settled || c.Attempts != 1 || len(c.Transactions) != 1 || c.Transactions[0].Dead {
		t.Errorf("payout C: %+v", c)
	}
	checkAPISends(t, "payout C", c, s.sends3)

	// B: corrected, with its reason; no on-chain amounts (sendmany).
	var b web.APIPayout
	getJSON(t, f, "/main/api/payouts/"+s.b.String(), &b)
	if b.Status != "corrected" || b.TxID != s.txB || !b.Settled || b.ReturnedAt.IsZero() || !strings.Contains(b.Reason, "reconciled with another payout's transaction") ||
		b.Anchor != nil || b.PoolID != "" || len(b.Transactions) != 0 {
		t.Errorf("payout B: %+v", b)
	}
	checkAPISends(t, "payout B", b, nil)

	// The list and the payout pages.
	_, body, _ = f.get(t, "/main/payouts")
	for _, want := range []string{`class="status-signed">signed<`, `class="status-corrected">corrected<`, `href="/main/payout/` + s.c.String() + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("payouts page lacks %s", want)
		}
	}
	for _, pg := range []struct {
		id   uuid.UUID
		want []string
	}{
		{s.a, []string{`id="status" class="status-confirmed">confirmed`, `id="txid"><span class="hash">` + s.tx2, `<table id="transactions"`, `class="status-dead">dead</span>`,
			s.tx1, "input spent by another transaction", bbpText(s.sends2[0].AmountSat), "events 1 to 3"}},
		{s.b, []string{`class="status-corrected">corrected`, "does not pay it", "reconciled with another payout&#39;s transaction", "Amounts returned"}},
		{s.c, []string{`class="status-signed">signed`, `id="txid"><span class="hash">` + s.tx3, bbpText(3001), bbpText(s.sends3[1].AmountSat)}},
	} {
		status, body, _ := f.get(t, "/main/payout/"+pg.id.String())
		if status != 200 {
			t.Fatalf("payout page %s: %d %.300s", pg.id, status, body)
		}
		for _, w := range pg.want {
			if !strings.Contains(body, w) {
				t.Errorf("payout page %s lacks %q", pg.id, w)
			}
		}
	}
	for _, p := range []string{"/main/payout/" + uuid.NewString(), "/main/payout/nope"} {
		if status, _, _ := f.get(t, p); status != 404 {
			t.Errorf("%s: %d, want 404", p, status)
		}
	}

	// Each recipient: the correction's ledger entry with the reason, and
	// the statements add up to the balance with a line returning B.
	for _, it := range s.items {
		var m web.APIMiner
		getJSON(t, f, "/main/api/miner/"+it.Address, &m)
		if want := 10_000_000_000 - 2*it.AmountSat; m.BalanceSat != want || m.PaidSat != 2*it.AmountSat {
			t.Errorf("%s: balance %d paid %d, want %d and %d (B's amount back)", it.Address, m.BalanceSat, m.PaidSat, want, 2*it.AmountSat)
		}
		_, body, _ := f.get(t, "/main/miner/"+it.Address)
		if !strings.Contains(body, "payout_corrected") || !strings.Contains(body, "reconciled with another payout&#39;s transaction") {
			t.Errorf("%s: the ledger lacks the correction", it.Address)
		}
		_, body, _ = f.get(t, "/main/miner/"+it.Address+"/statement.csv")
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		var sum int64
		corrections := 0
		for _, r := range rows[1:] {
			v, err := strconv.ParseInt(r[10], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sum += v
			if r[0] == "payout_corrected" {
				corrections++
				if v != it.AmountSat || r[11] != s.b.String() || !strings.Contains(r[14], "reconciled with another payout's transaction") {
					t.Errorf("%s: correction line %v", it.Address, r)
				}
			}
		}
		if rows[0][14] != "note" || sum != m.BalanceSat || corrections != 1 {
			t.Errorf("%s: CSV sums to %d (balance %d), %d correction lines: %v", it.Address, sum, m.BalanceSat, corrections, rows)
		}
		var st web.Statement
		getJSON(t, f, "/main/miner/"+it.Address+"/statement.json", &st)
		for _, p := range st.Payouts {
			if (p.PayoutID == s.b.String()) != (p.Returned && p.Status == "corrected" && !p.ReturnedAt.IsZero() && strings.Contains(p.Reason, "reconciled")) {
				t.Errorf("%s: statement payout %+v", it.Address, p)
			}
		}
		_, body, _ = f.get(t, "/main/miner/"+it.Address+"/statement")
		if !strings.Contains(body, "returned to your balance") || !strings.Contains(body, "(correction)") {
			t.Errorf("%s: the statement page does not say the correction returned the amount", it.Address)
		}
	}
}

// The live stream sends each payout change once: a signature is a
// change (C), and is not sent again at every poll.
func TestSignedPayouts_EventStream(t *testing.T) {
	f, s := newSignedFixture(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/main/api/events?since="+s.now.Add(-2*time.Hour).Format(time.RFC3339), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	seen := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() { // until the timeout ends the stream: many polls
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			seen[id]++
		}
	}
	want := []string{s.a.String() + "/confirmed", s.b.String() + "/corrected", s.c.String() + "/signed"}
	if len(seen) != len(want) {
		t.Errorf("payout events %v, want %v once each", seen, want)
	}
	for _, id := range want {
		if seen[id] != 1 {
			t.Errorf("payout event %s sent %d times, want once (all: %v)", id, seen[id], seen)
		}
	}
}

func checkAPISends(t *testing.T, what string, p web.APIPayout, sends []events.PayoutItem) {
	t.Helper()
	by := map[string]int64{}
	for _, s := range sends {
		by[s.Address] = s.AmountSat
	}
	if len(p.Items) != 2 {
		t.Fatalf("%s: items %+v", what, p.Items)
	}
	for _, it := range p.Items {
		if it.SentSat != by[it.Address] || (it.SentSat != 0 && it.Sent != projections.FormatBBP(it.SentSat)) {
			t.Errorf("%s: %s sent %d (%q), want %d", what, it.Address, it.SentSat, it.Sent, by[it.Address])
		}
	}
}
