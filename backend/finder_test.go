package backend_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simminer"
)

// winningShare mines shares for address until one meets the network
// target, submits that block to the node, and returns the share with the
// time the pool received it (just before the block reached the node, as a
// wallet sends both at once).
func (h *harness) winningShare(address string) (simminer.Share, time.Time) {
	h.t.Helper()
	w := uuid.New()
	h.mustHandle(issueCmd(address, "w", w))
	for i := 0; ; i++ {
		s := h.share(address, w)
		if s.IsBlock {
			received := time.Now().UTC()
			if err := h.node.SubmitBlock(context.Background(), s.BlockHex); err != nil {
				h.t.Fatal(err)
			}
			return s, received
		}
		if i > 400 {
			h.t.Fatal("no share met the network target")
		}
	}
}

func submitAt(address string, s simminer.Share, received time.Time) commands.SubmitSolution {
	c := submitCmd(address, "w", s.Solution)
	c.ReceivedAt = received
	return c
}

// roundAndCredits reads a matured pool block's round and credits.
func (h *harness) roundAndCredits(blockHash string) (*events.RoundClosed, map[uuid.UUID]int64, int64) {
	h.t.Helper()
	var round *events.RoundClosed
	credits := map[uuid.UUID]int64{}
	var fee int64
	for _, e := range h.decoded(events.StreamBlock(network, blockHash)) {
		switch e := e.(type) {
		case events.RoundClosed:
			r := e
			round = &r
		case events.MinerCredited:
			credits[e.MinerID] += e.AmountSat
		case events.FeeCredited:
			fee += e.AmountSat
		}
	}
	return round, credits, fee
}

func inRound(r *events.RoundClosed, address string) bool {
	for _, s := range r.Shares {
		if s.MinerID == events.MinerID(network, address) {
			return true
		}
	}
	return false
}

// The node shows a pool block before the pool has validated the share that
// found it: the follower records the block at once (it no longer waits),
// and the winning share, validated later, counts in its own block's round,
// with no stale tolerance as with one.
func TestWinningShareValidatedAfterItsBlockCountsInItsRound(t *testing.T) {
	for _, tolerance := range []int64{0, 1} {
		t.Run(fmt.Sprintf("tolerance %d", tolerance), func(t *testing.T) {
			h := newHarness(t, newSQLiteStore(t), func(n *backend.NetworkConfig, _ *backend.Config) { n.StaleTolerance = tolerance })
			h.startView()
			ctx := context.Background()
			finder, other := addrOf(31), addrOf(32)
			w1 := uuid.New()
			h.mustHandle(issueCmd(other, "w", w1))
			h.mustHandle(submitCmd(other, "w", h.share(other, w1).Solution))

			win, received := h.winningShare(finder)
			blockHash := win.Fields[0]
			if err := h.b.SyncChain(ctx, network); err != nil {
				t.Fatal(err)
			}
			if types := h.streamTypes(events.StreamBlock(network, blockHash)); len(types) == 0 || types[0] != events.TypeBlockDiscovered || h.block(blockHash).Round != nil {
				t.Fatalf("pool block stream %v, want it discovered at once, without a round", types)
			}
			c := submitAt(finder, win, received)
			h.mustHandle(c)
			if types := h.streamTypes(events.StreamSolution(c.ID)); len(types) != 1 || types[0] != events.TypeSolutionAccepted {
				t.Fatalf("winning share: %v %v", types, h.decoded(events.StreamSolution(c.ID)))
			}
			if _, err := h.srv.Node.Generate(5); err != nil {
				t.Fatal(err)
			}
			if err := h.b.SyncChain(ctx, network); err != nil {
				t.Fatal(err)
			}
			round, credits, fee := h.roundAndCredits(blockHash)
			if round == nil || round.Rule != events.RoundRuleHeight {
				t.Fatalf("round %+v", round)
			}
			if !inRound(round, finder) || !inRound(round, other) {
				t.Fatalf("round %+v: the finder's winning share (and the other share) must count in it", round.Shares)
			}
			var reward int64
			h.b.View().Read(func(l *aggregates.Ledger) { reward = l.Network(network).Block(blockHash).RewardSat })
			var sum int64
			for _, c := range credits {
				sum += c
			}
			if fee != reward/100 || sum+fee != reward {
				t.Fatalf("fee %d, credits %d, reward %d: want exactly 1 %%", fee, sum, reward)
			}
		})
	}
}

