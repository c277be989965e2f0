package audit_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
)

func mustRun(t *testing.T, r audit.Reader, opt audit.Options) *audit.Report {
	t.Helper()
	rep, err := audit.Run(context.Background(), r, opt)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	return rep
}

func kinds(rep *audit.Report) map[audit.Kind]int {
	m := map[audit.Kind]int{}
	for _, v := range rep.Violations {
		m[v.Kind]++
	}
	return m
}

func TestCorrectHistoriesPass(t *testing.T) {
	for _, cfg := range []ledgergen.Config{
		{Seed: 1},
		{Seed: 2, Miners: 3, FeeBps: 1, PoolBlockEvery: 2},
		{Seed: 3, Network: "main", Miners: 20, SharesPerBlock: 20, ChainBlocks: 200},
		{Seed: 4, Events: 6000},
	} {
		h := ledgergen.Generate(cfg)
		for _, page := range []int{1, 7, 5000} { // page boundaries must not matter
			rep := mustRun(t, h, audit.Options{PageSize: page, Workers: 2})
			if !rep.OK() {
				t.Fatalf("seed %d page %d: %d violations, first: %v", cfg.Seed, page, len(rep.Violations), rep.Violations[0])
			}
			if rep.Events != uint64(len(h.Envelopes)) || rep.Head != rep.Events || !rep.ChainKept || rep.FirstBadPosition != 0 {
				t.Fatalf("events %d head %d kept %v bad %d; want %d", rep.Events, rep.Head, rep.ChainKept, rep.FirstBadPosition, len(h.Envelopes))
			}
		}
		rep := mustRun(t, h, audit.Options{})
		n := rep.Networks[0]
		// The history exercises what the audit checks.
		if n.BlocksMatured == 0 || n.BlocksOrphaned < 2 || n.ReversedSat == 0 || n.FeeReversedSat == 0 ||
			n.PayoutsSent == 0 || n.PayoutsFailed == 0 || n.RejectedShares == 0 {
			t.Fatalf("seed %d: history lacks cases: %+v", cfg.Seed, n)
		}
		if n.CreditedSat+n.FeeSat+n.CarriedOutSat != n.RewardSat+n.CarriedInSat {
			t.Fatalf("credited %d + fee %d + carried out %d != reward %d + carried in %d", n.CreditedSat, n.FeeSat, n.CarriedOutSat, n.RewardSat, n.CarriedInSat)
		}
		// The fee is the policy's basis points; the carry account is
		// apart from the balances.
		if n.FeeBps != h.Config.FeeBps {
			t.Fatalf("fee %d bps, configured %d", n.FeeBps, h.Config.FeeBps)
		}
		if n.CarrySat != n.CarriedOutSat-n.CarriedInSat-n.CarryReversedSat || n.CarrySat != h.Expected.CarrySat || n.LateShares != h.Expected.LateShares ||
			int64(n.EmptyToFinder+n.EmptyCarried) != h.Expected.EmptyRounds || n.EmptyKeptByPool != 0 || n.RoundsByPosition != 0 || n.RoundsByHeight == 0 {
			t.Fatalf("seed %d: carry, late shares, empty rounds or rounds %+v; generator's %+v", cfg.Seed, n, h.Expected)
		}
		// The replay's balances are the backend fold's, account by account.
		nl := h.Ledger.Networks[h.Config.Network]
		if len(rep.Accounts) != len(nl.Balances) {
			t.Fatalf("%d accounts, the ledger has %d", len(rep.Accounts), len(nl.Balances))
		}
		var sum int64
		for _, a := range rep.Accounts {
			if a.BalanceSat != nl.Balances[a.ID] || a.BalanceSat != a.CreditedSat-a.ReversedSat-a.PaidSat-a.TakenSat || a.BalanceSat < 0 ||
				(a.TakenSat != 0 && !a.Carry) || (a.Carry && a.PaidSat != 0) {
				t.Fatalf("account %+v, ledger balance %d", a, nl.Balances[a.ID])
			}
			if !a.Carry {
				sum += a.BalanceSat
			}
		}
		if sum != n.BalanceSat || n.BalanceSat != n.CreditedSat+n.FeeSat-n.ReversedSat-n.FeeReversedSat-n.PaidSat {
			t.Fatalf("balances %d, totals %+v", sum, n)
		}
	}
}

