package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // "sqlite": the tests tamper with plain SQL

	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/anchor/anchortest"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simnode"
)

var testPool = uuid.MustParse("0b5e7c1a-4d3f-5a2e-8c6b-9f1e2d3c4b5a")

// fakeSend makes the generator record every sent payout as really sent
// (no conflicted payouts: a real transaction is not double spent by a
// made-up one); anchortest.Load then pays them for real.
func fakeSend() func(string, []events.PayoutItem) (string, int64, error) {
	n := 0
	return func(string, []events.PayoutItem) (string, int64, error) {
		n++
		h := sha256.Sum256(fmt.Appendf(nil, "fake %d", n))
		return hex.EncodeToString(h[:]), 2260, nil
	}
}

// anchorNode starts a simulated node whose wallet can pay the payouts.
func anchorNode(t testing.TB) (*simnode.Server, *rpcclient.Client) {
	t.Helper()
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], Maturity: 1, BlockReward: 5_000_000 * biblepay.Coin, Seed: 14,
		NetworkHashRate: 50}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := srv.Node.SetHashRate(1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 {
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

// anchoredStore writes a generated history with anchors into a fresh
// SQLite store; with node, its sent payouts are paid on that node in
// transactions carrying the anchors. It returns the store, plain SQL on
// it and the heads.
func anchoredStore(t testing.TB, cfg ledgergen.Config, srv *simnode.Server, c *rpcclient.Client) (*sqlite.Store, anchortest.Tamper, *ledgergen.History, []anchor.Data) {
	t.Helper()
	ctx := context.Background()
	var send anchortest.Sender
	if srv != nil {
		cfg.Send = fakeSend()
		send = anchortest.NodeSender(c, nil, func() error { _, err := srv.Node.Generate(1); return err })
	}
	h := ledgergen.Generate(cfg)
	path := filepath.Join(t.TempDir(), "events.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	heads, err := anchortest.Load(ctx, s, h.Envelopes, testPool, send, 500)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlite.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, anchortest.Tamper{DB: db, Table: "events"}, h, heads
}

// positionOf finds the first event of a type at or after a position.
func positionOf(t testing.TB, s *sqlite.Store, typ string, from uint64) uint64 {
	t.Helper()
	envs, err := s.ReadAll(context.Background(), from-1, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		if e.Type == typ {
			return e.Position
		}
	}
	t.Fatalf("no %s after %d", typ, from)
	return 0
}

// lastOf is the last event of a type.
func lastOf(t testing.TB, s *sqlite.Store, typ string) uint64 {
	t.Helper()
	envs, err := s.ReadAll(context.Background(), 0, 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	var pos uint64
	for _, e := range envs {
		if e.Type == typ {
			pos = e.Position
		}
	}
	return pos
}

// anchorKinds counts the anchor violations; others the rest. The
// generated histories are the ledger's business: the anchor tests compare
// the rest before and after they tamper, rather than require none.
func anchorKinds(rep *audit.Report) (anchors map[audit.Kind]int, others int) {
	anchors = map[audit.Kind]int{}
	for _, v := range rep.Violations {
		switch v.Kind {
		case audit.KindAnchorLog, audit.KindAnchorOnChain, audit.KindAnchorTxMissing:
			anchors[v.Kind]++
		default:
			others++
		}
	}
	return anchors, others
}

// firstOf is the first violation of a kind.
func firstOf(rep *audit.Report, kind audit.Kind) audit.Violation {
	for _, v := range rep.Violations {
		if v.Kind == kind {
			return v
		}
	}
	return audit.Violation{}
}

// editWork changes a WorkIssued's data: it moves no money, so the ledger
// stays consistent and only the chain and the anchors can tell.
func editWork(data []byte) []byte {
	return bytes.Replace(data, []byte(`"network":"test"`), []byte(`"network":"test" `), 1)
}

func TestAnchorsOffline(t *testing.T) {
	ctx := context.Background()
	cfg := ledgergen.Config{Network: "test", Seed: 141, ChainBlocks: 120}
	s, db, _, heads := anchoredStore(t, cfg, nil, nil)
	if len(heads) < 3 {
		t.Fatalf("only %d payouts", len(heads))
	}
	rep := mustRun(t, s, audit.Options{})
	an, base := anchorKinds(rep)
	if len(an) != 0 || rep.Anchors == nil || rep.Anchors.Anchored != len(heads) || rep.Anchors.Latest == nil {
		t.Fatalf("clean anchored log: %v %+v", rep.Violations, rep.Anchors)
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	if !strings.Contains(text.String(), fmt.Sprintf("anchors: %d payouts carry the log's head", len(heads))) ||
		!strings.Contains(text.String(), "latest anchored head: size ") {
		t.Fatalf("report:\n%s", text.String())
	}

	// An event before the anchors edited, nothing recomputed: the chain
	// breaks there and every later anchor disagrees with the log.
	work := positionOf(t, s, events.TypeWorkIssued, 2)
	if work >= heads[0].Size {
		t.Fatalf("first work %d after the first anchor %d", work, heads[0].Size)
	}
	var data []byte
	if err := db.DB.QueryRow("SELECT data FROM events WHERE position = ?", work).Scan(&data); err != nil {
		t.Fatal(err)
	}
	if err := db.Exec(ctx, "UPDATE events SET data = ? WHERE position = ?", editWork(data), work); err != nil {
		t.Fatal(err)
	}
	rep = mustRun(t, s, audit.Options{})
	if k := kinds(rep); k[audit.KindChainHash] != 1 || k[audit.KindAnchorLog] != len(heads) {
		t.Fatalf("edited event: %v", k)
	}
	if err := db.Exec(ctx, "UPDATE events SET data = ? WHERE position = ?", data, work); err != nil {
		t.Fatal(err)
	}

	// Rewritten with every hash recomputed, the anchors left: the chain
	// holds, the anchors do not.
	if err := db.RewriteFrom(ctx, s, work, editWork, false); err != nil {
		t.Fatal(err)
	}
	rep = mustRun(t, s, audit.Options{})
	if an, others := anchorKinds(rep); others != base || len(an) != 1 || an[audit.KindAnchorLog] != len(heads) ||
		!strings.Contains(firstOf(rep, audit.KindAnchorLog).Detail, "changed after the payout was planned") {
		t.Fatalf("rewritten chain: %v", rep.Violations)
	}

	// With the anchors recomputed too, the log is consistent with itself:
	// only the chain (TestAnchorsOnChain) can tell.
	if err := db.RewriteFrom(ctx, s, work, func(b []byte) []byte { return b }, true); err != nil {
		t.Fatal(err)
	}
	if an, others := anchorKinds(mustRun(t, s, audit.Options{})); len(an) != 0 || others != base {
		t.Fatalf("rewritten log and anchors: %v, %d others", an, others)
	}
}

// A log without anchors (earlier releases) reports none and needs none.
func TestAnchorsNone(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Network: "test", Seed: 142, ChainBlocks: 40})
	for _, env := range h.Envelopes {
		if env.Type == events.TypePayoutPlanned && bytes.Contains(env.Data, []byte(`"anchor"`)) {
			t.Skip("the generator anchors its payouts")
		}
	}
	rep := mustRun(t, h, audit.Options{})
	if rep.Anchors != nil {
		t.Fatalf("%+v", rep.Anchors)
	}
	var js bytes.Buffer
	_ = rep.WriteJSON(&js)
	if strings.Contains(js.String(), `"anchors"`) {
		t.Fatal("an empty anchors section in the JSON report")
	}
}

// An anchor that names its own payout or a later event is a violation.
func TestAnchorsForward(t *testing.T) {
	ctx := context.Background()
	s, db, _, heads := anchoredStore(t, ledgergen.Config{Network: "test", Seed: 143, ChainBlocks: 60}, nil, nil)
	_, base := anchorKinds(mustRun(t, s, audit.Options{}))
	pos := heads[0].Size + 1 // the first PayoutPlanned
	if err := db.RewriteFrom(ctx, s, pos, func(b []byte) []byte {
		return bytes.Replace(b, fmt.Appendf(nil, `"size":%d`, heads[0].Size), fmt.Appendf(nil, `"size":%d`, pos), 1)
	}, false); err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, s, audit.Options{})
	if an, others := anchorKinds(rep); an[audit.KindAnchorLog] != 1 || len(an) != 1 || others != base ||
		!strings.Contains(firstOf(rep, audit.KindAnchorLog).Detail, "the payout itself is at position") {
		t.Fatalf("%v", rep.Violations)
	}
}

func TestAnchorsOnChain(t *testing.T) {
	ctx := context.Background()
	srv, c := anchorNode(t)
	s, db, h, heads := anchoredStore(t, ledgergen.Config{Network: "test", Seed: 144, ChainBlocks: 300}, srv, c)
	chainOpt := audit.Options{Wallet: c, Chain: c}
	rep := mustRun(t, s, chainOpt)
	sent := 0
	for _, p := range h.Ledger.Networks["test"].Payouts {
		if p.Status == "sent" || p.Status == "confirmed" {
			sent++
		}
	}
	an, base := anchorKinds(rep)
	if len(an) != 0 || rep.Anchors.Anchored != len(heads) || rep.Anchors.ChainChecked != sent || sent < 2 ||
		rep.Anchors.Latest == nil || !rep.Anchors.Latest.OnChain || rep.Anchors.WalletSends != sent {
		t.Fatalf("clean log against the chain: %v %+v (%d sent)", rep.Violations, rep.Anchors, sent)
	}
	latest := heads[len(heads)-1]
	if rep.Anchors.Latest.Size != latest.Size || rep.Anchors.Latest.Root != hex.EncodeToString(latest.Root[:]) {
		t.Fatalf("latest %+v, last head %+v", rep.Anchors.Latest, latest)
	}

	// The whole statement machinery on the clean log (see also
	// TestStatementProofs).
	addr := h.Miners[0].Address
	rep = mustRun(t, s, audit.Options{Chain: c, Statement: &audit.StatementRequest{Network: "test", Address: addr}})
	st := rep.Statement
	if len(st.Anchors) != sent || st.PoolID != testPool {
		t.Fatalf("statement anchors %d (want %d), pool %s", len(st.Anchors), sent, st.PoolID)
	}
	v, err := audit.VerifyStatement(ctx, st, audit.VerifyOptions{Node: c})
	if err != nil || !v.OK() || v.Proven == 0 || v.Proven+v.Unanchored != len(st.Lines) {
		t.Fatalf("verify: %v %+v", err, v)
	}
	_ = base

	// A suffix rewritten with every hash and anchor recomputed: only the
	// chain tells.
	work := positionOf(t, s, events.TypeWorkIssued, heads[1].Size-50)
	if err := db.RewriteFrom(ctx, s, work, editWork, true); err != nil {
		t.Fatal(err)
	}
	offBase := 0
	if an, others := anchorKinds(mustRun(t, s, audit.Options{})); len(an) != 0 {
		t.Fatalf("offline: %v", an)
	} else {
		offBase = others
	}
	rep = mustRun(t, s, chainOpt)
	want := 0
	for _, hd := range heads {
		if hd.Size >= work {
			want++
		}
	}
	// Payouts that were not sent have no transaction to tell.
	if an, others := anchorKinds(rep); an[audit.KindAnchorOnChain] == 0 || an[audit.KindAnchorOnChain] > want || len(an) != 1 || others != base ||
		!strings.Contains(firstOf(rep, audit.KindAnchorOnChain).Detail, "were rewritten") {
		t.Fatalf("rewritten suffix against the chain (%d heads behind it; %d other violations before, %d offline): %v", want, base, offBase, rep.Violations)
	}
	// A statement of the rewritten log does not verify against the chain.
	rep = mustRun(t, s, audit.Options{Statement: &audit.StatementRequest{Network: "test", Address: addr}})
	v, err = audit.VerifyStatement(ctx, rep.Statement, audit.VerifyOptions{Node: c})
	if err != nil || v.OK() {
		t.Fatalf("statement of a rewritten log: %v %+v", err, v)
	}
}

// A log truncated behind the last payout: the log alone is consistent,
// the wallet's send of the deleted payout is not in it.
func TestAnchorsTruncated(t *testing.T) {
	ctx := context.Background()
	srv, c := anchorNode(t)
	s, db, _, _ := anchoredStore(t, ledgergen.Config{Network: "test", Seed: 145, ChainBlocks: 80}, srv, c)
	cut := lastOf(t, s, events.TypePayoutSigned) - 1 // the last payout paid, planned
	if err := db.Exec(ctx, "DELETE FROM events WHERE position >= ?", cut); err != nil {
		t.Fatal(err)
	}
	if an, _ := anchorKinds(mustRun(t, s, audit.Options{})); len(an) != 0 {
		t.Fatalf("offline: %v", an)
	}
	rep := mustRun(t, s, audit.Options{Wallet: c, Chain: c})
	if an, _ := anchorKinds(rep); an[audit.KindAnchorOnChain] != 1 || len(an) != 1 ||
		!strings.Contains(firstOf(rep, audit.KindAnchorOnChain).Detail, "the log holds no transaction of it") {
		t.Fatalf("truncated: %v", rep.Violations)
	}
}

// A payout recorded as sent in a transaction the node does not know.
func TestAnchorsTxMissing(t *testing.T) {
	ctx := context.Background()
	srv, c := anchorNode(t)
	s, db, _, _ := anchoredStore(t, ledgergen.Config{Network: "test", Seed: 146, ChainBlocks: 60}, srv, c)
	sentAt := lastOf(t, s, events.TypePayoutSent)
	var data []byte
	if err := db.DB.QueryRow("SELECT data FROM events WHERE position = ?", sentAt).Scan(&data); err != nil {
		t.Fatal(err)
	}
	var e events.PayoutSent
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	other := strings.Repeat("ab", 32)
	if err := db.RewriteFrom(ctx, s, sentAt, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(e.TxID), []byte(other)) }, true); err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, s, audit.Options{Wallet: c, Chain: c})
	if k := kinds(rep); k[audit.KindAnchorTxMissing] != 1 {
		t.Fatalf("%v", rep.Violations)
	}
}
