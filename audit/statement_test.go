package audit_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/rpcclient"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
)

func TestStatement(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 51, Network: "test"})
	// The miner with the most credits, counted straight from the log.
	credits, reversals := map[string]int{}, map[string]int{}
	for _, env := range h.Envelopes {
		e, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		switch e := e.(type) {
		case events.MinerCredited:
			credits[e.Address]++
		case events.CreditReversed:
			reversals[e.Address]++
		}
	}
	var addr string
	for a, n := range credits {
		if reversals[a] > 0 && (addr == "" || n > credits[addr]) {
			addr = a
		}
	}
	if addr == "" {
		t.Fatal("no miner with a reversal")
	}
	rep := mustRun(t, h, audit.Options{Statement: &audit.StatementRequest{Network: "test", Address: addr}})
	st := rep.Statement
	id := events.MinerID("test", addr)
	if st.MinerID != id || st.Head != rep.Head || st.HeadHash != rep.HeadHash {
		t.Fatalf("statement header %+v", st)
	}
	if want := h.Ledger.Networks["test"].Balances[id]; st.BalanceSat != want || st.BalanceSat != st.CreditedSat-st.ReversedSat-st.PaidSat {
		t.Fatalf("balance %d (credited %d reversed %d paid %d), ledger %d", st.BalanceSat, st.CreditedSat, st.ReversedSat, st.PaidSat, want)
	}
	var sum int64
	n := map[string]int{}
	for _, l := range st.Lines {
		sum += l.AmountSat
		if l.BalanceSat != sum {
			t.Fatalf("running balance %d, sum %d at %+v", l.BalanceSat, sum, l)
		}
		n[l.Kind]++
		switch l.Kind {
		case audit.LineCredit:
			emptyRound := l.RoundDifficulty == 0 && l.MinerDifficulty == 0 && strings.Contains(l.Reason, "no share")
			if l.BlockHash == "" || l.BlockHeight == 0 || l.RewardSat == 0 || (l.MinerDifficulty == 0 && !emptyRound) ||
				l.SharePercent != audit.FormatPercent(l.MinerDifficulty, l.RoundDifficulty, 4) || l.AmountSat <= 0 {
				t.Fatalf("credit line %+v", l)
			}
		case audit.LinePayout:
			if l.Status == "" || ((l.Status == "sent" || l.Status == "confirmed") && l.TxID == "") || l.AmountSat >= 0 {
				t.Fatalf("payout line %+v", l)
			}
		}
	}
	if sum != st.BalanceSat || n[audit.LineCredit] != credits[addr] || n[audit.LineReversal] != reversals[addr] || n[audit.LinePayout] == 0 {
		t.Fatalf("lines %v, sum %d; log has %d credits, %d reversals", n, sum, credits[addr], reversals[addr])
	}
	// A failed or conflicted payout gives back exactly what its payout line
	// took, once; the log says how many there are for this miner.
	planned := map[string]int64{} // payout → this miner's amount
	returned := map[string]int{}  // line kind → count in the log
	for _, env := range h.Envelopes {
		e, _ := events.Decode(env)
		switch e := e.(type) {
		case events.PayoutPlanned:
			for _, it := range e.Items {
				if it.MinerID == id {
					planned[e.PayoutID.String()] += it.AmountSat
				}
			}
		case events.PayoutFailed:
			if planned[e.PayoutID.String()] > 0 {
				returned[audit.LinePayoutFailed]++
			}
		case events.PayoutConflicted:
			if planned[e.PayoutID.String()] > 0 {
				returned[audit.LinePayoutConflicted]++
			}
		}
	}
	for _, l := range st.Lines {
		if (l.Kind == audit.LinePayoutFailed || l.Kind == audit.LinePayoutConflicted) && l.AmountSat != planned[l.PayoutID.String()] {
			t.Fatalf("%s line gives back %d, the payout took %d: %+v", l.Kind, l.AmountSat, planned[l.PayoutID.String()], l)
		}
		if l.Kind == audit.LinePayoutConflicted && l.TxID == "" {
			t.Fatalf("conflicted line without its transaction: %+v", l)
		}
	}
	if n[audit.LinePayoutFailed] != returned[audit.LinePayoutFailed] || n[audit.LinePayoutConflicted] != returned[audit.LinePayoutConflicted] ||
		returned[audit.LinePayoutFailed]+returned[audit.LinePayoutConflicted] == 0 {
		t.Fatalf("lines %v; the log returns %v to this miner", n, returned)
	}

	var text bytes.Buffer
	if err := st.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), addr) || !strings.Contains(text.String(), "balance  "+audit.FormatBBP(st.BalanceSat)+" BBP") {
		t.Fatalf("text statement:\n%s", text.String())
	}

	var c bytes.Buffer
	if err := st.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(st.Lines)+2 || rows[0][11] != "share_percent" || rows[len(rows)-1][17] != audit.FormatBBP(st.BalanceSat) {
		t.Fatalf("csv: %d rows for %d lines; last %v", len(rows), len(st.Lines), rows[len(rows)-1])
	}
	for i, l := range st.Lines {
		if rows[i+1][16] != audit.FormatBBP(l.AmountSat) || rows[i+1][2] != l.Kind {
			t.Fatalf("csv row %v for line %+v", rows[i+1], l)
		}
	}

	var js bytes.Buffer
	if err := st.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back audit.Statement
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.BalanceSat != st.BalanceSat || len(back.Lines) != len(st.Lines) {
		t.Fatalf("json: %v %+v", err, back)
	}

	// A miner the log never mentions has an empty statement.
	other := ledgergen.Generate(ledgergen.Config{Seed: 52, Network: "test", Miners: 1}).Miners[0].Address
	rep = mustRun(t, h, audit.Options{Statement: &audit.StatementRequest{Network: "test", Address: other}})
	if len(rep.Statement.Lines) != 0 || rep.Statement.BalanceSat != 0 {
		t.Fatalf("statement of a stranger: %+v", rep.Statement)
	}
}

