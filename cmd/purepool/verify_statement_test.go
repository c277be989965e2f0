package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/purepool/purepool/anchor/anchortest"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

// anchoredLog is a store holding a generated history whose payouts were
// paid on a simulated node in transactions carrying the log's head, as the
// backend writes them.
type anchoredLog struct {
	url     string // --store
	node    string // --node
	store   events.Store
	tamper  anchortest.Tamper
	history *ledgergen.History
}

func newAnchoredLog(t *testing.T, kind string, seed uint64) *anchoredLog {
	t.Helper()
	ctx := context.Background()
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Maturity: 1, BlockReward: 5_000_000 * biblepay.Coin, Seed: int64(seed),
		NetworkHashRate: 50}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Node.SetHashRate(1); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := srv.Node.MinePoolBlock(ctx, srv.Node.WalletAddress(), ""); err != nil {
			t.Fatal(err)
		}
	}
	c, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks["test"]})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	h := ledgergen.Generate(ledgergen.Config{Network: "test", Seed: seed, ChainBlocks: 100, Send: func(string, []events.PayoutItem) (string, int64, error) {
		n++
		x := sha256.Sum256(fmt.Appendf(nil, "made up %d", n))
		return hex.EncodeToString(x[:]), 2260, nil
	}})
	l := &anchoredLog{node: srv.URL, history: h}
	switch kind {
	case "sqlite":
		o := anchortest.OpenSQLite(t, filepath.Join(t.TempDir(), "events.db"))
		l.url, l.store, l.tamper = o.URL, o.Store, o.Tamper
	case "postgres":
		o := anchortest.OpenPostgres(t, testenv.NewPostgresDB(t))
		l.url, l.store, l.tamper = o.URL, o.Store, o.Tamper
	}
	mine := func() error { _, err := srv.Node.Generate(1); return err }
	if _, err := anchortest.Load(ctx, l.store, h.Envelopes, uuid.NewSHA1(events.Namespace, fmt.Appendf(nil, "pool %d", seed)),
		anchortest.NodeSender(c, nil, mine), 500); err != nil {
		t.Fatal(err)
	}
	return l
}

