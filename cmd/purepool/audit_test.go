package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
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
		{[]string{"audit", "--store", "sqlite:" + filepath.Join(t.TempDir(), "none.db")}, 2, "no such file"},
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

// sqliteDebtLog is a generated history in a SQLite store to which the pool
// then appends, through the store, what it writes when a paid pool block
// leaves the chain: a payout of the block's miners' whole balances, then a
// ChainBlockRecorded of another block at its height and
// aggregates.DecideOrphan's BlockOrphaned and CreditReversed. Its miners owe
// the reversed credits: a documented debt (backend/PAYOUTS.md).
func sqliteDebtLog(t *testing.T) (url string, db chainTamper, debtors int) {
	t.Helper()
	ctx := context.Background()
	url, h := sqliteLog(t, ledgergen.Config{Network: "test", Seed: 65, ChainBlocks: 60})
	n := h.Ledger.Networks["test"]
	var pick *aggregates.PoolBlock
	for _, b := range n.Blocks {
		if b.Matured && !b.Orphaned && len(b.Credits) > 0 && b.Empty == nil && (b.Round == nil || b.Round.CarriedInSat == 0) &&
			(pick == nil || b.Height < pick.Height) {
			pick = b
		}
	}
	if pick == nil {
		t.Fatal("no credited block")
	}
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	pay := events.PayoutPlanned{Network: "test", PayoutID: uuid.New(), At: at}
	for _, c := range pick.Credits {
		if bal := n.Balances[c.MinerID]; bal > 0 && !slices.ContainsFunc(pay.Items, func(it events.PayoutItem) bool { return it.MinerID == c.MinerID }) {
			pay.Items = append(pay.Items, events.PayoutItem{MinerID: c.MinerID, Address: n.Miners[c.MinerID].Address, AmountSat: bal})
			pay.TotalSat += bal
		}
	}
	replaced := strings.Repeat("cd", 32)
	orphan, err := aggregates.DecideOrphan(*pick, replaced, at)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(url, "sqlite:")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range append([]events.Event{pay, events.PayoutSent{Network: "test", PayoutID: pay.PayoutID, TxID: strings.Repeat("9a", 32), At: at},
		events.ChainBlockRecorded{Network: "test", Height: pick.Height, Hash: replaced, Time: at, SeenAt: at}}, orphan...) {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := events.Append(ctx, s, aggregates.StreamFor(e), events.Any, ne); err != nil {
			t.Fatal(err)
		}
	}
	sqlDB, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	return url, chainTamper{db: sqlDB, table: "events"}, len(pay.Items)
}

// Issue 14: a documented debt is a finding, exit 0; the same debt enlarged
// by plain SQL, or one no event explains, exits 1; an audit that could not
// run exits 2, never 0 or 1.
func TestAuditCommandFindingsAndExitStatus(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper string // plain SQL run on a copy of the log ("" : none)
		code   int
		want   []string
	}{
		{"documented debt", "", 0, []string{"findings: ", "debt_after_orphan at position ", "(CreditReversed) [test]",
			`runbook: backend/PAYOUTS.md "A pool block left the chain after its credits were paid"`, "violations: none"}},
		{"debt enlarged, nothing recomputed",
			`UPDATE events SET data = json_set(data, '$.amount_sat', json_extract(data, '$.amount_sat') * 2)
			 WHERE position = (SELECT min(position) FROM events WHERE type = 'CreditReversed')`,
			1, []string{"chain_hash at position", "negative_balance at position", "bad_reversal"}},
		{"debt no event explains: the reversals turned into another block's",
			`UPDATE events SET data = json_set(data, '$.block_hash', 'ef') WHERE type = 'CreditReversed'`,
			1, []string{"negative_balance at position", "no reversal of a pool block orphaned after its credits were paid explains it"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			url, db, debtors := sqliteDebtLog(t)
			if c.tamper != "" {
				db.exec(t, c.tamper)
			}
			code, out, errOut := runAuditMain(t, "audit", "--store", url, "--quiet")
			if code != c.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("report lacks %q:\n%s", w, out)
				}
			}
			if c.code != 0 {
				if strings.Contains(out, "debt_after_orphan") && c.tamper != "" && strings.Contains(c.name, "no event") {
					t.Errorf("an unexplained debt reported as a finding:\n%s", out)
				}
				return
			}
			if errOut != "" {
				t.Errorf("stderr of a clean audit with findings: %q", errOut)
			}
			_, js, _ := runAuditMain(t, "audit", "--store", url, "--format", "json")
			var rep audit.Report
			if err := json.Unmarshal([]byte(js), &rep); err != nil {
				t.Fatal(err)
			}
			negative := 0 // the block's miners paid now (debtors), and those paid by earlier payouts
			for _, acc := range rep.Accounts {
				if acc.BalanceSat < 0 {
					negative++
				}
			}
			if rep.CountFindings(audit.KindDebtAfterOrphan) != negative || negative < debtors || len(rep.Violations) != 0 {
				t.Fatalf("json: findings %v, violations %v", rep.Findings, rep.Violations)
			}
			for _, f := range rep.Findings {
				if f.Event != events.TypeCreditReversed || f.Position == 0 || f.AmountSat <= 0 || f.Runbook == "" {
					t.Errorf("finding %+v", f)
				}
			}
		})
	}

	// Could not run: exit 2, whatever the reason, with the reason on stderr.
	good, _, _ := sqliteDebtLog(t) // a sent payout: --verify-chain has a transaction to ask about
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, c := range []struct {
		name string
		ctx  context.Context
		args []string
		msg  string
	}{
		{"store unreachable", context.Background(), []string{"--store", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, "purepool audit: "},
		{"store missing", context.Background(), []string{"--store", "sqlite:" + filepath.Join(t.TempDir(), "none.db")}, "no such file"},
		{"read model missing", context.Background(), []string{"--store", good, "--readmodel", "mysql://nobody:x@tcp(127.0.0.1:1)/none"}, "purepool audit: "},
		{"node unreachable for --verify-chain", context.Background(), []string{"--store", good, "--verify-chain", "--node", "http://127.0.0.1:1"}, "purepool audit: "},
		{"interrupted", canceled, []string{"--store", good}, "context canceled"},
		{"bad flag", context.Background(), []string{"--store", good, "--nosuch"}, "flag provided but not defined"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(c.ctx, 60*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := Main(ctx, append([]string{"audit", "--quiet"}, c.args...), &out, &errOut)
			if code != audit.ExitCouldNotRun || !strings.Contains(errOut.String(), c.msg) || strings.Contains(out.String(), "violations: none") {
				t.Fatalf("exit %d (want 2), stderr %q, stdout %q", code, errOut.String(), out.String())
			}
		})
	}
}
