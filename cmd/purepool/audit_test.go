package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

func runAuditMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	code := Main(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// sqliteLog writes a generated history to a fresh SQLite event store.
func sqliteLog(t *testing.T, cfg ledgergen.Config) (string, *ledgergen.History) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := ledgergen.Generate(cfg)
	if err := h.AppendTo(ctx, s, 500); err != nil {
		t.Fatal(err)
	}
	return "sqlite:" + path, h
}

func TestAuditCommand(t *testing.T) {
	good, h := sqliteLog(t, ledgergen.Config{Network: "test", Seed: 61, ChainBlocks: 40})
	bad, _ := sqliteLog(t, ledgergen.Config{Network: "test", Seed: 61, ChainBlocks: 40, Inject: ledgergen.OverCredit})

	code, out, errOut := runAuditMain(t, "audit", "--store", good, "--quiet")
	if code != 0 || !strings.Contains(out, "violations: none") || !strings.Contains(out, "hash chain: intact") {
		t.Fatalf("good log: exit %d\n%s\n%s", code, out, errOut)
	}
	if errOut != "" {
		t.Fatalf("stderr on a pipe must stay empty (no progress bar): %q", errOut)
	}

	code, out, errOut = runAuditMain(t, "audit", "--store", bad, "--format", "json")
	var rep audit.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json report: %v\n%s", err, out)
	}
	if code != 1 || rep.Count(audit.KindRewardSplit) != 1 || !strings.Contains(errOut, "violations") {
		t.Fatalf("bad log: exit %d, %v, stderr %q", code, rep.Violations, errOut)
	}

	// Statements: reproducible from the log, in three formats.
	addr := h.Miners[0].Address
	code, csvOut, errOut := runAuditMain(t, "audit", "statement", "--store", good, "--miner", addr, "--network", "test", "--format", "csv")
	if code != 0 {
		t.Fatalf("statement: exit %d %s", code, errOut)
	}
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if err != nil || len(rows) < 3 || rows[len(rows)-1][2] != "balance" {
		t.Fatalf("csv statement %v: %q", err, csvOut)
	}
	want := audit.FormatBBP(h.Ledger.Networks["test"].Balances[h.Miners[0].ID])
	if rows[len(rows)-1][17] != want {
		t.Fatalf("statement balance %s, ledger %s", rows[len(rows)-1][17], want)
	}
	_, again, _ := runAuditMain(t, "audit", "statement", "--store", good, "--miner", addr, "--network", "test", "--format", "csv")
	if again != csvOut {
		t.Fatal("two statements of one log differ")
	}
	code, text, _ := runAuditMain(t, "audit", "statement", "--store", good, "--miner", addr, "--network", "test")
	if code != 0 || !strings.Contains(text, "balance  "+want+" BBP") {
		t.Fatalf("text statement: %s", text)
	}

	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"audit"}, 2, "--store is required"},
		{[]string{"audit", "--store", good, "--format", "xml"}, 2, "want text or json"},
		{[]string{"audit", "--store", good, "--verify-chain"}, 2, "--verify-chain needs --node"},
		{[]string{"audit", "--store", "mysql://x"}, 2, "unsupported store URL"},
		{[]string{"audit", "--store", "sqlite:" + filepath.Join(t.TempDir(), "none.db")}, 1, "no such file"},
		{[]string{"audit", "--store", good, "--anchor", "12:zz"}, 2, "64-hex-digit"},
		{[]string{"audit", "statement", "--store", good, "--miner", "nonsense", "--network", "test"}, 2, "invalid address"},
		{[]string{"audit", "statement", "--store", good, "--miner", addr, "--network", "main"}, 2, "invalid address"},
		{[]string{"audit", "statement", "--store", good, "--miner", addr, "--network", "test", "--format", "pdf"}, 2, "want text, csv or json"},
	} {
		code, _, errOut := runAuditMain(t, c.args...)
		if code != c.code || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, errOut, c.code, c.msg)
		}
	}

	// An anchor taken from this report's head holds; a wrong one is a violation.
	code, _, _ = runAuditMain(t, "audit", "--store", good, "--anchor", "5:"+strings.Repeat("00", 32))
	if code != 1 {
		t.Fatalf("wrong anchor: exit %d", code)
	}
	_, out, _ = runAuditMain(t, "audit", "--store", good, "--format", "json")
	var first audit.Report
	if err := json.Unmarshal([]byte(out), &first); err != nil || first.HeadHash == "" {
		t.Fatalf("report %v: %s", err, out)
	}
	code, _, errOut = runAuditMain(t, "audit", "--store", good, "--anchor", jsonPos(first.Head)+":"+first.HeadHash)
	if code != 0 {
		t.Fatalf("right anchor: exit %d %s", code, errOut)
	}
}

func TestAuditCommandPostgresWithReadModel(t *testing.T) {
	ctx := context.Background()
	url := testenv.NewPostgresDB(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h := ledgergen.Generate(ledgergen.Config{Network: "test", Seed: 62, ChainBlocks: 30})
	if err := h.AppendTo(ctx, s, 500); err != nil {
		t.Fatal(err)
	}
	rmURL := "sqlite:" + filepath.Join(t.TempDir(), "rm.db")
	rm, closeRM, err := audit.OpenReadModel(ctx, rmURL)
	if err != nil {
		t.Fatal(err)
	}
	defer closeRM()
	if err := projectAll(ctx, rm, h); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runAuditMain(t, "audit", "--store", url, "--readmodel", rmURL)
	if code != 0 || !strings.Contains(out, "read model: ") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
}

func jsonPos(p uint64) string { return strconv.FormatUint(p, 10) }

// projectAll builds the read model of h with the projections package.
func projectAll(ctx context.Context, rm *audit.SQLReadModel, h *ledgergen.History) error {
	db := &projections.DB{SQL: rm.DB, Dialect: rm.Dialect}
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	var cp uint64
	var err error
	for i := 0; i < len(h.Envelopes); i += 500 {
		if cp, err = db.ApplyBatch(ctx, cp, h.Envelopes[i:min(i+500, len(h.Envelopes))]); err != nil {
			return err
		}
	}
	return nil
}
