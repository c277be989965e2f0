package audit_test

import (
	"context"
	"io"
	"log/slog"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// TestAuditOfTheBackendsOwnLog runs the real backend against a simulated
// node: miners' work and shares arrive as commands, a pool block is found,
// matures and is credited, and the miners are paid through the wallet. The
// log it wrote passes the audit, the wallet confirms every payout, and the
// projections' read model agrees with the replay.
func TestAuditOfTheBackendsOwnLog(t *testing.T) {
	ctx := context.Background()
	const net = "test"
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks[net], Maturity: 5, NetworkHashRate: 0.5, Seed: 7, Logger: quiet}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	node, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks[net], Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pool := srv.Node.WalletAddress()
	b, err := backend.New(store, backend.Config{
		Networks: []backend.NetworkConfig{{Name: net, PoolAddress: pool, Node: node, Maturity: 5, ConfirmStep: 2, FollowFrom: 1,
			StaleTolerance: 1, FeeBps: 150, MinPayoutSat: biblepay.Coin, MaxRecipients: 2, PayoutConfirmations: 1,
			PayoutInterval: 100 * time.Millisecond}},
		PollInterval: 20 * time.Millisecond, WorkWait: 2 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	bus := inproc.New()
	defer bus.Close()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx, backend.RunOptions{Consumer: bus, Consumers: 2}) }()
	stopped := false
	halt := func() {
		if !stopped {
			stop()
			<-done
			stopped = true
		}
	}
	defer halt()

	miner, err := simminer.New(simminer.Config{Pool: "http://127.0.0.1:1", Worker: "x", Network: biblepay.Networks[net], Node: node})
	if err != nil {
		t.Fatal(err)
	}
	shareTarget := biblepay.TargetForDifficulty(4)
	target, _ := new(big.Int).SetString(shareTarget, 16)
	publish := func(c commands.Command) {
		msg, err := commands.Encode(c)
		if err != nil {
			t.Fatal(err)
		}
		if err := bus.Publish(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(seed byte) string {
		var pkh [20]byte
		for i := range pkh {
			pkh[i] = seed ^ byte(i*13)
		}
		return biblepay.Networks[net].Address(pkh)
	}
	miners := []string{addr(70), addr(71), addr(72)}
	var solutions []uuid.UUID
	thread := 0
	for i, a := range miners {
		id := events.MinerID(net, a)
		w := commands.IssueWork{ID: uuid.New(), Network: net, MinerID: id, Address: a, Worker: "rig", WorkID: uuid.New(),
			Target: shareTarget, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", IssuedAt: time.Now().UTC()}
		publish(w)
		for range i + 1 {
			thread++
			s, err := miner.Mine(ctx, simminer.Work{Address: pool, TargetHex: shareTarget, Target: target,
				MinerGUID: id.String(), WorkID: w.WorkID.String()}, thread)
			if err != nil {
				t.Fatal(err)
			}
			c := commands.SubmitSolution{ID: uuid.New(), Network: net, MinerID: id, Address: a, Worker: "rig",
				Solution: s.Solution, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", ReceivedAt: time.Now().UTC()}
			solutions = append(solutions, c.ID)
			publish(c)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	waitFor("every share recorded", func() bool {
		for _, id := range solutions {
			if envs, _ := events.ReadWholeStream(ctx, store, events.StreamSolution(id)); len(envs) == 0 {
				return false
			}
		}
		return true
	})
	if _, err := srv.Node.MinePoolBlock(ctx, pool, events.MinerID(net, miners[0]).String()); err != nil {
		t.Fatal(err)
	}
	waitFor("the pool block discovered", func() bool {
		rep := mustRun(t, store, audit.Options{})
		return len(rep.Networks) > 0 && rep.Networks[0].BlocksDiscovered == 1
	})
	if _, err := srv.Node.Generate(6); err != nil {
		t.Fatal(err)
	}
	waitFor("every miner paid", func() bool {
		rep := mustRun(t, store, audit.Options{})
		n := rep.Networks[0]
		return n.BlocksMatured == 1 && n.PayoutsSent >= 2 && n.PayoutsUnsettled == 0 && n.CreditedSat > 0 && n.PaidSat == n.CreditedSat
	})
	halt()

	rep := mustRun(t, store, audit.Options{Wallet: node})
	n := rep.Networks[0]
	if !rep.OK() || rep.WalletChecked != n.PayoutsSent || n.AcceptedShares != 6 || n.RewardSat != n.CreditedSat+n.FeeSat || n.FeeSat == 0 {
		t.Fatalf("audit of the backend's log: %+v, wallet checked %d, violations %v", n, rep.WalletChecked, rep.Violations)
	}

	// The read model the projections build from the same log agrees.
	rm, closeRM, err := audit.OpenReadModel(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeRM()
	db := &projections.DB{SQL: rm.DB, Dialect: rm.Dialect}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var cp uint64
	for {
		page, err := store.ReadAll(ctx, cp, 500)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if cp, err = db.ApplyBatch(ctx, cp, page); err != nil {
			t.Fatal(err)
		}
	}
	rep = mustRun(t, store, audit.Options{ReadModel: rm})
	if !rep.OK() || rep.ReadModelAccounts < 3 {
		t.Fatalf("read model: %d accounts, %v", rep.ReadModelAccounts, rep.Violations)
	}

	// The finder's statement: one credit (3 of 6 shares at equal difficulty = 50%), paid out.
	rep = mustRun(t, store, audit.Options{Statement: &audit.StatementRequest{Network: net, Address: miners[2]}})
	st := rep.Statement
	if len(st.Lines) < 2 || st.Lines[0].Kind != audit.LineCredit || st.Lines[0].SharePercent != "50.0000%" || st.BalanceSat != 0 {
		t.Fatalf("statement %+v", st)
	}
}
