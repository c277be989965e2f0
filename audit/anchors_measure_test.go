package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/purepool/purepool/anchor/anchortest"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
)

// TestAnchorFigures measures issue 14's figures
// (docs/measurements/issue-14-anchors.md); it takes minutes:
//
//	PUREPOOL_STRESS=1 go test ./audit -run TestAnchorFigures -v -timeout 60m
//
// PUREPOOL_ANCHOR_EVENTS sets the size of the logs (default 1,000,000).
//
//   - A: the audit's throughput with the anchors checked, as a ratio to
//     the store's read-all in the same run, on the audit benchmark's
//     history (bench_test.go) loaded twice into SQLite: with every payout
//     anchored (anchortest.Load) and as generated (no anchors).
//   - B: the size of one statement line's proof on that log.
//   - C: the time verify-statement takes for a miner with 10,000 lines: a
//     history of few miners and a pool block every chain block, its payouts
//     paid on a simulated node in transactions carrying the anchors; the
//     statement is the miner's first 10,000 lines.
func TestAnchorFigures(t *testing.T) {
	if os.Getenv("PUREPOOL_STRESS") == "" {
		t.Skip("PUREPOOL_STRESS=1 measures issue 14's figures (minutes)")
	}
	n := 1_000_000
	if s := os.Getenv("PUREPOOL_ANCHOR_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	ctx := context.Background()
	defer debug.SetGCPercent(debug.SetGCPercent(400)) // as `purepool audit` runs
	t.Logf("GOMAXPROCS %d, %s", runtime.GOMAXPROCS(0), runtime.Version())

	open := func(name string) *sqlite.Store {
		s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return s
	}

	// A. Throughput.
	start := time.Now()
	h := ledgergen.Generate(ledgergen.Config{Seed: 99, Events: n, Miners: 50, SharesPerBlock: 40})
	t.Logf("A: generated %d events (the audit benchmark's history) in %v", len(h.Envelopes), time.Since(start))
	plain, anchored := open("plain.db"), open("anchored.db")
	start = time.Now()
	if err := h.AppendTo(ctx, plain, 5000); err != nil {
		t.Fatal(err)
	}
	t.Logf("A: loaded as generated into SQLite in %v", time.Since(start))
	start = time.Now()
	heads, err := anchortest.Load(ctx, anchored, h.Envelopes, testPool, nil, 5000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A: loaded with %d anchored payouts into SQLite in %v", len(heads), time.Since(start))
	addr := h.Miners[0].Address
	h = nil
	runtime.GC()
	type rates struct{ read, audit []float64 }
	measure := map[string]*rates{"plain": {}, "anchored": {}}
	var nEvents uint64
	for round := 1; round <= 5; round++ {
		for _, c := range []struct {
			name string
			s    *sqlite.Store
		}{{"plain", plain}, {"anchored", anchored}} {
			runtime.GC()
			t0 := time.Now()
			got, err := audit.ReadAllEvents(ctx, c.s, 5000)
			if err != nil {
				t.Fatal(err)
			}
			read := time.Since(t0)
			runtime.GC()
			t0 = time.Now()
			rep, err := audit.Run(ctx, c.s, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			run := time.Since(t0)
			nEvents = rep.Events
			anch := 0
			if rep.Anchors != nil {
				anch = rep.Anchors.Anchored
			}
			m := measure[c.name]
			m.read = append(m.read, float64(got)/read.Seconds())
			m.audit = append(m.audit, float64(rep.Events)/run.Seconds())
			t.Logf("A: round %d %-8s read-all %d events in %v (%.0f/s); audit %v (%.0f/s) = %.3f × read-all; %d anchors checked, %d violations",
				round, c.name, got, read.Round(time.Millisecond), m.read[len(m.read)-1], run.Round(time.Millisecond), m.audit[len(m.audit)-1],
				m.audit[len(m.audit)-1]/m.read[len(m.read)-1], anch, len(rep.Violations))
		}
	}
	median := func(xs []float64) float64 {
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		return s[len(s)/2]
	}
	for _, name := range []string{"plain", "anchored"} {
		m := measure[name]
		t.Logf("A: %-8s median read-all %.0f events/s, audit %.0f events/s: ratio %.3f (%d events)", name, median(m.read), median(m.audit),
			median(m.audit)/median(m.read), nEvents)
	}

	// B. Proof size of one line.
	rep, err := audit.Run(ctx, anchored, audit.Options{Statement: &audit.StatementRequest{Network: "main", Address: addr}})
	if err != nil {
		t.Fatal(err)
	}
	st := rep.Statement
	minH, maxH, sum, proven := 1<<30, 0, 0, 0
	var lineBytes, proofBytes int
	for _, l := range st.Lines {
		if l.Proof == nil {
			continue
		}
		k := len(l.Proof.Hashes)
		minH, maxH, sum, proven = min(minH, k), max(maxH, k), sum+k, proven+1
		b, _ := json.Marshal(l)
		p, _ := json.Marshal(l.Proof)
		lineBytes += len(b)
		proofBytes += len(p)
	}
	if proven == 0 {
		t.Fatal("no proven line")
	}
	var cons []int
	for _, a := range st.Anchors {
		cons = append(cons, len(a.Consistency))
	}
	sort.Ints(cons)
	latest := st.Anchors[len(st.Anchors)-1]
	t.Logf("B: %s: %d lines, %d proven under the head of size %d: %d–%d hashes per proof (mean %.1f) = %d–%d bytes of hashes; "+
		"JSON per line %.0f bytes, of which the proof %.0f; %d anchors, consistency proofs %d–%d hashes",
		addr, len(st.Lines), proven, latest.Size, minH, maxH, float64(sum)/float64(proven), 32*minH, 32*maxH,
		float64(lineBytes)/float64(proven), float64(proofBytes)/float64(proven), len(st.Anchors), cons[0], cons[len(cons)-1])

	// C. verify-statement for a miner with 10,000 lines.
	srv, c := anchorNode(t)
	cfg := ledgergen.Config{Network: "test", Seed: 14, Events: n, Miners: 4, SharesPerBlock: 10, PoolBlockEvery: 1, Send: fakeSend()}
	start = time.Now()
	h = ledgergen.Generate(cfg)
	t.Logf("C: generated %d events (4 miners, a pool block every chain block) in %v", len(h.Envelopes), time.Since(start))
	paid := open("paid.db")
	start = time.Now()
	heads, err = anchortest.Load(ctx, paid, h.Envelopes, testPool, anchortest.NodeSender(c,
		func(sat int64) error { _, err := srv.Node.Fund(sat); return err }, func() error { _, err := srv.Node.Generate(1); return err }), 5000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("C: loaded with %d anchored payouts, each paid on the simulated node, in %v", len(heads), time.Since(start))
	miners := h.Miners
	h = nil
	runtime.GC()
	start = time.Now()
	rep, err = audit.Run(ctx, paid, audit.Options{Wallet: c, Chain: c})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("C: audit --verify-chain: %d events, %d payout transactions read back, %d wallet sends, in %v; %d anchor violations",
		rep.Events, rep.Anchors.ChainChecked, rep.Anchors.WalletSends, time.Since(start), func() int { a, _ := anchorKinds(rep); return len(a) }())
	st = nil
	for _, m := range miners {
		start = time.Now()
		rep, err := audit.Run(ctx, paid, audit.Options{Chain: c, Statement: &audit.StatementRequest{Network: "test", Address: m.Address}})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("C: audit statement of %s (--node): %d lines in %v", m.Address, len(rep.Statement.Lines), time.Since(start))
		if st == nil || len(rep.Statement.Lines) > len(st.Lines) {
			st = rep.Statement
		}
	}
	if len(st.Lines) < 10_000 {
		t.Fatalf("the longest statement has %d lines", len(st.Lines))
	}
	first := *st
	first.Lines = st.Lines[:10_000]
	first.CreditedSat, first.ReversedSat, first.PaidSat, first.BalanceSat = 0, 0, 0, 0
	for _, l := range first.Lines {
		switch l.Kind {
		case audit.LineCredit:
			first.CreditedSat += l.AmountSat
		case audit.LineReversal:
			first.ReversedSat -= l.AmountSat
		default:
			first.PaidSat -= l.AmountSat
		}
		first.BalanceSat += l.AmountSat
	}
	var js bytes.Buffer
	if err := first.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	if dir := os.Getenv("PUREPOOL_ANCHOR_OUT"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "statement-10000.json"), js.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, mode := range []struct {
		name string
		opt  audit.VerifyOptions
	}{{"--node", audit.VerifyOptions{Node: c}}, {"the statement's transactions", audit.VerifyOptions{}}} {
		for round := 1; round <= 3; round++ {
			runtime.GC()
			t0 := time.Now()
			back, err := audit.ReadStatement(bytes.NewReader(js.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			read := time.Since(t0)
			v, err := audit.VerifyStatement(ctx, back, mode.opt)
			if err != nil {
				t.Fatal(err)
			}
			total := time.Since(t0)
			if !v.OK() {
				t.Fatalf("%s: %v", mode.name, v.Failures[:min(5, len(v.Failures))])
			}
			t.Logf("C: verify-statement with %s, round %d: %d lines (%d proven, %d unanchored), %d anchors: %v (reading %.1f MB of JSON %v)",
				mode.name, round, v.Lines, v.Proven, v.Unanchored, len(v.Heads), total.Round(time.Millisecond), float64(js.Len())/1e6, read.Round(time.Millisecond))
		}
	}
}

// TestAnchorOverheadInMemory isolates what checking the anchors costs the
// audit from the store's speed: the same 1,000,000-event history in
// memory, as generated and with every payout anchored (anchortest.Anchored),
// audited alternately five times each.
//
//	PUREPOOL_STRESS=1 go test ./audit -run TestAnchorOverheadInMemory -v -timeout 30m
func TestAnchorOverheadInMemory(t *testing.T) {
	if os.Getenv("PUREPOOL_STRESS") == "" {
		t.Skip("PUREPOOL_STRESS=1 measures issue 14's figures (minutes)")
	}
	n := 1_000_000
	if s := os.Getenv("PUREPOOL_ANCHOR_EVENTS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	ctx := context.Background()
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	h := ledgergen.Generate(ledgergen.Config{Seed: 99, Events: n, Miners: 50, SharesPerBlock: 40})
	anchored, err := anchortest.Anchored(h.Envelopes, testPool)
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]*ledgergen.History{"plain": {Envelopes: h.Envelopes}, "anchored": {Envelopes: anchored}}
	h.Ledger, h.Appends = nil, nil
	rates := map[string][]float64{}
	for round := 1; round <= 5; round++ {
		for _, name := range []string{"plain", "anchored"} {
			runtime.GC()
			t0 := time.Now()
			rep, err := audit.Run(ctx, logs[name], audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			d := time.Since(t0)
			rates[name] = append(rates[name], float64(rep.Events)/d.Seconds())
			anch := 0
			if rep.Anchors != nil {
				anch = rep.Anchors.Anchored
			}
			t.Logf("round %d %-8s %d events in %v (%.0f/s), %d anchors checked, %d anchor violations", round, name, rep.Events, d.Round(time.Millisecond),
				rates[name][len(rates[name])-1], anch, func() int { a, _ := anchorKinds(rep); return len(a) }())
		}
	}
	med := func(xs []float64) float64 { s := append([]float64(nil), xs...); sort.Float64s(s); return s[len(s)/2] }
	t.Logf("median: plain %.0f events/s, anchored %.0f events/s: anchored = %.3f × plain", med(rates["plain"]), med(rates["anchored"]),
		med(rates["anchored"])/med(rates["plain"]))
}
