package stress_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
)

// TestDuplicateAndReorderedDelivery handles one workload of commands on two
// fresh event stores over the same node: in order, each once, on the
// first; on the second, every command twice, shuffled within a window, with
// each duplicate far from its original (the second copies come in reverse
// order after all the first ones), and a command that cannot be handled yet
// (a share whose work is not stored) redelivered later, as the broker
// would. The ledgers must agree on everything money and acceptance depend
// on: the accepted and rejected solutions with their reasons, the shares of
// each miner, each pool block's credits and fee, and the balances.
// (backend's TestRedeliveryGivesTheSameLedger covers in-order double
// delivery, admin commands included, event by event.)
func TestDuplicateAndReorderedDelivery(t *testing.T) {
	rounds, miners, window := 1, 6, 8
	if long() {
		rounds, miners, window = 5, 12, 32
	}
	for round := range rounds {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			reorderRound(t, rand.New(rand.NewPCG(seed, 2)), miners, window)
		})
	}
}

func reorderRound(t *testing.T, rng *rand.Rand, nMiners, window int) {
	ctx := context.Background()
	w := newWorld(t) // store A, the node, and the in-order backend
	bA := w.seed
	storeB, bB := w.secondBackend(t)

	// The workload: every miner gets work and several shares; some
	// solutions are submitted twice under different command ids (one must
	// be rejected as a duplicate, whichever comes first), some are garbage,
	// some are for another miner's work.
	var seq []commands.Command
	solutionOf := map[string]string{} // command id → solution
	add := func(c commands.Command) {
		if s, ok := c.(commands.SubmitSolution); ok {
			solutionOf[s.ID.String()] = s.Solution
		}
		seq = append(seq, c)
	}
	var addrs []string
	for i := range nMiners {
		addrs = append(addrs, addrOf(byte(100+i)))
	}
	works := map[string]commands.IssueWork{}
	for _, a := range addrs {
		iw := issueCmd(a)
		works[a] = iw
		add(iw)
		for k := range 1 + rng.IntN(3) {
			sol := w.share(a, iw.WorkID)
			add(submitCmd(a, sol))
			if k == 0 && rng.IntN(2) == 0 {
				add(submitCmd(a, sol)) // the same share again, another command
			}
		}
	}
	add(submitCmd(addrs[0], "garbage"))
	add(submitCmd(addrs[1], w.share(addrs[1], works[addrs[2]].WorkID))) // another miner's work

	// A: in order, once.
	for _, c := range seq {
		if err := deliver(bA, c); err != nil && !commands.IsPermanent(err) {
			t.Fatalf("in order: %s: %v", c.CommandName(), err)
		}
	}
	// B: twice, reordered.
	first := shuffleWindows(rng, seq, window)
	second := shuffleWindows(rng, reverse(seq), window)
	queue := append(append([]commands.Command{}, first...), second...)
	// Four consumers take deliveries from the queue in its order, as the
	// backend's consumers do; a command that cannot be handled yet goes
	// back into the queue a little later (a broker's redelivery).
	var mu sync.Mutex
	inflight, deliveries, redeliveries := 0, 0, 0
	var failed error
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if failed != nil || (len(queue) == 0 && inflight == 0) {
					mu.Unlock()
					return
				}
				if len(queue) == 0 {
					mu.Unlock()
					time.Sleep(5 * time.Millisecond)
					continue
				}
				c := queue[0]
				queue = queue[1:]
				inflight++
				deliveries++
				if deliveries > 20*len(seq) {
					failed = fmt.Errorf("commands still not handled after %d deliveries", deliveries)
				}
				mu.Unlock()
				// A handler waits for a share's work for a while; the
				// consumer gives each delivery 2 s, then redelivers.
				dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
				err := deliverCtx(dctx, bB, c)
				cancel()
				mu.Lock()
				inflight--
				if err != nil && !commands.IsPermanent(err) {
					redeliveries++
					at := min(len(queue), window/2+rng.IntN(window))
					queue = append(queue[:at], append([]commands.Command{c}, queue[at:]...)...)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	t.Logf("%d commands; %d deliveries reordered in windows of %d, each twice; %d redeliveries", len(seq), 2*len(seq), window, redeliveries)

	// A pool block closes the round; both ledgers credit it.
	w.minePool(w.pool, addrs[0])
	if _, err := w.srv.Node.Generate(maturity + 1); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct {
		b     *backend.Backend
		store events.Store
	}{{bA, w.store}, {bB, storeB}} {
		vctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.b.View().Run(vctx, s.store) }()
		if err := s.b.SyncChain(ctx, network); err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
	}
	la, lb := ledgerOf(t, w.store), ledgerOf(t, storeB)
	sa, sb := summary(t, la, w.store, solutionOf), summary(t, lb, storeB, solutionOf)
	if len(sa) < 10 {
		t.Fatalf("summary too small to mean anything: %v", sa)
	}
	if !strings.Contains(strings.Join(sa, "\n"), "credit") {
		t.Fatalf("no credits in the reference ledger:\n%s", strings.Join(sa, "\n"))
	}
	if a, b := strings.Join(sa, "\n"), strings.Join(sb, "\n"); a != b {
		t.Fatalf("ledgers differ\nin order, once:\n%s\n\nreordered, twice:\n%s", a, b)
	}
}

