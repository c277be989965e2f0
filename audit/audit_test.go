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
	rep := mustRun(t, sliceReader(envs), audit.Options{PageSize: 100})
	if rep.ChainKept || rep.FirstBadPosition != 0 {
		t.Fatalf("kept %v, first bad %d", rep.ChainKept, rep.FirstBadPosition)
	}
	if got := kinds(rep); len(got) != 1 || got[audit.KindNegativeBalance] == 0 {
		t.Fatalf("violations %v", got)
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
