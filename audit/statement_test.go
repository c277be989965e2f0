package audit_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

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
