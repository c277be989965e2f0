package pglock_test

import (
	"context"
	"testing"

	"github.com/purepool/purepool/backend/pglock"
	"github.com/purepool/purepool/internal/testenv"
)

func TestOneHolderAcrossLockers(t *testing.T) {
	url := testenv.NewPostgresDB(t)
	ctx := context.Background()
	a, err := pglock.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := pglock.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	unlock, ok, err := a.TryLock(ctx, "payouts-test")
	if err != nil || !ok {
		t.Fatalf("first lock: %v %v", ok, err)
	}
	if _, ok, err := b.TryLock(ctx, "payouts-test"); err != nil || ok {
		t.Fatalf("second holder got the lock: %v %v", ok, err)
	}
	if u, ok, err := b.TryLock(ctx, "chain-test"); err != nil || !ok {
		t.Fatalf("another name: %v %v", ok, err)
	} else {
		u()
	}
	unlock()
	u2, ok, err := b.TryLock(ctx, "payouts-test")
	if err != nil || !ok {
		t.Fatalf("after unlock: %v %v", ok, err)
	}
	u2()
}