// noTxIndex is a node without -txindex that has spent every output of the
// anchors' transactions: getrawtransaction finds none of them.
type noTxIndex struct{ *rpcclient.Client }

func (noTxIndex) GetRawTransactionVerbose(context.Context, string) (*rpcclient.RawTransactionVerbose, error) {
	return nil, &rpcclient.Error{Code: -5, Message: "No information available about transaction"}
}

// A statement proves itself: every line's event is in the log under the
// latest head a payout transaction anchored in the chain, and anything
// changed in it, or in the log behind it, fails to verify with the line
// and the reason.
func TestStatementProofs(t *testing.T) {
	ctx := context.Background()
	srv, c := anchorNode(t)
	s, _, h, heads := anchoredStore(t, ledgergen.Config{Network: "test", Seed: 147, ChainBlocks: 270}, srv, c)
	// The miner with the most lines, some of them after the last anchor.
	var st *audit.Statement
	for _, m := range h.Miners {
		rep := mustRun(t, s, audit.Options{Chain: c, Statement: &audit.StatementRequest{Network: "test", Address: m.Address}})
		n := len(rep.Statement.Lines)
		if n == 0 || len(rep.Statement.Anchors) == 0 || rep.Statement.Lines[n-1].Position <= rep.Statement.Anchors[len(rep.Statement.Anchors)-1].Size {
			continue
		}
		if st == nil || n > len(st.Lines) {
			st = rep.Statement
		}
	}
	if st == nil {
		t.Fatal("no miner has lines after the last anchor")
	}
	if len(st.Anchors) < 2 || st.PoolID != testPool {
		t.Fatalf("%d anchors (of %d heads), pool %s", len(st.Anchors), len(heads), st.PoolID)
	}
	latest := st.Anchors[len(st.Anchors)-1]
	unanchored := 0
	for _, l := range st.Lines {
		switch {
		case l.Event == nil:
			t.Fatalf("line without its event: %+v", l)
		case l.Position > latest.Size && (!l.Unanchored || l.Proof != nil || !strings.Contains(l.Note, "after the latest anchored head")):
			t.Fatalf("line after the head: %+v", l)
		case l.Position <= latest.Size && (l.Unanchored || l.Proof == nil || l.Proof.TreeSize != latest.Size || len(l.Proof.Hashes) > 20):
			t.Fatalf("line under the head: %+v", l)
		}
		if l.Unanchored {
			unanchored++
		}
	}
	if unanchored == 0 || unanchored == len(st.Lines) {
		t.Fatalf("%d of %d lines unanchored", unanchored, len(st.Lines))
	}
	var js bytes.Buffer
	if err := st.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	load := func() *audit.Statement {
		back, err := audit.ReadStatement(bytes.NewReader(js.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		return back
	}
	verify := func(st *audit.Statement, opt audit.VerifyOptions) *audit.StatementVerdict {
		t.Helper()
		v, err := audit.VerifyStatement(ctx, st, opt)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for name, opt := range map[string]audit.VerifyOptions{
		"node": {Node: c}, "statement's transactions": {}, "node without txindex": {Node: noTxIndex{c}},
	} {
		v := verify(load(), opt)
		if !v.OK() || v.Proven != len(st.Lines)-unanchored || v.Unanchored != unanchored || len(v.Heads) != len(st.Anchors) {
			t.Fatalf("%s: %+v", name, v)
		}
		for _, hv := range v.Heads {
			want := "chain"
			if opt.Node == nil {
				want = "statement"
			}
			if hv.Checked != want || (want == "chain" && (hv.Confirmations < 1 || hv.BlockHash == "")) {
				t.Fatalf("%s: head %+v", name, hv)
			}
		}
	}
	if v := verify(load(), audit.VerifyOptions{Node: c, RequireAnchored: true}); v.OK() || len(v.Failures) != unanchored {
		t.Fatalf("--require-anchored: %+v", v.Failures)
	}

	firstCredit, firstProven := -1, -1
	for i, l := range st.Lines {
		if l.Kind == audit.LineCredit && l.Proof != nil && firstCredit < 0 {
			firstCredit = i
		}
		if l.Proof != nil && firstProven < 0 {
			firstProven = i
		}
	}
	for _, c2 := range []struct {
		name   string
		change func(st *audit.Statement)
		line   int // the failing line (from 1), 0: not a line
		reason string
	}{
		{"a credit's amount", func(st *audit.Statement) {
			st.Lines[firstCredit].AmountSat++
			st.Lines[firstCredit].BalanceSat++
		}, firstCredit + 1, "amount"},
		{"a credit's event", func(st *audit.Statement) {
			l := st.Lines[firstCredit]
			l.Event.Data = strings.Replace(l.Event.Data, fmt.Sprintf(`"amount_sat":%d`, l.AmountSat), fmt.Sprintf(`"amount_sat":%d`, l.AmountSat+1), 1)
			l.AmountSat++
			l.Event.ChainHash = ""
		}, firstCredit + 1, "not in the log under the anchored head"},
		{"a proof's hash", func(st *audit.Statement) {
			p := st.Lines[firstProven].Proof
			p.Hashes[0] = strings.Repeat("00", 32)
		}, firstProven + 1, "not in the log under the anchored head"},
		{"a line left out", func(st *audit.Statement) { st.Lines = append(st.Lines[:firstProven], st.Lines[firstProven+1:]...) }, firstProven + 1, "balance"},
		{"a proven line said unanchored", func(st *audit.Statement) {
			st.Lines[firstProven].Proof, st.Lines[firstProven].Unanchored = nil, true
		}, firstProven + 1, "marked unanchored"},
		{"the latest root", func(st *audit.Statement) {
			st.Anchors[len(st.Anchors)-1].Root = strings.Repeat("11", 32)
		}, 0, "its anchor is size"},
		{"a consistency proof", func(st *audit.Statement) {
			st.Anchors[1].Consistency[0] = strings.Repeat("22", 32)
		}, 0, "does not extend the head"},
		{"the pool", func(st *audit.Statement) { st.PoolID = uuid.New() }, 0, "of pool"},
	} {
		t.Run(c2.name, func(t *testing.T) {
			st := load()
			c2.change(st)
			v := verify(st, audit.VerifyOptions{Node: c})
			if v.OK() {
				t.Fatal("verified")
			}
			found := false
			for _, f := range v.Failures {
				found = found || (f.Line == c2.line && strings.Contains(f.Reason, c2.reason))
			}
			if !found {
				t.Fatalf("want line %d %q; failures %v", c2.line, c2.reason, v.Failures)
			}
		})
	}
	// Without a node and without the transactions, the heads cannot be
	// checked.
	bare := load()
	for i := range bare.Anchors {
		bare.Anchors[i].TxHex = ""
	}
	if v := verify(bare, audit.VerifyOptions{}); v.OK() || !strings.Contains(v.Failures[0].Reason, "no node to ask") {
		t.Fatalf("bare: %v", v.Failures)
	}
	var text bytes.Buffer
	_ = verify(load(), audit.VerifyOptions{Node: c}).WriteText(&text)
	if !strings.Contains(text.String(), "in the chain, block ") || !strings.Contains(text.String(), "verified: ") {
		t.Fatalf("verdict:\n%s", text.String())
	}
	text.Reset()
	_ = st.WriteText(&text)
	if !strings.Contains(text.String(), "Anchored in the BiblePay chain") || !strings.Contains(text.String(), "(unanchored)") {
		t.Fatalf("statement:\n%s", text.String())
	}
}

// A log no payout anchored: every line unanchored, nothing fails.
func TestStatementUnanchored(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 148, Network: "test", ChainBlocks: 60})
	rep := mustRun(t, h, audit.Options{Statement: &audit.StatementRequest{Network: "test", Address: h.Miners[0].Address}})
	st := rep.Statement
	if rep.Anchors != nil && rep.Anchors.Anchored > 0 {
		t.Skip("the generator anchors its payouts")
	}
	if len(st.Lines) == 0 || len(st.Anchors) != 0 || !strings.Contains(st.ProofNote, "No payout transaction anchors the log yet") {
		t.Fatalf("%+v", st)
	}
	v, err := audit.VerifyStatement(context.Background(), st, audit.VerifyOptions{})
	if err != nil || !v.OK() || v.Unanchored != len(st.Lines) || v.Proven != 0 {
		t.Fatalf("%v %+v", err, v)
	}
}