// Each injected violation is caught, by the kind it breaks; other kinds
// may follow from it (an over-reversal can also leave a balance negative).
func TestInjectedViolationsAreCaught(t *testing.T) {
	want := map[ledgergen.Injection][]audit.Kind{
		ledgergen.OverCredit:         {audit.KindRewardSplit, audit.KindSplitMismatch},
		ledgergen.SplitShift:         {audit.KindSplitMismatch},
		ledgergen.RewardMismatch:     {audit.KindRewardMismatch},
		ledgergen.CreditAfterOrphan:  {audit.KindCreditAfterOrphan, audit.KindUnmaturedCredit, audit.KindUnreversedCredit},
		ledgergen.UnreversedCredit:   {audit.KindUnreversedCredit},
		ledgergen.ReorgWithoutOrphan: {audit.KindUnreversedCredit},
		ledgergen.OverReversal:       {audit.KindBadReversal},
		ledgergen.OverPayout:         {audit.KindNegativeBalance},
		ledgergen.UnknownWork:        {audit.KindSolutionUnknownWork},
		ledgergen.WorkOfOtherMiner:   {audit.KindSolutionWorkMismatch},
		ledgergen.DuplicateBibleHash: {audit.KindDuplicateBibleHash},
		ledgergen.PayoutWithoutTxID:  {audit.KindPayoutNoTxID},
		ledgergen.TxIDReused:         {audit.KindPayoutTxIDReused},
		ledgergen.PayoutTotal:        {audit.KindPayoutItems},
		ledgergen.SentAfterFailed:    {audit.KindPayoutState},
		ledgergen.WrongStream:        {audit.KindWrongStream},
		// Fairness (issue 12).
		ledgergen.WinningShareOutside: {audit.KindFairWinningShare},
		ledgergen.DoubleCount:         {audit.KindFairDoubleCount},
		ledgergen.RoundRewritten:      {audit.KindFairRoundChanged},
		ledgergen.FeeNotConfigured:    {audit.KindFairFee},
		ledgergen.EmptyRoundToFee:     {audit.KindFairEmptyRound},
	}
	mayFollow := map[ledgergen.Injection][]audit.Kind{
		ledgergen.OverReversal: {audit.KindNegativeBalance},
		// The credits stay those of the first round.
		ledgergen.RoundRewritten: {audit.KindSplitMismatch},
	}
	for _, inj := range ledgergen.Injections {
		t.Run(string(inj), func(t *testing.T) {
			h := ledgergen.Generate(ledgergen.Config{Seed: 11, Inject: inj})
			if !h.Injected {
				t.Fatalf("the generator found no opportunity to inject %s", inj)
			}
			rep := mustRun(t, h, audit.Options{})
			got := kinds(rep)
			kindsWant := want[inj]
			if len(kindsWant) == 0 {
				t.Fatalf("no expectation for %s", inj)
			}
			for _, k := range kindsWant {
				if got[k] == 0 {
					t.Errorf("%s not reported; got %v", k, got)
				}
			}
			for k := range got {
				if !slices.Contains(kindsWant, k) && !slices.Contains(mayFollow[inj], k) {
					t.Errorf("unexpected %s: %v", k, rep.Violations)
				}
			}
			if rep.ChainKept && rep.FirstBadPosition != 0 {
				t.Errorf("the chain of a generated history is intact, yet position %d is bad", rep.FirstBadPosition)
			}
			for _, v := range rep.Violations {
				if v.Detail == "" || (v.Position == 0 && v.Subject == "") {
					t.Errorf("violation without detail or subject: %+v", v)
				}
			}
		})
	}
}

