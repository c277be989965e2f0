package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// backendPool runs the real backend against a simulated node, as
// TestAuditOfTheBackendsOwnLog does, step by step: shares arrive as
// commands, pool blocks are found, mature, are credited and paid.
type backendPool struct {
	t           *testing.T
	ctx         context.Context
	store       events.Store
	srv         *simnode.Server
	node        *rpcclient.Client
	bus         *inproc.Bus
	miner       *simminer.Miner
	miners      []string
	shareTarget string
	target      *big.Int
	thread      int
	halt        func()
}

const poolNet = "test"

func startBackendPool(t *testing.T, store events.Store) *backendPool {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks[poolNet], Maturity: 3, NetworkHashRate: 0.5, Seed: 9, Logger: quiet}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	node, err := rpcclient.New(rpcclient.Config{URL: srv.URL, Network: biblepay.Networks[poolNet], Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b, err := backend.New(store, backend.Config{
		Networks: []backend.NetworkConfig{{Name: poolNet, PoolAddress: srv.Node.WalletAddress(), Node: node, Maturity: 3, ConfirmStep: 1, FollowFrom: 1,
			StaleTolerance: 1, FeeBps: 150, MinPayoutSat: biblepay.Coin, MaxRecipients: 10, PayoutConfirmations: 1,
			PayoutInterval: 100 * time.Millisecond}},
		PollInterval: 20 * time.Millisecond, WorkWait: 2 * time.Second, Logger: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	bus := inproc.New()
	t.Cleanup(func() { bus.Close() })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx, backend.RunOptions{Consumer: bus, Consumers: 2}) }()
	stopped := false
	p := &backendPool{t: t, ctx: ctx, store: store, srv: srv, node: node, bus: bus, shareTarget: biblepay.TargetForDifficulty(4)}
	p.halt = func() {
		if !stopped {
			stop()
			<-done
			stopped = true
		}
	}
	t.Cleanup(p.halt)
	p.target, _ = new(big.Int).SetString(p.shareTarget, 16)
	if p.miner, err = simminer.New(simminer.Config{Pool: "http://127.0.0.1:1", Worker: "x", Network: biblepay.Networks[poolNet], Node: node}); err != nil {
		t.Fatal(err)
	}
	for seed := byte(80); seed < 83; seed++ {
		var pkh [20]byte
		for i := range pkh {
			pkh[i] = seed ^ byte(i*13)
		}
		p.miners = append(p.miners, biblepay.Networks[poolNet].Address(pkh))
	}
	return p
}

func (p *backendPool) publish(c commands.Command) {
	msg, err := commands.Encode(c)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.bus.Publish(p.ctx, msg); err != nil {
		p.t.Fatal(err)
	}
}

// shares has miner i submit i+1 shares on fresh work, and waits until the
// backend recorded them.
func (p *backendPool) shares() {
	t := p.t
	var ids []uuid.UUID
	for i, a := range p.miners {
		id := events.MinerID(poolNet, a)
		w := commands.IssueWork{ID: uuid.New(), Network: poolNet, MinerID: id, Address: a, Worker: "rig", WorkID: uuid.New(),
			Target: p.shareTarget, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", IssuedAt: time.Now().UTC()}
		p.publish(w)
		for range i + 1 {
			p.thread++
			s, err := p.miner.Mine(p.ctx, simminer.Work{Address: p.srv.Node.WalletAddress(), TargetHex: p.shareTarget, Target: p.target,
				MinerGUID: id.String(), WorkID: w.WorkID.String()}, p.thread)
			if err != nil {
				t.Fatal(err)
			}
			c := commands.SubmitSolution{ID: uuid.New(), Network: poolNet, MinerID: id, Address: a, Worker: "rig",
				Solution: s.Solution, ThreadID: 1, Agent: "1.1.4.1", OS: "LIN", ReceivedAt: time.Now().UTC()}
			ids = append(ids, c.ID)
			p.publish(c)
		}
	}
	p.waitFor("every share recorded", func(*audit.Report) bool {
		for _, id := range ids {
			if envs, _ := events.ReadWholeStream(p.ctx, p.store, events.StreamSolution(id)); len(envs) == 0 {
				return false
			}
		}
		return true
	})
}

// waitFor polls the audit of the log until cond holds.
func (p *backendPool) waitFor(what string, cond func(rep *audit.Report) bool) *audit.Report {
	p.t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		rep := mustRun(p.t, p.store, audit.Options{})
		if len(rep.Networks) > 0 && cond(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// poolBlockPaid finds a pool block (miner finder's), matures it and waits
// until every credit is paid; it returns the block's hash and height.
func (p *backendPool) poolBlockPaid(finder int, blocks int) (string, int64) {
	t := p.t
	p.shares()
	hash, err := p.srv.Node.MinePoolBlock(p.ctx, p.srv.Node.WalletAddress(), events.MinerID(poolNet, p.miners[finder]).String())
	if err != nil {
		t.Fatal(err)
	}
	height := p.srv.Node.Height()
	p.waitFor("the pool block discovered", func(rep *audit.Report) bool { return rep.Networks[0].BlocksDiscovered == blocks })
	if _, err := p.srv.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	p.waitFor("every miner paid", func(rep *audit.Report) bool {
		n := rep.Networks[0]
		return n.BlocksMatured == blocks && n.PayoutsUnsettled == 0 && n.PayoutsSent > 0 && n.CreditedSat > 0 && n.PaidSat == n.CreditedSat
	})
	return hash, height
}

// debtLog describes a log the backend wrote in which a pool block left
// the chain after its credits were paid.
type debtLog struct {
	kept, orphaned string              // the first pool block (still on the chain) and the second (orphaned after it was paid)
	orphanedHeight int64               // the second's height
	debts          map[uuid.UUID]int64 // the miners' debts, satoshis
	// node is the simulated node's RPC (its wallet paid the payouts), up
	// until the test that wrote the log ends.
	node *rpcclient.Client
}

// writeDebtLog has the backend write such a log into store: two pool
// blocks, each credited and paid out, then a reorganisation that takes
// the second one off the chain. Its credits are reversed
// (CreditReversed), and the miners it paid owe them (backend/PAYOUTS.md).
func writeDebtLog(t *testing.T, store events.Store) debtLog {
	t.Helper()
	p := startBackendPool(t, store)
	// The operator funds the wallet, so that the payouts spend coins that
	// stay on the chain (the payout of an orphaned coinbase would be
	// conflicted instead, and its amounts returned).
	if _, err := p.srv.Node.Generate(6); err != nil {
		t.Fatal(err)
	}
	if _, err := p.srv.Node.Fund(simnode.DefaultBlockReward - 10_000); err != nil {
		t.Fatal(err)
	}
	var d debtLog
	d.kept, _ = p.poolBlockPaid(0, 1)
	d.orphaned, d.orphanedHeight = p.poolBlockPaid(1, 2)
	d.node = p.node
	if _, err := p.srv.Node.Reorg(int(p.srv.Node.Height() - d.orphanedHeight + 1)); err != nil {
		t.Fatal(err)
	}
	rep := p.waitFor("the paid block orphaned and its credits reversed", func(rep *audit.Report) bool {
		n := rep.Networks[0]
		return n.BlocksOrphaned == 1 && n.ReversedSat > 0 && n.FeeReversedSat > 0
	})
	p.halt()
	d.debts = map[uuid.UUID]int64{}
	for _, acc := range rep.Accounts {
		if acc.BalanceSat < 0 {
			d.debts[acc.ID] = -acc.BalanceSat
		}
	}
	if len(d.debts) != len(p.miners) || rep.Networks[0].PayoutsConflicted != 0 {
		t.Fatalf("want a debt for each of the %d miners, got %v (totals %+v)", len(p.miners), d.debts, rep.Networks[0])
	}
	return d
}

// baseLog is a log written once by the backend into a store of one kind,
// closed, and copied for each test case (clone).
type baseLog struct {
	kind     string
	location string // the SQLite file, or the PostgreSQL database's URL
	debtLog
}

func newBaseLog(t *testing.T, kind string) baseLog {
	t.Helper()
	ctx := context.Background()
	var store interface {
		events.Store
		Migrate(context.Context) error
		Close() error
	}
	var err error
	location := filepath.Join(t.TempDir(), "events.db")
	if kind == "postgres" {
		location = testenv.NewPostgresDB(t)
		store, err = postgres.Open(ctx, location)
	} else {
		store, err = sqlite.Open(ctx, location)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d := writeDebtLog(t, store)
	if err := store.Close(); err != nil { // every connection closed: the file or database can be copied
		t.Fatal(err)
	}
	return baseLog{kind: kind, location: location, debtLog: d}
}

var pgTemplate sync.Mutex // PostgreSQL copies one database from a template at a time

// clone copies the base log into a fresh store of its kind, with plain
// file or SQL copies (CREATE DATABASE … TEMPLATE), and opens it.
func (b baseLog) clone(t *testing.T) storeUnderTest {
	t.Helper()
	if b.kind == "sqlite" {
		data, err := os.ReadFile(b.location)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "events.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return openSQLite(t, path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := testenv.PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	name := testenv.UniqueName("pp_test")
	from := b.location[strings.LastIndex(b.location, "/")+1:]
	if i := strings.IndexByte(from, '?'); i >= 0 {
		from = from[:i]
	}
	pgTemplate.Lock()
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+from)
	pgTemplate.Unlock()
	if err != nil {
		t.Fatalf("copy %s: %v", from, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	return openPostgres(t, strings.Replace(b.location, "/"+from, "/"+name, 1))
}

// row is one event as plain SQL reads it.
type row struct {
	pos  uint64
	data map[string]any
}

func (l sqlLog) rows(t *testing.T, typ string) []row {
	t.Helper()
	rs, err := l.db.Query(l.q("SELECT position, data FROM events WHERE type = ? ORDER BY position"), typ)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var p int64
		var d []byte
		if err := rs.Scan(&p, &d); err != nil {
			t.Fatal(err)
		}
		r := row{pos: uint64(p)}
		if err := json.Unmarshal(d, &r.data); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// typeAt is the type of the event stored at pos.
func (l sqlLog) typeAt(t *testing.T, pos uint64) string {
	t.Helper()
	var typ string
	if err := l.db.QueryRow(l.q("SELECT type FROM events WHERE position = ?"), int64(pos)).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	return typ
}

// setJSON rewrites the data of the event at pos with plain SQL; nothing
// else (no hash) is recomputed.
func (l sqlLog) setJSON(t *testing.T, pos uint64, m map[string]any) {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	l.setData(t, pos, data)
}

// rechain recomputes the hash chain from position from on, as an attacker
// who rewrites the log's suffix would, and writes it back with plain SQL
// (events.ChainHash is public: anyone can compute it).
func (l sqlLog) rechain(t *testing.T, s events.Store, from uint64) {
	t.Helper()
	ctx := context.Background()
	var prev []byte
	for after := uint64(0); ; {
		envs, err := s.ReadAll(ctx, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(envs) == 0 {
			return
		}
		for _, e := range envs {
			if e.Position >= from {
				e.PrevHash = prev
				if e.Position == 1 {
					e.PrevHash = []byte{}
				}
				e.Hash = events.ChainHash(e.PrevHash, e)
				l.exec(t, "UPDATE events SET prev_hash = ?, hash = ? WHERE position = ?", e.PrevHash, e.Hash, int64(e.Position))
			}
			prev = e.Hash
			after = e.Position
		}
	}
}

// The issue's "Done when": a history with a documented debt — a pool block
// the real backend credited and paid, then orphaned — exits 0 and reports
// each miner's debt as a finding with the CreditReversed that caused it; the
// same log with the debt enlarged or without an explaining event, edited
// with plain SQL, exits 1. On SQLite and PostgreSQL.
func TestDebtAfterOrphanIsAFinding(t *testing.T) {
	cases := []struct {
		name string
		// tamper edits the copy of the log with plain SQL; nil: untouched.
		tamper func(t *testing.T, s storeUnderTest, b baseLog) (account uuid.UUID)
		// must: violations that must be reported (the exit status is 1
		// when any is); none: the audit is clean.
		must []audit.Kind
		// not: violations the case must not hold (e.g. a recomputed chain).
		not []audit.Kind
	}{
		{name: "documented debt: exit 0, findings"},
		{"debt enlarged by a plain UPDATE, nothing recomputed", func(t *testing.T, s storeUnderTest, b baseLog) uuid.UUID {
			r := firstMinerReversal(t, s.log)
			r.data["amount_sat"] = r.data["amount_sat"].(float64) * 2
			s.log.setJSON(t, r.pos, r.data)
			return uuid.MustParse(r.data["account_id"].(string))
		}, []audit.Kind{audit.KindChainHash, audit.KindNegativeBalance, audit.KindBadReversal}, nil},
		{"debt enlarged, the chain recomputed after it", func(t *testing.T, s storeUnderTest, b baseLog) uuid.UUID {
			r := firstMinerReversal(t, s.log)
			r.data["amount_sat"] = r.data["amount_sat"].(float64) + 1
			s.log.setJSON(t, r.pos, r.data)
			s.log.rechain(t, s.store, r.pos)
			return uuid.MustParse(r.data["account_id"].(string))
		}, []audit.Kind{audit.KindNegativeBalance, audit.KindBadReversal}, chainKinds},
		{"debt with no explaining event: a payout raised, the chain recomputed", func(t *testing.T, s storeUnderTest, b baseLog) uuid.UUID {
			r := s.log.rows(t, events.TypePayoutPlanned)[0]
			item := r.data["items"].([]any)[0].(map[string]any)
			item["amount_sat"] = item["amount_sat"].(float64) + 1e8
			r.data["total_sat"] = r.data["total_sat"].(float64) + 1e8
			s.log.setJSON(t, r.pos, r.data)
			s.log.rechain(t, s.store, r.pos)
			return uuid.MustParse(item["miner_id"].(string))
		}, []audit.Kind{audit.KindNegativeBalance}, chainKinds},
		{"debt with no explaining event: the reversal names the block still on the chain", func(t *testing.T, s storeUnderTest, b baseLog) uuid.UUID {
			r := firstMinerReversal(t, s.log)
			r.data["block_hash"] = b.kept
			s.log.setJSON(t, r.pos, r.data)
			s.log.rechain(t, s.store, r.pos)
			return uuid.MustParse(r.data["account_id"].(string))
		}, []audit.Kind{audit.KindNegativeBalance, audit.KindBadReversal}, chainKinds},
		{"debt with no explaining event: the BlockOrphaned deleted, renumbered, the chain recomputed", func(t *testing.T, s storeUnderTest, b baseLog) uuid.UUID {
			o := s.log.rows(t, events.TypeBlockOrphaned)[0]
			s.log.exec(t, "DELETE FROM events WHERE position = ?", int64(o.pos))
			s.log.renumber(t)
			s.log.rechain(t, s.store, o.pos)
			return uuid.Nil // every debtor's debt is unexplained
		}, []audit.Kind{audit.KindNegativeBalance}, chainKinds},
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			base := newBaseLog(t, kind)
			t.Run("--verify-chain: the node confirms the orphaned block left the chain", func(t *testing.T) {
				rep := mustRun(t, base.clone(t).store, audit.Options{Wallet: base.node})
				if rep.ExitStatus() != audit.ExitClean || rep.CountFindings(audit.KindDebtAfterOrphan) != len(base.debts) || rep.WalletChecked == 0 {
					t.Fatalf("exit %d, wallet checked %d, violations %v, findings %v", rep.ExitStatus(), rep.WalletChecked, rep.Violations, rep.Findings)
				}
				for _, f := range rep.Findings {
					if !f.OnChain {
						t.Errorf("finding not confirmed by the node: %v", f)
					}
				}
			})
			t.Run("--verify-chain: the node still holds the block the log says was orphaned", func(t *testing.T) {
				node := stillHolds{base.node, base.orphanedHeight, base.orphaned}
				rep := mustRun(t, base.clone(t).store, audit.Options{Wallet: node})
				if rep.ExitStatus() != audit.ExitViolations || kinds(rep)[audit.KindNegativeBalance] != len(base.debts) || len(rep.Findings) != 0 {
					t.Fatalf("exit %d, violations %v, findings %v", rep.ExitStatus(), rep.Violations, rep.Findings)
				}
			})
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					s := base.clone(t)
					var account uuid.UUID
					if c.tamper != nil {
						account = c.tamper(t, s, base)
					}
					rep := mustRun(t, s.store, audit.Options{PageSize: 100})
					got := kinds(rep)
					if len(c.must) == 0 {
						checkDebtFindings(t, rep, s.log, base.debts)
						return
					}
					if rep.ExitStatus() != audit.ExitViolations {
						t.Fatalf("exit %d, violations %v", rep.ExitStatus(), rep.Violations)
					}
					for _, k := range c.must {
						if got[k] == 0 {
							t.Errorf("%s not reported: %v", k, rep.Violations)
						}
					}
					for _, k := range c.not {
						if got[k] != 0 {
							t.Errorf("unexpected %s: %v", k, rep.Violations)
						}
					}
					// The tampered debt hides behind no finding.
					for _, f := range rep.Findings {
						if account == uuid.Nil || f.Subject == account.String() {
							t.Errorf("tampered debt reported as a finding: %v", f)
						}
					}
				})
			}
		})
	}
}

// stillHolds is the node as it would answer had the orphaned block never
// left the chain (a BlockOrphaned written to take paid credits back).
type stillHolds struct {
	*rpcclient.Client
	height int64
	hash   string
}

func (n stillHolds) GetBlockHash(ctx context.Context, height int64) (string, error) {
	if height == n.height {
		return n.hash, nil
	}
	return n.Client.GetBlockHash(ctx, height)
}

var chainKinds = []audit.Kind{audit.KindChainHash, audit.KindChainLink, audit.KindChainPosition, audit.KindChainMissing}

func firstMinerReversal(t *testing.T, l sqlLog) row {
	t.Helper()
	for _, r := range l.rows(t, events.TypeCreditReversed) {
		if fee, _ := r.data["fee"].(bool); !fee {
			return r
		}
	}
	t.Fatal("no reversal of a miner's credit")
	return row{}
}

// checkDebtFindings: exit 0, and one debt_after_orphan per debtor, each
// naming the CreditReversed row (read back with plain SQL) that caused it.
func checkDebtFindings(t *testing.T, rep *audit.Report, l sqlLog, debts map[uuid.UUID]int64) {
	t.Helper()
	if rep.ExitStatus() != audit.ExitClean || !rep.OK() {
		t.Fatalf("exit %d, violations %v", rep.ExitStatus(), rep.Violations)
	}
	if len(rep.Findings) != len(debts) || rep.CountFindings(audit.KindDebtAfterOrphan) != len(debts) {
		t.Fatalf("findings %v, debts %v", rep.Findings, debts)
	}
	reversals := map[uint64]row{}
	for _, r := range l.rows(t, events.TypeCreditReversed) {
		reversals[r.pos] = r
	}
	for _, f := range rep.Findings {
		r, ok := reversals[f.Position]
		if f.Event != events.TypeCreditReversed || !ok || l.typeAt(t, f.Position) != events.TypeCreditReversed ||
			r.data["account_id"] != f.Subject || len(f.Causes) != 1 || f.Causes[0].Position != f.Position ||
			f.AmountSat != debts[uuid.MustParse(f.Subject)] || int64(r.data["amount_sat"].(float64)) < f.AmountSat ||
			!strings.Contains(f.Runbook, `backend/PAYOUTS.md "A pool block left the chain after its credits were paid"`) {
			t.Errorf("finding %+v; the reversal at its position: %v", f, r.data)
		}
	}
	var text, js strings.Builder
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	f := rep.Findings[0]
	for _, w := range []string{
		fmt.Sprintf("findings: %d (known states", len(debts)),
		fmt.Sprintf("  debt_after_orphan at position %d (CreditReversed) [%s] %s: ", f.Position, poolNet, f.Subject),
		"    runbook: backend/PAYOUTS.md",
		"violations: none",
	} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("text report lacks %q:\n%s", w, text.String())
		}
	}
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Findings   []audit.Finding   `json:"findings"`
		Violations []audit.Violation `json:"violations"`
	}
	if err := json.Unmarshal([]byte(js.String()), &back); err != nil || back.Violations == nil || len(back.Violations) != 0 ||
		!slices.EqualFunc(back.Findings, rep.Findings, func(a, b audit.Finding) bool { return a.Position == b.Position && a.Kind == b.Kind }) {
		t.Fatalf("json %v:\n%s", err, js.String())
	}
}

// withPaidOrphan appends to a generated history what the pool writes when
// a pool block is paid out and then leaves the chain: a payout of its
// miners' whole balances (PayoutPlanned, PayoutSent), then what the backend
// writes for the orphan (a ChainBlockRecorded of another block at its
// height, aggregates.DecideOrphan), chained as a store would. It returns
// the log and the BlockOrphaned's position.
func withPaidOrphan(t *testing.T, h *ledgergen.History) ([]events.Envelope, uint64) {
	t.Helper()
	n := h.Ledger.Networks[poolNet]
	var pick *aggregates.PoolBlock
	for _, b := range n.Blocks {
		if b.Matured && !b.Orphaned && len(b.Credits) > 0 && b.Empty == nil && (b.Round == nil || b.Round.CarriedInSat == 0) &&
			(pick == nil || b.Height < pick.Height) {
			pick = b
		}
	}
	if pick == nil {
		t.Fatal("no credited block to orphan")
	}
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	pay := events.PayoutPlanned{Network: poolNet, PayoutID: uuid.New(), At: at}
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
	envs := appendEvents(t, slices.Clone(h.Envelopes), pay, events.PayoutSent{Network: poolNet, PayoutID: pay.PayoutID, TxID: strings.Repeat("9a", 32), At: at},
		events.ChainBlockRecorded{Network: poolNet, Height: pick.Height, Hash: replaced, Time: at, SeenAt: at})
	pos := uint64(len(envs) + 1)
	return appendEvents(t, envs, orphan...), pos
}

// appendEvents appends evs to the log in their streams, chained.
func appendEvents(t *testing.T, envs []events.Envelope, evs ...events.Event) []events.Envelope {
	t.Helper()
	versions := map[string]int64{}
	for _, e := range envs {
		versions[e.Stream] = max(versions[e.Stream], e.Version+1)
	}
	for _, ev := range evs {
		ne, err := events.New(uuid.New(), ev, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		stream := aggregates.StreamFor(ev)
		env := events.Envelope{ID: ne.ID, Stream: stream, Version: versions[stream], Position: uint64(len(envs) + 1), Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, RecordedAt: events.Timestamp(time.Now()), Data: ne.Data, PrevHash: envs[len(envs)-1].Hash}
		env.Hash = events.ChainHash(env.PrevHash, env)
		versions[stream]++
		envs = append(envs, env)
	}
	return envs
}

// The debt is followed event by event, on an in-memory log whose chain is
// recomputed after every edit, so that only the ledger checks can tell: a
// reversal explains a debt of at most its amount, within the block's
// credit of that miner, and only after the block's BlockOrphaned; nothing
// else may make or deepen a debt.
func TestDebtIsCheckedAgainstItsCauses(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Network: poolNet, Seed: 31, ChainBlocks: 120})
	base, orphan := withPaidOrphan(t, h)
	clean := mustRun(t, sliceReader(base), audit.Options{})
	if clean.ExitStatus() != audit.ExitClean || clean.CountFindings(audit.KindDebtAfterOrphan) == 0 || len(clean.Findings) != clean.CountFindings(audit.KindDebtAfterOrphan) {
		t.Fatalf("violations %v, findings %v", clean.Violations, clean.Findings)
	}
	for _, f := range clean.Findings {
		if f.Event != events.TypeCreditReversed || base[f.Position-1].Type != events.TypeCreditReversed || f.Position <= orphan || f.AmountSat <= 0 {
			t.Fatalf("finding %+v", f)
		}
	}
	debtor := clean.Findings[0]
	debtorID := uuid.MustParse(debtor.Subject)
	cases := []struct {
		name string
		edit func(envs []events.Envelope) []events.Envelope
	}{
		{"the reversal doubled", func(envs []events.Envelope) []events.Envelope {
			edit(t, envs, debtor.Position, func(m map[string]any) { m["amount_sat"] = m["amount_sat"].(float64) * 2 })
			return envs
		}},
		{"the reversal 1 sat larger", func(envs []events.Envelope) []events.Envelope {
			edit(t, envs, debtor.Position, func(m map[string]any) { m["amount_sat"] = m["amount_sat"].(float64) + 1 })
			return envs
		}},
		{"the debtor paid once more after the reversal", func(envs []events.Envelope) []events.Envelope {
			r := decoded(t, envs[debtor.Position-1]).(events.CreditReversed)
			return appendEvents(t, envs, events.PayoutPlanned{Network: poolNet, PayoutID: uuid.New(), TotalSat: 1,
				Items: []events.PayoutItem{{MinerID: debtorID, Address: r.Address, AmountSat: 1}}, At: time.Now().UTC()})
		}},
		{"the reversal moved to a miner the block did not credit", func(envs []events.Envelope) []events.Envelope {
			edit(t, envs, debtor.Position, func(m map[string]any) { m["account_id"] = uuid.NewString() })
			return envs
		}},
		{"the reversal before its block's BlockOrphaned", func(envs []events.Envelope) []events.Envelope {
			envs[orphan-1], envs[debtor.Position-1] = envs[debtor.Position-1], envs[orphan-1]
			envs[orphan-1].Position, envs[debtor.Position-1].Position = orphan, debtor.Position
			edit(t, envs, orphan, func(map[string]any) {})
			return envs
		}},
		{"the BlockOrphaned turned into another block's", func(envs []events.Envelope) []events.Envelope {
			edit(t, envs, orphan, func(m map[string]any) { m["hash"] = strings.Repeat("ef", 32) })
			return envs
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := mustRun(t, sliceReader(c.edit(slices.Clone(base))), audit.Options{})
			if rep.ExitStatus() != audit.ExitViolations || kinds(rep)[audit.KindNegativeBalance] == 0 || rep.FirstBadPosition != 0 {
				t.Fatalf("exit %d, first bad %d, violations %v", rep.ExitStatus(), rep.FirstBadPosition, rep.Violations)
			}
			for _, f := range rep.Findings {
				if f.Subject == debtor.Subject && f.AmountSat > debtor.AmountSat {
					t.Errorf("a larger debt passed as a finding: %v", f)
				}
			}
		})
	}
	// Credits pay a debt back first: a later credit of the debt's size
	// leaves no finding (and no violation).
	r := decoded(t, base[debtor.Position-1]).(events.CreditReversed)
	repaid := appendEvents(t, slices.Clone(base), events.MinerCredited{Network: poolNet, MinerID: debtorID, Address: r.Address,
		BlockHash: r.BlockHash, AmountSat: debtor.AmountSat, At: time.Now().UTC()})
	rep := mustRun(t, sliceReader(repaid), audit.Options{})
	for _, f := range rep.Findings {
		if f.Subject == debtor.Subject {
			t.Errorf("a debt paid back is still a finding: %v", f)
		}
	}
}