// Two pool blocks found one after the other and recorded in one follower
// pass, before either winning share was validated; the later block's share
// is validated first. Each round counts its own winning share, and the
// pool takes exactly its fee of each: no round is empty.
func TestTwoPoolBlocksRecordedInOnePass(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	ctx := context.Background()
	if err := h.b.SyncChain(ctx, network); err != nil {
		t.Fatal(err)
	}
	first, second := addrOf(41), addrOf(42)
	win1, got1 := h.winningShare(first)
	win2, got2 := h.winningShare(second)
	if err := h.b.SyncChain(ctx, network); err != nil { // one pass records both
		t.Fatal(err)
	}
	for _, w := range []simminer.Share{win1, win2} {
		if b := h.block(w.Fields[0]); !b.Discovered {
			t.Fatalf("pool block %s not recorded in the pass", w.Fields[0])
		}
	}
	for _, c := range []commands.SubmitSolution{submitAt(second, win2, got2), submitAt(first, win1, got1)} {
		h.mustHandle(c)
		if got := rejection(t, h, c.ID); got != "ACCEPTED" {
			t.Fatalf("winning share of %s: %s", c.Address, got)
		}
	}
	if _, err := h.srv.Node.Generate(5); err != nil {
		t.Fatal(err)
	}
	if err := h.b.SyncChain(ctx, network); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		win     simminer.Share
		finder  string
		another string
	}{{win1, first, second}, {win2, second, first}} {
		round, credits, fee := h.roundAndCredits(tt.win.Fields[0])
		if round == nil || !inRound(round, tt.finder) || inRound(round, tt.another) || round.TotalShares != 1 {
			t.Fatalf("round of %s: %+v", tt.win.Fields[0], round)
		}
		reward := h.block(tt.win.Fields[0]).RewardSat
		if fee != reward/100 || credits[events.MinerID(network, tt.finder)] != reward-fee {
			t.Fatalf("block %s: fee %d credits %v of %d", tt.win.Fields[0], fee, credits, reward)
		}
	}
}

// Shares the frontend acknowledged while the backend was down are judged as
// of their receipt: when the backend comes back, the chain has moved on
// past the pool block's maturity, and the shares are still accepted and
// counted in the round of the height they were mined on, the winning share
// in its own block's round: the follower credits the block only once the
// consumers have reached the shares received before its round closed.
func TestBacklogKeepsEveryVerdict(t *testing.T) {
	buses := map[string]func(*testing.T) bus{"inproc": inprocBus, "rabbitmq": rabbitBus}
	for _, name := range []string{"inproc", "rabbitmq"} {
		t.Run(name, func(t *testing.T) {
			bs := buses[name](t)
			h := newHarness(t, newSQLiteStore(t), nil)
			ctx := context.Background()
			publish := func(c commands.Command) {
				msg, err := commands.Encode(c)
				if err != nil {
					t.Fatal(err)
				}
				if err := bs.pub.Publish(ctx, msg); err != nil {
					t.Fatal(err)
				}
			}
			// The backend is down; the frontend answers ok and queues.
			a, finder := addrOf(51), addrOf(52)
			w := issueCmd(a, "rig", uuid.New())
			publish(w)
			var queued []commands.SubmitSolution
			for range 3 {
				queued = append(queued, submitCmd(a, "rig", h.share(a, w.WorkID).Solution))
			}
			fw := issueCmd(finder, "w", uuid.New())
			publish(fw)
			var win simminer.Share
			for i := 0; !win.IsBlock; i++ {
				if win = h.share(finder, fw.WorkID); i > 400 {
					t.Fatal("no share met the network target")
				}
			}
			queued = append(queued, submitCmd(finder, "w", win.Solution))
			if err := h.node.SubmitBlock(ctx, win.BlockHex); err != nil {
				t.Fatal(err)
			}
			for _, c := range queued {
				publish(c)
			}
			// The chain moves on past maturity (5) while the backend is down.
			time.Sleep(1100 * time.Millisecond)
			if _, err := h.srv.Node.Generate(8); err != nil {
				t.Fatal(err)
			}
			h.startAll(bs.cons)
			eventually(t, "the pool block credited", func() bool { return h.block(win.Fields[0]).Matured })
			for _, c := range queued {
				if got := rejection(t, h, c.ID); got != "ACCEPTED" {
					t.Fatalf("share received before the chain moved on: %s", got)
				}
			}
			round, credits, fee := h.roundAndCredits(win.Fields[0])
			if round == nil || round.TotalShares != 4 || !inRound(round, a) || !inRound(round, finder) {
				t.Fatalf("round %+v", round)
			}
			reward := h.block(win.Fields[0]).RewardSat
			if fee != reward/100 || credits[events.MinerID(network, a)]+credits[events.MinerID(network, finder)]+fee != reward {
				t.Fatalf("fee %d credits %v reward %d", fee, credits, reward)
			}
		})
	}
}

// The operator raises the fee while a pool block waits for maturity: the
// block is credited with the fee in force when it was found, a block found
// after the change with the new one, and the audit agrees.
func TestFeeChangeAppliesToBlocksFoundAfterIt(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil) // 100 bps
	h.startView()
	a := addrOf(61)
	h.accept(a, 1)
	h.sync()
	before := h.minePoolBlock(a)
	h.sync() // discovered under 100 bps
	h.stop()

	raised := h.cfg
	raised.Networks = append([]backend.NetworkConfig(nil), h.cfg.Networks...)
	raised.Networks[0].FeeBps = 250
	h.cfg = raised
	r := h.twin(h.store) // the backend restarted with the new fee
	r.startView()
	r.sync()
	r.accept(a, 1)
	after := r.minePoolBlock(a)
	r.srv.Node.Generate(6)
	r.sync()
	for _, tt := range []struct {
		hash string
		bps  int64
	}{{before, 100}, {after, 250}} {
		b := r.block(tt.hash)
		want, _ := aggregates.FeeOf(b.RewardSat, tt.bps)
		if !b.Matured || b.Fee == nil || b.Fee.FeeBps != tt.bps || b.Fee.AmountSat != want {
			t.Fatalf("block %s: fee %+v, want %d bps = %d", tt.hash, b.Fee, tt.bps, want)
		}
	}
	r.stop()
	rep, err := audit.Run(context.Background(), h.store, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("audit: %v", rep.Violations)
	}
}