// secondBackend is another backend over a fresh store and the same node.
func (w *world) secondBackend(t *testing.T) (events.Store, *backend.Backend) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, testenv.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	s.PollInterval = 20 * time.Millisecond
	b, err := backend.New(s, backend.Config{Networks: []backend.NetworkConfig{{Name: network, PoolAddress: w.pool, Node: w.node,
		Maturity: maturity, FollowFrom: 1, StaleTolerance: 1, FeeBps: 100, MinPayoutSat: biblepay.Coin}},
		WorkWait: time.Minute, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return s, b
}

func deliver(b *backend.Backend, c commands.Command) error {
	return deliverCtx(context.Background(), b, c)
}

func deliverCtx(ctx context.Context, b *backend.Backend, c commands.Command) error {
	msg, err := commands.Encode(c)
	if err != nil {
		return commands.Permanent(err)
	}
	return b.Handle(ctx, msg)
}

// shuffleWindows shuffles consecutive windows of cmds.
func shuffleWindows(rng *rand.Rand, cmds []commands.Command, window int) []commands.Command {
	out := append([]commands.Command{}, cmds...)
	for i := 0; i < len(out); i += window {
		part := out[i:min(i+window, len(out))]
		rng.Shuffle(len(part), func(a, b int) { part[a], part[b] = part[b], part[a] })
	}
	return out
}

func reverse(cmds []commands.Command) []commands.Command {
	out := make([]commands.Command, len(cmds))
	for i, c := range cmds {
		out[len(cmds)-1-i] = c
	}
	return out
}

func ledgerOf(t *testing.T, s events.Store) *aggregates.Ledger {
	w := &world{t: t}
	if ps, ok := s.(*postgres.Store); ok {
		w.store = ps
	}
	return w.ledger(context.Background())
}

// summary lists what the ledger says, independent of the order events were
// stored in: each solution's outcomes (by its text), each miner's accepted
// shares and balance, each pool block's credits and fee.
func summary(t *testing.T, l *aggregates.Ledger, s events.Store, solutionOf map[string]string) []string {
	var out []string
	var after uint64
	for {
		page, err := s.ReadAll(context.Background(), after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range page {
			switch env.Type {
			case events.TypeSolutionAccepted, events.TypeSolutionRejected:
				e, err := events.Decode(env)
				if err != nil {
					t.Fatal(err)
				}
				outcome := "accepted"
				if r, ok := e.(events.SolutionRejected); ok {
					outcome = "rejected " + r.Reason
				}
				sol := solutionOf[env.Metadata.CommandID]
				if len(sol) > 40 {
					sol = sol[:40]
				}
				out = append(out, fmt.Sprintf("solution %s: %s", sol, outcome))
			}
		}
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Position
	}
	n := l.Network(network)
	for id, m := range n.Miners {
		out = append(out, fmt.Sprintf("miner %s %s: accepted %d, balance %d", id, m.Address, m.Accepted, n.Balances[id]))
	}
	for hash, b := range n.Blocks {
		out = append(out, fmt.Sprintf("block %s matured %v reward %d", hash, b.Matured, b.RewardSat))
		for _, c := range b.Credits {
			out = append(out, fmt.Sprintf("block %s credit %s %d", hash, c.MinerID, c.AmountSat))
		}
		if b.Fee != nil {
			out = append(out, fmt.Sprintf("block %s fee %d", hash, b.Fee.AmountSat))
		}
	}
	out = append(out, fmt.Sprintf("fee account balance %d", n.Balances[events.FeeAccountID(network)]))
	sort.Strings(out)
	return out
}