// The same history from a store that keeps no chain is audited without
// chain checks, while every ledger check still runs.
func TestStoreWithoutChain(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 5, Inject: ledgergen.OverPayout})
	envs := slices.Clone(h.Envelopes)
	for i := range envs {
		envs[i].PrevHash, envs[i].Hash = nil, nil
		envs[i].Position = uint64(i+1) * 10 // positions need not be dense either
		if envs[i].Type == events.TypeRoundClosed {
			// A round names the positions it was decided at: the store's.
			var m map[string]any
			if err := json.Unmarshal(envs[i].Data, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"from_position", "to_position"} {
				if v, ok := m[k].(float64); ok {
					m[k] = v * 10
				}
			}
			data, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			envs[i].Data = data
		}
	}
	rep := mustRun(t, noChainReader{sliceReader(envs)}, audit.Options{PageSize: 100})
	if rep.ChainKept || rep.FirstBadPosition != 0 || rep.Store != "EventStoreDB" ||
		rep.ChainWarning != "hash chain: not kept by EventStoreDB — tampering is not detectable from the log alone" {
		t.Fatalf("kept %v, first bad %d, store %q, warning %q", rep.ChainKept, rep.FirstBadPosition, rep.Store, rep.ChainWarning)
	}
	if got := kinds(rep); len(got) != 1 || got[audit.KindNegativeBalance] == 0 {
		t.Fatalf("violations %v", got)
	}
	// Asked to, the audit fails such a store outright.
	rep = mustRun(t, noChainReader{sliceReader(envs)}, audit.Options{PageSize: 100, RequireChain: true})
	if got := kinds(rep); got[audit.KindChainNotKept] != 1 {
		t.Fatalf("RequireChain: violations %v", got)
	}
	// The same rows from a reader that does not say what it is, or says
	// it keeps a chain, are held to the chain: blank hashes are tampering.
	for _, r := range []audit.Reader{sliceReader(envs), chainReader{sliceReader(envs)}} {
		rep = mustRun(t, r, audit.Options{PageSize: 100})
		if !rep.ChainKept || kinds(rep)[audit.KindChainMissing] == 0 || rep.ChainWarning != "" {
			t.Fatalf("%T: kept %v, violations %v", r, rep.ChainKept, kinds(rep))
		}
	}
}

// A clean history with no chain but no violation still warns, in the text
// report, that tampering would not show.
func TestNoChainWarnsInText(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 5, ChainBlocks: 20})
	envs := slices.Clone(h.Envelopes)
	for i := range envs {
		envs[i].PrevHash, envs[i].Hash = nil, nil
	}
	rep := mustRun(t, noChainReader{sliceReader(envs)}, audit.Options{})
	if !rep.OK() {
		t.Fatalf("violations %v", rep.Violations)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"WARNING: hash chain: not kept by EventStoreDB — tampering is not detectable from the log alone\n",
		"violations: none\nWARNING: the ledger's invariants hold, but EventStoreDB keeps no hash chain",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}

func TestUndecodableEvent(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 6, ChainBlocks: 20})
	envs := slices.Clone(h.Envelopes)
	envs[9].Type = "NoSuchEvent"
	envs[9].Hash = events.ChainHash(envs[9].PrevHash, envs[9])
	for i := 10; i < len(envs); i++ { // a consistent re-chain: only the type is wrong
		envs[i].PrevHash = envs[i-1].Hash
		envs[i].Hash = events.ChainHash(envs[i].PrevHash, envs[i])
	}
	rep := mustRun(t, sliceReader(envs), audit.Options{})
	if got := kinds(rep); got[audit.KindUndecodable] != 1 || rep.FirstBadPosition != 0 {
		t.Fatalf("violations %v, first bad %d", rep.Violations, rep.FirstBadPosition)
	}
}

func TestReportFormats(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 12, Inject: ledgergen.SplitShift})
	rep := mustRun(t, h, audit.Options{})
	var text, js strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"hash chain: intact", "violations: 1", "split_mismatch at position", "reward "} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Events     uint64            `json:"events"`
		HeadHash   string            `json:"head_hash"`
		Violations []audit.Violation `json:"violations"`
		Networks   []audit.Totals    `json:"networks"`
	}
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil {
		t.Fatal(err)
	}
	if back.Events != rep.Events || len(back.Violations) != 1 || back.Violations[0].Kind != audit.KindSplitMismatch ||
		back.HeadHash != rep.HeadHash || back.Networks[0].RewardSat != rep.Networks[0].RewardSat {
		t.Fatalf("json report %+v", back)
	}
}

type sliceReader []events.Envelope

func (r sliceReader) ReadAll(_ context.Context, after uint64, max int) ([]events.Envelope, error) {
	i, _ := slices.BinarySearchFunc(r, after+1, func(e events.Envelope, p uint64) int {
		switch {
		case e.Position < p:
			return -1
		case e.Position > p:
			return 1
		}
		return 0
	})
	return r[i:min(i+max, len(r))], nil
}

