package demo_test

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/demo"
)

func logger() *slog.Logger {
	if os.Getenv("PUREPOOL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// fast are the demo's settings for a test: blocks every 300 ms, so a pool
// block matures in about a second and a half.
func fast(dir string, out io.Writer) demo.Options {
	return demo.Options{
		Addr: "127.0.0.1:0", DataDir: dir, Miners: 3, BlockTime: 300 * time.Millisecond, Duration: time.Minute,
		Maturity: 5, ShareDifficulty: 500, SharesPerBlock: 3, ShareInterval: 100 * time.Millisecond,
		PayoutInterval: 300 * time.Millisecond, StatusEvery: 200 * time.Millisecond, Stdout: out, Logger: logger(),
	}
}

// pool is what the website shows, read from the demo's read model.
type pool struct{ shares, found, matured, credited, paid, sent int64 }

// runUntil runs the demo until the website shows what done wants (so a
// slow machine takes longer instead of failing), then stops it as Ctrl-C
// does; the demo's own one-minute duration is only a backstop.
func runUntil(t *testing.T, opt demo.Options, done func(pool) bool) *demo.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(opt.DataDir, "readmodel.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		if err != nil {
			return
		}
		defer db.Close()
		for ctx.Err() == nil {
			time.Sleep(100 * time.Millisecond)
			var p pool
			err := db.QueryRowContext(ctx, "SELECT shares, blocks_found, blocks_matured, credited_sat, paid_sat FROM pool WHERE network = 'test'").
				Scan(&p.shares, &p.found, &p.matured, &p.credited, &p.paid)
			if err == nil {
				// paid_sat counts planned payouts; sent ones are settled.
				err = db.QueryRowContext(ctx, "SELECT count(*) FROM payouts WHERE network = 'test' AND status IN ('sent', 'confirmed')").Scan(&p.sent)
			}
			if err == nil && done(p) {
				cancel()
			}
		}
	}()
	s, err := demo.Run(ctx, opt)
	if err != nil {
		t.Fatalf("demo: %v", err)
	}
	return s
}

// TestDemoRunsAndContinues runs the demo until it paid a payout, checks
// that the pool accepted shares, found and matured blocks, credited them
// exactly and paid, with a clean audit; then restarts it on the same
// folder and checks that it continues from there.
func TestDemoRunsAndContinues(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	first := runUntil(t, fast(dir, &out), func(p pool) bool { return p.paid > 0 && p.sent > 0 })
	t.Logf("first run:\n%s", out.String())
	logRejections(t, dir)
	checkSummary(t, first)
	if first.Totals.PayoutsSent == 0 || first.Totals.PaidSat <= 0 {
		t.Errorf("no payout sent in the first run: %+v", first.Totals)
	}
	if m := first.Milestones; m.Share == 0 || m.PoolBlock == 0 || m.Matured == 0 || m.Payout == 0 {
		t.Errorf("milestones %+v: every stage should have been seen", m)
	}
	if !strings.Contains(out.String(), "audit: clean") {
		t.Errorf("the summary does not report a clean audit:\n%s", out.String())
	}

	out.Reset()
	a := first.Totals
	second := runUntil(t, fast(dir, &out), func(p pool) bool {
		// A block found by this run has matured.
		return p.shares > a.AcceptedShares && p.matured > int64(a.BlocksDiscovered)
	})
	t.Logf("second run:\n%s", out.String())
	logRejections(t, dir)
	checkSummary(t, second)
	b := second.Totals
	if b.AcceptedShares <= a.AcceptedShares || b.BlocksDiscovered <= a.BlocksDiscovered || b.BlocksMatured <= a.BlocksDiscovered ||
		b.CreditedSat < a.CreditedSat || b.PaidSat < a.PaidSat || b.Miners != a.Miners {
		t.Errorf("the restart did not continue the ledger:\nfirst  %+v\nsecond %+v", a, b)
	}
	if second.Milestones.Share == 0 {
		t.Errorf("the restarted demo showed no new share: %+v", second.Milestones)
	}
	if second.Audit.Events <= first.Audit.Events {
		t.Errorf("events %d after the restart, %d before", second.Audit.Events, first.Audit.Events)
	}
}

func checkSummary(t *testing.T, s *demo.Summary) {
	t.Helper()
	tot := s.Totals
	if !s.Audit.OK() {
		t.Errorf("audit violations: %v", s.Audit.Violations)
	}
	if tot.AcceptedShares == 0 || tot.Miners != 3 {
		t.Errorf("shares %d from %d miners", tot.AcceptedShares, tot.Miners)
	}
	if tot.BlocksDiscovered == 0 || tot.BlocksMatured == 0 {
		t.Errorf("pool blocks: %d found, %d matured", tot.BlocksDiscovered, tot.BlocksMatured)
	}
	if tot.RewardSat <= 0 || tot.CreditedSat+tot.FeeSat != tot.RewardSat {
		t.Errorf("credits %d + fee %d != matured rewards %d", tot.CreditedSat, tot.FeeSat, tot.RewardSat)
	}
	if tot.FeeSat <= 0 {
		t.Errorf("no pool fee on %d of rewards at 1%%", tot.RewardSat)
	}
}

// logRejections logs why shares were rejected (from the read model), to
// tell a slow machine's stale shares from a defect.
func logRejections(t *testing.T, dir string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "readmodel.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SELECT reason, SUM(count), MAX(last_detail) FROM rejections GROUP BY reason")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var reason, detail string
		var n int64
		if err := rows.Scan(&reason, &n, &detail); err != nil {
			t.Fatal(err)
		}
		t.Logf("rejected %d × %s (e.g. %s)", n, reason, detail)
	}
}
