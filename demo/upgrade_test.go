package demo_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/demo"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
)

// untar unpacks a .tar.gz of plain files into dir.
func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(dir, filepath.Base(h.Name)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		out.Close()
	}
}

// foldStore folds a SQLite event store with the backend's fold.
func foldStore(t *testing.T, path string) (*aggregates.Ledger, map[string]int) {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := aggregates.NewLedger(aggregates.LedgerConfig{})
	types := map[string]int{}
	var after uint64
	for {
		page, err := s.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, env := range page {
			types[env.Type]++
			if err := l.Apply(env); err != nil {
				t.Fatal(err)
			}
		}
		if len(page) < 1000 {
			return l, types
		}
		after = page[len(page)-1].Position
	}
}

// TestDemoContinuesAStoreOfAnEarlierRelease opens the data folder a demo of
// release 36e7b63 left (event store, read model and simulated node; its
// payouts went out by sendmany, with the payout id as comment; no pool id),
// continues it with this release (which migrates the read model), and checks that
// the old history replays and audits clean, the store gets its pool id, the
// wallet check accepts the old sends (nothing paused), and new payouts go out
// signed, each once.
func TestDemoContinuesAStoreOfAnEarlierRelease(t *testing.T) {
	dir := t.TempDir()
	untar(t, filepath.Join("testdata", "release-36e7b63-demo.tar.gz"), dir)
	before, types := foldStore(t, filepath.Join(dir, "events.db"))
	if types[events.TypePayoutSent] == 0 || types[events.TypePoolInstalled] != 0 || types[events.TypePayoutSigned] != 0 {
		t.Fatalf("the fixture is not an earlier release's store with payouts: %v", types)
	}
	var out bytes.Buffer
	opt := fast(dir, &out)
	opt.Miners = 4 // as the earlier run
	// Run until a payout of this release was sent (read from the event
	// store itself: the website counts a payout once planned).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "events.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return
		}
		defer db.Close()
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			var n int
			if db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE type = 'PayoutSigned'").Scan(&n) == nil && n > 0 &&
				db.QueryRowContext(ctx, "SELECT count(*) FROM events WHERE type = 'PayoutSent'").Scan(&n) == nil && n > types[events.TypePayoutSent] {
				cancel()
			}
		}
	}()
	s, err := demo.Run(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("continued run:\n%s", out.String())
	if !s.Audit.OK() {
		t.Fatalf("audit of the continued store: %v", s.Audit.Violations)
	}
	if !strings.Contains(out.String(), "audit: clean") {
		t.Errorf("the summary does not report a clean audit:\n%s", out.String())
	}
	after, types := foldStore(t, filepath.Join(dir, "events.db"))
	if after.PoolID == [16]byte{} || types[events.TypePoolInstalled] != 1 {
		t.Fatalf("the upgraded store has no pool id: %v", types)
	}
	if types[events.TypePayoutsPaused] != 0 {
		t.Fatalf("the wallet check paused payouts of an upgraded store: %v", types)
	}
	n := after.Networks["test"]
	var signed int
	for id, p := range n.Payouts {
		if old, ok := before.Networks["test"].Payouts[id]; ok {
			if old.Status != p.Status && !(old.Status == aggregates.PayoutSent && p.Status == aggregates.PayoutConfirmed) || old.TxID != p.TxID {
				t.Errorf("payout %s of the earlier release changed: %+v → %+v", id, old, p)
			}
			continue
		}
		if p.Status == aggregates.PayoutPlanned || p.Status == aggregates.PayoutSignedStatus {
			continue // the run stopped while it was under way
		}
		if p.Signed == nil || p.PoolID != after.PoolID || p.Status != aggregates.PayoutSent && p.Status != aggregates.PayoutConfirmed {
			t.Errorf("new payout %s is not signed by this installation: %+v", id, p)
		}
		signed++
	}
	if signed == 0 {
		t.Fatal("no new payout")
	}
}