// An empty round whose whole reward went to the pool is a finding only for
// a block of the release before the rounds by height, credited as that
// release did: not for a block that says another rule, nor one credited
// after a PoolPolicySet was recorded.
func TestOldEmptyRoundIsAFindingOnlyWhereTheOldReleaseWroteIt(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 11, OldRule: true, Inject: ledgergen.EmptyRoundToFee})
	if !h.Injected {
		t.Fatal("no empty round in the old-rule history")
	}
	rep := mustRun(t, h, audit.Options{})
	if rep.ExitStatus() != audit.ExitClean || rep.CountFindings(audit.KindOldEmptyRound) != 1 {
		t.Fatalf("exit %d, violations %v, findings %v", rep.ExitStatus(), rep.Violations, rep.Findings)
	}
	var f audit.Finding
	for _, x := range rep.Findings {
		if x.Kind == audit.KindOldEmptyRound {
			f = x
		} else if x.Kind != audit.KindPayoutCorrected { // the history's corrected payouts
			t.Fatalf("finding %v", x)
		}
	}
	fee := decoded(t, h.Envelopes[f.Position-1])
	if f.Kind != audit.KindOldEmptyRound || f.Event != events.TypeFeeCredited || fee.(events.FeeCredited).BlockHash != f.Subject || f.AmountSat <= 0 ||
		!strings.Contains(f.Runbook, "docs/operations.md §5.3") {
		t.Fatalf("finding %+v (event %+v)", f, fee)
	}
	var disc uint64
	for _, e := range h.Envelopes {
		if e.Type == events.TypeBlockDiscovered && decoded(t, e).(events.BlockDiscovered).Hash == f.Subject {
			disc = e.Position
		}
	}
	cases := []struct {
		name string
		edit func(envs []events.Envelope) []events.Envelope
	}{
		{"the block says rounds by height", func(envs []events.Envelope) []events.Envelope {
			edit(t, envs, disc, func(m map[string]any) { m["round_rule"] = events.RoundRuleHeight })
			return envs
		}},
		{"a PoolPolicySet recorded before the block", func(envs []events.Envelope) []events.Envelope {
			// Inserted first; the rounds by position name positions, which move by one.
			policy := appendEvents(t, []events.Envelope{{Hash: []byte{}}}, events.PoolPolicySet{Network: "main", FeeBps: 100, Scheme: events.SchemePROP, At: time.Now().UTC()})[1]
			out := []events.Envelope{policy}
			for _, e := range envs {
				e.Position++
				if e.Type == events.TypeRoundClosed {
					var m map[string]any
					if err := json.Unmarshal(e.Data, &m); err != nil {
						t.Fatal(err)
					}
					m["from_position"] = m["from_position"].(float64) + 1
					m["to_position"] = m["to_position"].(float64) + 1
					e.Data, _ = json.Marshal(m)
				}
				out = append(out, e)
			}
			out[0].Position = 1
			edit(t, out, 1, func(map[string]any) {})
			return out
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := mustRun(t, sliceReader(c.edit(slices.Clone(h.Envelopes))), audit.Options{})
			if rep.ExitStatus() != audit.ExitViolations || kinds(rep)[audit.KindFairEmptyRound] == 0 || rep.CountFindings(audit.KindOldEmptyRound) != 0 {
				t.Fatalf("exit %d, violations %v, findings %v", rep.ExitStatus(), rep.Violations, rep.Findings)
			}
		})
	}
}
