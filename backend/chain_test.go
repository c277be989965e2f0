package backend_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/simnode"
)

// accept records work and n accepted shares for a miner.
func (h *harness) accept(address string, n int) {
	h.t.Helper()
	w := issueCmd(address, "rig", uuid.New())
	h.mustHandle(w)
	for range n {
		c := submitCmd(address, "rig", h.share(address, w.WorkID).Solution)
		h.mustHandle(c)
		if got := rejection(h.t.(*testing.T), h, c.ID); got != "ACCEPTED" {
			h.t.Fatalf("share: %s", got)
		}
	}
}

func (h *harness) sync() {
	h.t.Helper()
	if err := h.b.SyncChain(context.Background(), network); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) minePoolBlock(finder string) string {
	h.t.Helper()
	hash, err := h.srv.Node.MinePoolBlock(context.Background(), h.pool, events.MinerID(network, finder).String())
	if err != nil {
		h.t.Fatal(err)
	}
	return hash
}

func (h *harness) block(hash string) aggregates.PoolBlock {
	var b aggregates.PoolBlock
	h.b.View().Read(func(l *aggregates.Ledger) { b = l.Network(network).Block(hash) })
	return b
}

func (h *harness) balance(address string) int64 {
	var v int64
	h.b.View().Read(func(l *aggregates.Ledger) { v = l.Network(network).Balances[events.MinerID(network, address)] })
	return v
}

func TestChainFollowerCreditsExactly(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, b := addrOf(10), addrOf(11)
	h.accept(a, 1)
	h.accept(b, 3)
	h.sync()
	hash := h.minePoolBlock(a)
	h.sync()
	pb := h.block(hash)
	// The round is made by height when the block matures, not now.
	if !pb.Pending() || pb.RewardSat != simnode.DefaultBlockReward || pb.Round != nil || pb.RoundRule != events.RoundRuleHeight || pb.Finder != events.MinerID(network, a) {
		t.Fatalf("discovered %+v round %+v", pb, pb.Round)
	}
	h.sync() // a second pass changes nothing
	if got := h.streamTypes(events.StreamBlock(network, hash)); !equalTypes(got, events.TypeBlockDiscovered, events.TypeBlockConfirmed) {
		t.Fatalf("block stream %v", got)
	}
	if _, err := h.srv.Node.Generate(4); err != nil { // 5 confirmations = maturity
		t.Fatal(err)
	}
	h.sync()
	pb = h.block(hash)
	if !pb.Matured || len(pb.Credits) != 2 || pb.Fee == nil || pb.Round == nil || pb.Round.TotalShares != 4 || pb.Round.Rule != events.RoundRuleHeight {
		t.Fatalf("not matured: %+v round %+v", pb, pb.Round)
	}
	if got := h.streamTypes(events.StreamBlock(network, hash)); !equalTypes(got[len(got)-5:], events.TypeRoundClosed, events.TypeBlockMatured,
		events.TypeMinerCredited, events.TypeMinerCredited, events.TypeFeeCredited) {
		t.Fatalf("block stream %v: the round is closed in the maturity's append", got)
	}
	sum := pb.Fee.AmountSat
	for _, c := range pb.Credits {
		sum += c.AmountSat
	}
	if sum != simnode.DefaultBlockReward {
		t.Fatalf("credits + fee = %d, reward %d", sum, simnode.DefaultBlockReward)
	}
	fee := simnode.DefaultBlockReward / 100
	if pb.Fee.AmountSat != fee || h.balance(a)+h.balance(b) != simnode.DefaultBlockReward-fee || h.balance(b) < 3*h.balance(a)-3 {
		t.Fatalf("fee %d, balances %d %d", pb.Fee.AmountSat, h.balance(a), h.balance(b))
	}
	chain := h.streamTypes(events.StreamChain(network))
	if int64(len(chain)) != h.srv.Node.Height() {
		t.Fatalf("%d chain records for height %d", len(chain), h.srv.Node.Height())
	}
	// Each record carries the block's nBits as getblock prints it: the
	// website's network difficulty, effort and luck come from it.
	for _, e := range h.decoded(events.StreamChain(network)) {
		rec := e.(events.ChainBlockRecorded)
		blk, err := h.node.GetBlock(context.Background(), rec.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Bits == "" || rec.Bits != blk.Bits {
			t.Fatalf("height %d recorded bits %q, getblock says %q", rec.Height, rec.Bits, blk.Bits)
		}
	}
}

// A pool block orphaned before maturity never had a round: the shares mined
// on its heights count in the next pool block's round.
func TestOrphanBeforeMaturityCarriesTheRound(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), nil)
	h.startView()
	a, b := addrOf(12), addrOf(13)
	h.accept(a, 2)
	h.sync()
	orphan := h.minePoolBlock(a)
	h.sync()
	if _, err := h.srv.Node.Reorg(1); err != nil {
		t.Fatal(err)
	}
	h.sync()
	if pb := h.block(orphan); !pb.Orphaned || pb.OrphanedAfterMaturity || len(pb.Credits) != 0 {
		t.Fatalf("orphan %+v", pb)
	}
	h.accept(b, 1)
	next := h.minePoolBlock(b)
	h.sync()
	h.srv.Node.Generate(5)
	h.sync()
	r := h.block(next).Round
	if r == nil || r.FromHeight != 0 || r.TotalShares != 3 || len(r.Shares) != 2 {
		t.Fatalf("next round %+v", r)
	}
	if h.balance(a) <= 0 || h.balance(b) <= 0 || h.balance(a)+h.balance(b) != simnode.DefaultBlockReward-simnode.DefaultBlockReward/100 {
		t.Fatalf("balances %d %d", h.balance(a), h.balance(b))
	}
}

func TestLateReorgReversesCredits(t *testing.T) {
	h := newHarness(t, newSQLiteStore(t), func(n *backendNetworkConfig, _ *backendConfig) { n.Maturity = 3 })
	h.startView()
	a := addrOf(14)
	h.accept(a, 1)
	h.sync()
	hash := h.minePoolBlock(a)
	h.srv.Node.Generate(2)
	h.sync()
	if !h.block(hash).Matured || h.balance(a) <= 0 {
		t.Fatal("not credited")
	}
	if _, err := h.srv.Node.Reorg(3); err != nil { // as deep as the block
		t.Fatal(err)
	}
	h.sync()
	pb := h.block(hash)
	if !pb.Orphaned || !pb.OrphanedAfterMaturity || len(pb.Reversals) != 2 {
		t.Fatalf("late orphan %+v", pb)
	}
	if h.balance(a) != 0 {
		t.Fatalf("balance after reversal %d", h.balance(a))
	}
	var fee int64
	h.b.View().Read(func(l *aggregates.Ledger) { fee = l.Network(network).Balances[events.FeeAccountID(network)] })
	if fee != 0 {
		t.Fatalf("fee balance after reversal %d", fee)
	}
}