// position of the first event of typ at or after from, or of the last one (last).
func (l *anchoredLog) position(t *testing.T, typ string, from uint64, last bool) uint64 {
	t.Helper()
	envs, err := l.store.ReadAll(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var pos uint64
	for _, e := range envs {
		if e.Type == typ && e.Position >= from {
			pos = e.Position
			if !last {
				break
			}
		}
	}
	if pos == 0 {
		t.Fatalf("no %s", typ)
	}
	return pos
}

func (l *anchoredLog) audit(t *testing.T, chain bool) (int, string) {
	t.Helper()
	args := []string{"audit", "--store", l.url, "--quiet"}
	if chain {
		args = append(args, "--verify-chain", "--node", l.node)
	}
	code, out, errOut := runAuditMain(t, args...)
	return code, out + errOut
}

// The tamper cases of issue 14 that a hash chain cannot catch by itself,
// done with plain SQL: `purepool audit` exits 0 without the chain and 1
// with --verify-chain; an edited event exits 1 either way. (without -1:
// not checked.)
func TestAuditVerifyChainAnchors(t *testing.T) {
	ctx := context.Background()
	editWork := func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"network":"test"`), []byte(`"network":"test" `), 1)
	}
	cases := []struct {
		name             string
		stores           []string
		tamper           func(t *testing.T, l *anchoredLog)
		without, with    int
		withoutMsg, want string
	}{
		{"untouched", []string{"sqlite"}, func(*testing.T, *anchoredLog) {}, 0, 0, "latest anchored head: size ", "on the chain in block"},
		{"rewritten suffix, hashes and anchors recomputed", []string{"sqlite", "postgres"}, func(t *testing.T, l *anchoredLog) {
			first := l.position(t, events.TypePayoutSigned, 1, false)
			work := l.position(t, events.TypeWorkIssued, first-200, false)
			if err := l.tamper.RewriteFrom(ctx, l.store, work, editWork, true); err != nil {
				t.Fatal(err)
			}
		}, 0, 1, "violations: none", "chain_anchor_onchain"},
		{"truncated behind the last payout", []string{"sqlite", "postgres"}, func(t *testing.T, l *anchoredLog) {
			cut := l.position(t, events.TypePayoutSigned, 1, true) - 1
			if err := l.tamper.Exec(ctx, "DELETE FROM events WHERE position >= ?", int64(cut)); err != nil {
				t.Fatal(err)
			}
		}, 0, 1, "violations: none", "the log holds no transaction of it"},
		{"a paid payout deleted, renumbered, hashes and anchors recomputed", []string{"sqlite", "postgres"}, func(t *testing.T, l *anchoredLog) {
			signed := l.position(t, events.TypePayoutSigned, 1, false)
			envs, err := l.store.ReadAll(ctx, signed-1, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, q := range []string{
				"DELETE FROM events WHERE stream = ?",
				"UPDATE events SET position = position + 10000000",
				`UPDATE events SET position = r.rn FROM
					(SELECT position AS p, row_number() OVER (ORDER BY position) AS rn FROM events) AS r WHERE events.position = r.p`,
			} {
				var args []any
				if strings.Contains(q, "stream = ?") {
					args = append(args, envs[0].Stream)
				}
				if err := l.tamper.Exec(ctx, q, args...); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.tamper.RewriteFrom(ctx, l.store, signed-1, func(b []byte) []byte { return b }, true); err != nil {
				t.Fatal(err)
			}
		}, -1, 1, "", "the log holds no transaction of it"}, // the positions the rounds record after it betray the renumbering too
		{"edited event", []string{"sqlite"}, func(t *testing.T, l *anchoredLog) {
			work := l.position(t, events.TypeWorkIssued, 2, false)
			if err := l.tamper.Exec(ctx, "UPDATE events SET metadata = ? WHERE position = ?", []byte(`{"command_id":"x"}`), int64(work)); err != nil {
				t.Fatal(err)
			}
		}, 1, 1, "chain_anchor_log", "chain_anchor_log"},
	}
	for _, c := range cases {
		for _, store := range c.stores {
			t.Run(store+"/"+c.name, func(t *testing.T) {
				l := newAnchoredLog(t, store, 71)
				if code, out := l.audit(t, true); code != 0 {
					t.Fatalf("before tampering: exit %d\n%s", code, out)
				}
				c.tamper(t, l)
				if code, out := l.audit(t, false); c.without >= 0 && (code != c.without || !strings.Contains(out, c.withoutMsg)) {
					t.Errorf("without --verify-chain: exit %d, want %d and %q\n%s", code, c.without, c.withoutMsg, out)
				}
				if code, out := l.audit(t, true); code != c.with || !strings.Contains(out, c.want) {
					t.Errorf("with --verify-chain: exit %d, want %d and %q\n%s", code, c.with, c.want, out)
				}
			})
		}
	}
}

func TestVerifyStatementCommand(t *testing.T) {
	ctx := context.Background()
	l := newAnchoredLog(t, "sqlite", 72)
	dir := t.TempDir()
	// The miner with the most lines.
	var addr string
	best := -1
	for _, m := range l.history.Miners {
		code, out, errOut := runAuditMain(t, "audit", "statement", "--store", l.url, "--miner", m.Address, "--network", "test", "--format", "json", "--quiet", "--node", l.node)
		if code != 0 {
			t.Fatalf("statement: exit %d %s", code, errOut)
		}
		st, err := audit.ReadStatement(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Lines) > best && len(st.Anchors) > 0 {
			best, addr = len(st.Lines), m.Address
			if err := os.WriteFile(filepath.Join(dir, "statement.json"), []byte(out), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	file := filepath.Join(dir, "statement.json")
	raw, _ := os.ReadFile(file)
	st, _ := audit.ReadStatement(bytes.NewReader(raw))

	code, out, errOut := runAuditMain(t, "verify-statement", file, "--node", l.node)
	if code != 0 || !strings.Contains(out, "verified: ") || !strings.Contains(out, "in the chain, block ") {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runAuditMain(t, "verify-statement", "--format", "json", file)
	var v audit.StatementVerdict
	if err := json.Unmarshal([]byte(out), &v); code != 0 || err != nil || !v.OK() || v.Lines != len(st.Lines) || v.Heads[0].Checked != "statement" {
		t.Fatalf("verify without a node: exit %d %v\n%s", code, err, out)
	}

	// A line's amount changed by hand in the file.
	var line int
	for i, ln := range st.Lines {
		if ln.Kind == audit.LineCredit && ln.Proof != nil {
			line = i
			break
		}
	}
	old := fmt.Sprintf(`"amount_sat": %d,`, st.Lines[line].AmountSat)
	i := bytes.Index(raw, []byte(old))
	if i < 0 {
		t.Fatalf("no %q in the statement", old)
	}
	bad := append(append(append([]byte(nil), raw[:i]...), fmt.Appendf(nil, `"amount_sat": %d,`, st.Lines[line].AmountSat*2)...), raw[i+len(old):]...)
	badFile := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(badFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runAuditMain(t, "verify-statement", badFile, "--node", l.node)
	if code != 1 || !strings.Contains(out, fmt.Sprintf("line %d (position %d): amount", line+1, st.Lines[line].Position)) || !strings.Contains(errOut, "did not hold") {
		t.Fatalf("altered amount: exit %d\n%s\n%s", code, out, errOut)
	}

	// The log rewritten behind the statement: a statement of it does not
	// verify against the chain.
	first := l.position(t, events.TypePayoutSigned, 1, false)
	work := l.position(t, events.TypeWorkIssued, first-200, false)
	if err := l.tamper.RewriteFrom(ctx, l.store, work, func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"network":"test"`), []byte(`"network":"test" `), 1)
	}, true); err != nil {
		t.Fatal(err)
	}
	_, forged, _ := runAuditMain(t, "audit", "statement", "--store", l.url, "--miner", addr, "--network", "test", "--format", "json", "--quiet")
	forgedFile := filepath.Join(dir, "forged.json")
	if err := os.WriteFile(forgedFile, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := runAuditMain(t, "verify-statement", forgedFile, "--node", l.node); code != 1 || !strings.Contains(out, "its anchor is size") {
		t.Fatalf("statement of a rewritten log: exit %d\n%s", code, out)
	}

	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"verify-statement"}, "which statement?"},
		{[]string{"verify-statement", filepath.Join(dir, "none.json")}, "no such file"},
		{[]string{"verify-statement", file, "--format", "xml"}, "want text or json"},
		{[]string{"verify-statement", file, "--node", "ftp://x"}, "want http://"},
		{[]string{"verify-statement", file, "--node", "http://127.0.0.1:1"}, "the node"},
		{[]string{"verify-statement", file, "extra"}, "unexpected arguments"},
	} {
		if code, _, errOut := runAuditMain(t, c.args...); code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.msg)
		}
	}
	notJSON := filepath.Join(dir, "x.json")
	_ = os.WriteFile(notJSON, []byte("statement"), 0o600)
	if code, _, errOut := runAuditMain(t, "verify-statement", notJSON); code != 2 || !strings.Contains(errOut, "statement:") {
		t.Errorf("not JSON: exit %d %q", code, errOut)
	}
	if code, _, errOut := runAuditMain(t, "verify-statement", "-h"); code != 0 || !strings.Contains(errOut, "Exit status:") {
		t.Errorf("help: exit %d %q", code, errOut)
	}
}
