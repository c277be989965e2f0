package audit_test

import (
	"context"
	"testing"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

// fundedNode starts a simulated node whose wallet holds mature coins.
func fundedNode(t *testing.T) (*simnode.Server, *rpcclient.Client) {
	t.Helper()
	ctx := context.Background()
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Maturity: 1,
		BlockReward: 2_000_000 * biblepay.Coin, Seed: 3}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Node.SetHashRate(1); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := srv.Node.MinePoolBlock(ctx, srv.Node.WalletAddress(), ""); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Node.Generate(2); err != nil {
		t.Fatal(err)
	}
	c, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks["test"]})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// sender pays a payout through the wallet with sendmany, the fee
// subtracted from the amounts, as the backend does. alter may change what
// is really sent for the n-th send.
func sender(t *testing.T, c *rpcclient.Client, alter func(n int, amounts map[string]int64) (fakeTxID string)) func(string, []events.PayoutItem) (string, int64, error) {
	n := 0
	return func(_ string, items []events.PayoutItem) (string, int64, error) {
		ctx := context.Background()
		amounts := map[string]int64{}
		var subtract []string
		for _, it := range items {
			amounts[it.Address] += it.AmountSat
			subtract = append(subtract, it.Address)
		}
		n++
		if alter != nil {
			if fake := alter(n, amounts); fake != "" {
				return fake, 2260, nil
			}
		}
		txid, err := c.SendMany(ctx, amounts, 0, "purepool payout", subtract)
		if err != nil {
			return "", 0, err
		}
		tx, err := c.GetTransaction(ctx, txid)
		if err != nil {
			return "", 0, err
		}
		return txid, -int64(tx.Fee), nil
	}
}

func TestVerifyPayoutsAgainstTheWallet(t *testing.T) {
	_, c := fundedNode(t)
	ctx := context.Background()

	h := ledgergen.Generate(ledgergen.Config{Seed: 31, Network: "test", Send: sender(t, c, nil)})
	rep, err := audit.Run(ctx, h, audit.Options{Wallet: c})
	if err != nil {
		t.Fatal(err)
	}
	sent := rep.Networks[0].PayoutsSent
	if !rep.OK() || sent == 0 || rep.WalletChecked != sent {
		t.Fatalf("checked %d of %d sent payouts; violations %v", rep.WalletChecked, sent, rep.Violations)
	}

	// The wallet paid one address 1 BBP more than the ledger says, and
	// another payout's transaction is unknown to it.
	var unknown string
	h = ledgergen.Generate(ledgergen.Config{Seed: 31, Network: "test", Send: sender(t, c, func(n int, amounts map[string]int64) string {
		switch n {
		case 1:
			for a := range amounts {
				amounts[a] += biblepay.Coin
				break
			}
		case 2:
			unknown = "00000000000000000000000000000000000000000000000000000000deadbeef"
			return unknown
		}
		return ""
	})})
	rep, err = audit.Run(ctx, h, audit.Options{Wallet: c})
	if err != nil {
		t.Fatal(err)
	}
	got := kinds(rep)
	if got[audit.KindWalletMismatch] != 1 || got[audit.KindWalletMissing] != 1 || len(got) != 2 {
		t.Fatalf("violations %v", rep.Violations)
	}
	// Without --verify-chain the ledger alone cannot tell.
	if rep := mustRun(t, h, audit.Options{}); !rep.OK() {
		t.Fatalf("ledger-only audit: %v", rep.Violations)
	}
}

// A payout recorded as conflicted must be conflicted in the wallet: if its
// transaction paid after all, the amounts the ledger gave back are owed
// twice.
func TestVerifyConflictedPayoutsAgainstTheWallet(t *testing.T) {
	srv, c := fundedNode(t)
	ctx := context.Background()
	doubleSpend := func(_, txid string) ([]string, error) {
		conflict, err := srv.Node.DoubleSpend(txid)
		if err != nil {
			return nil, err
		}
		// The wallet lost the coins to the double spend; top it up.
		for range 2 {
			if _, err := srv.Node.Fund(1_900_000 * biblepay.Coin); err != nil {
				return nil, err
			}
		}
		return []string{conflict}, nil
	}
	h := ledgergen.Generate(ledgergen.Config{Seed: 31, Network: "test", Send: sender(t, c, nil), Conflict: doubleSpend})
	rep, err := audit.Run(ctx, h, audit.Options{Wallet: c})
	if err != nil {
		t.Fatal(err)
	}
	n := rep.Networks[0]
	if !rep.OK() || n.PayoutsConflicted == 0 || rep.WalletChecked != n.PayoutsSent+n.PayoutsConflicted {
		t.Fatalf("checked %d of %d sent and %d conflicted payouts; violations %v", rep.WalletChecked, n.PayoutsSent, n.PayoutsConflicted, rep.Violations)
	}

	// The ledger says conflicted, but the wallet's transaction stands.
	h = ledgergen.Generate(ledgergen.Config{Seed: 31, Network: "test", Send: sender(t, c, nil),
		Conflict: func(string, string) ([]string, error) { return []string{"feed"}, nil }})
	rep, err = audit.Run(ctx, h, audit.Options{Wallet: c})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(rep); got[audit.KindWalletMismatch] != rep.Networks[0].PayoutsConflicted || len(got) != 1 {
		t.Fatalf("violations %v", rep.Violations)
	}
}