func (r sliceReader) Head(context.Context) (uint64, error) {
	if len(r) == 0 {
		return 0, nil
	}
	return r[len(r)-1].Position, nil
}

// noChainReader is a store that says it keeps no hash chain, as the
// EventStoreDB adapter does.
type noChainReader struct{ sliceReader }

func (noChainReader) KeepsChain() bool  { return false }
func (noChainReader) StoreName() string { return "EventStoreDB" }

// chainReader is a store that says it keeps one, as PostgreSQL and SQLite do.
type chainReader struct{ sliceReader }

func (chainReader) KeepsChain() bool  { return true }
func (chainReader) StoreName() string { return "SQLite" }

type failingReader struct {
	sliceReader
	failAfter uint64
}

func (r failingReader) ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error) {
	if after >= r.failAfter {
		return nil, errors.New("connection reset")
	}
	return r.sliceReader.ReadAll(ctx, after, max)
}

type countingProgress struct{ max, done int64 }

func (p *countingProgress) ChangeMax64(n int64) { p.max = n }
func (p *countingProgress) Add64(n int64) error { p.done += n; return nil }
func (p *countingProgress) Finish() error       { return nil }

func TestReadFailureAndProgress(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 7, ChainBlocks: 20})
	_, err := audit.Run(context.Background(), failingReader{sliceReader(h.Envelopes), 300}, audit.Options{PageSize: 100})
	if err == nil || !strings.Contains(err.Error(), "connection reset") || !strings.Contains(err.Error(), "after position 300") {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := audit.Run(ctx, h, audit.Options{PageSize: 10}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled audit: %v", err)
	}
	var p countingProgress
	rep := mustRun(t, h, audit.Options{PageSize: 64, Progress: &p})
	if p.max != int64(len(h.Envelopes)) || p.done != p.max || !rep.OK() {
		t.Fatalf("progress %d of %d, %d events", p.done, p.max, len(h.Envelopes))
	}
}

// Issue 14 part 5: the report keeps the miners' balances apart from the
// pool-fee account and the carry account; balance_sat keeps its meaning
// (miners + fee) for scripts written before the split.
func TestTotalsKeepBalancesApart(t *testing.T) {
	for _, cfg := range []ledgergen.Config{
		{Seed: 1},
		{Seed: 3, Network: "main", Miners: 20, SharesPerBlock: 20, ChainBlocks: 200},
		{Seed: 7, Inject: ledgergen.OverPayout}, // a negative miner balance still sums
	} {
		h := ledgergen.Generate(cfg)
		rep := mustRun(t, h, audit.Options{})
		for _, n := range rep.Networks {
			var miners, fee, carry int64
			for _, a := range rep.Accounts {
				switch {
				case a.Network != n.Network:
				case a.Fee:
					fee += a.BalanceSat
				case a.Carry:
					carry += a.BalanceSat
				default:
					miners += a.BalanceSat
				}
			}
			for _, c := range []struct {
				name      string
				got, want int64
			}{
				{"miner_balance_sat", n.MinerBalanceSat, miners},
				{"fee_balance_sat", n.FeeBalanceSat, fee},
				{"carry_sat", n.CarrySat, carry},
				{"balance_sat = miners + fee", n.BalanceSat, miners + fee},
				{"fee balance = fee − fee reversed", n.FeeBalanceSat, n.FeeSat - n.FeeReversedSat},
			} {
				if c.got != c.want {
					t.Errorf("seed %d %s: %s %d, want %d", cfg.Seed, n.Network, c.name, c.got, c.want)
				}
			}
			if n.FeeBalanceSat == 0 || (n.MinerBalanceSat == 0 && cfg.Inject == "") {
				t.Errorf("seed %d: the history lacks balances: %+v", cfg.Seed, n)
			}
		}
		var text, js strings.Builder
		if err := rep.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		n := rep.Networks[0]
		want := "owed to miners " + audit.FormatBBP(n.MinerBalanceSat) + " BBP, carried to the next round " + audit.FormatBBP(n.CarrySat) +
			" BBP (owed to miners); pool fee account " + audit.FormatBBP(n.FeeBalanceSat) + " BBP"
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
		if err := rep.WriteJSON(&js); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{`"miner_balance_sat":`, `"fee_balance_sat":`, `"balance_sat":`} {
			if !strings.Contains(js.String(), f) {
				t.Errorf("json lacks %s", f)
			}
		}
	}
}
