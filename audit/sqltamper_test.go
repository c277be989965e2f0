package audit_test

import (
	"testing"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
)

// Issue 14's tamper cases on logs the real backend wrote (newBaseLog: two
// pool blocks credited and paid, the second orphaned after its payout, so
// that the log holds a documented debt): each is done with plain SQL behind
// the store's back, on SQLite and on PostgreSQL, and each must make the
// audit's verdict exit status 1, where the untouched copy exits 0 with its
// findings. docs/measurements/issue-14-tamper.md has the same cases measured
// with the `purepool` binary on a demo's store.
func TestSQLTamperOfABackendsLog(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, s storeUnderTest)
		kind   audit.Kind // a violation that must be among those reported
	}{
		{"every hash blanked, the last payout's events deleted, positions renumbered", func(t *testing.T, s storeUnderTest) {
			l := s.log
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+", hash = "+l.blank())
			stream, _, _ := l.lastPayoutStream(t)
			l.exec(t, "DELETE FROM events WHERE stream = ?", stream)
			l.renumber(t)
		}, audit.KindChainMissing},
		{"every hash blanked", func(t *testing.T, s storeUnderTest) {
			s.log.exec(t, "UPDATE events SET prev_hash = "+s.log.blank()+", hash = "+s.log.blank())
		}, audit.KindChainMissing},
		{"an event's data edited (a credit 1 BBP larger)", func(t *testing.T, s storeUnderTest) {
			k := s.log.rows(t, events.TypeMinerCredited)[0].pos
			s.log.setData(t, k, bumpAmount(t, s.log.data(t, k)))
		}, audit.KindChainHash},
		{"an event deleted (a reversal: part of the debt erased)", func(t *testing.T, s storeUnderTest) {
			k := firstMinerReversal(t, s.log).pos
			s.log.exec(t, "DELETE FROM events WHERE position = ?", int64(k))
		}, audit.KindChainPosition},
		{"an event deleted, positions renumbered", func(t *testing.T, s storeUnderTest) {
			k := firstMinerReversal(t, s.log).pos
			s.log.exec(t, "DELETE FROM events WHERE position = ?", int64(k))
			s.log.renumber(t)
		}, audit.KindChainLink},
		{"two events swapped (the BlockOrphaned and the first reversal)", func(t *testing.T, s storeUnderTest) {
			a, b := s.log.rows(t, events.TypeBlockOrphaned)[0].pos, firstMinerReversal(t, s.log).pos
			s.log.exec(t, "UPDATE events SET position = 10000000 WHERE position = ?", int64(a))
			s.log.exec(t, "UPDATE events SET position = ? WHERE position = ?", int64(a), int64(b))
			s.log.exec(t, "UPDATE events SET position = ? WHERE position = 10000000", int64(b))
		}, audit.KindChainHash},
		{"a forged credit inserted in the middle, chained to its predecessor", func(t *testing.T, s storeUnderTest) {
			k := s.log.rows(t, events.TypeMinerCredited)[0].pos
			prev := s.log.hash(t, k)
			s.log.shift(t, k, 1)
			s.log.insert(t, forged(t, k+1, prev))
		}, audit.KindChainLink},
		{"a forged credit appended at the end, chained to the head", func(t *testing.T, s storeUnderTest) {
			var head int64
			if err := s.log.db.QueryRow(s.log.q("SELECT max(position) FROM events")).Scan(&head); err != nil {
				t.Fatal(err)
			}
			s.log.insert(t, forged(t, uint64(head)+1, s.log.hash(t, uint64(head))))
		}, audit.KindUnmaturedCredit}, // the chain holds: the ledger catches it
	}
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			base := newBaseLog(t, kind)
			if rep := mustRun(t, base.clone(t).store, audit.Options{PageSize: 50}); rep.ExitStatus() != audit.ExitClean ||
				rep.CountFindings(audit.KindDebtAfterOrphan) != len(base.debts) {
				t.Fatalf("untouched: exit %d, violations %v, findings %v", rep.ExitStatus(), rep.Violations, rep.Findings)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					s := base.clone(t)
					c.tamper(t, s)
					rep := mustRun(t, s.store, audit.Options{PageSize: 50})
					if rep.ExitStatus() != audit.ExitViolations || kinds(rep)[c.kind] == 0 || !rep.ChainKept {
						t.Fatalf("exit %d (want %d), want %s; violations %v", rep.ExitStatus(), audit.ExitViolations, c.kind, rep.Violations)
					}
				})
			}
		})
	}
}
