package audit_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" for editing rows directly
	_ "modernc.org/sqlite"             // "sqlite" for editing rows directly

	"github.com/purepool/purepool/anchor/anchortest"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
)

// tamperHistory is small: the chain checks do not depend on its size.
func tamperHistory() *ledgergen.History {
	return ledgergen.Generate(ledgergen.Config{Seed: 21, ChainBlocks: 30})
}

func firstOfType(t *testing.T, envs []events.Envelope, typ string) uint64 {
	t.Helper()
	for _, e := range envs[len(envs)/3:] {
		if e.Type == typ {
			return e.Position
		}
	}
	t.Fatalf("no %s in the history", typ)
	return 0
}

func bumpAmount(t *testing.T, data []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	m["amount_sat"] = m["amount_sat"].(float64) + 1e8
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The chain logic on an in-memory copy of the log, including the attacks
// the chain alone cannot see (a suffix rewritten with recomputed hashes, a
// truncated log), which anchors catch.
func TestChainTamperInMemory(t *testing.T) {
	h := tamperHistory()
	n := len(h.Envelopes)
	k := firstOfType(t, h.Envelopes, events.TypeMinerCredited)
	head := h.Envelopes[n-1]
	anchor := audit.Anchor{Position: head.Position, Hash: head.Hash}
	rechain := func(envs []events.Envelope, from int) {
		for i := from; i < len(envs); i++ {
			if i > 0 {
				envs[i].PrevHash = envs[i-1].Hash
			}
			envs[i].Hash = events.ChainHash(envs[i].PrevHash, envs[i])
		}
	}
	cases := []struct {
		name     string
		edit     func(envs []events.Envelope) []events.Envelope
		anchors  []audit.Anchor
		firstBad uint64
		kind     audit.Kind
	}{
		{"edited data", func(envs []events.Envelope) []events.Envelope {
			envs[k-1].Data = bumpAmount(t, envs[k-1].Data)
			return envs
		}, nil, k, audit.KindChainHash},
		{"edited hash of the edited event too", func(envs []events.Envelope) []events.Envelope {
			envs[k-1].Data = bumpAmount(t, envs[k-1].Data)
			envs[k-1].Hash = events.ChainHash(envs[k-1].PrevHash, envs[k-1])
			return envs
		}, nil, k + 1, audit.KindChainLink},
		{"deleted", func(envs []events.Envelope) []events.Envelope {
			return slices.Delete(envs, int(k-1), int(k))
		}, nil, k, audit.KindChainPosition},
		{"swapped positions", func(envs []events.Envelope) []events.Envelope {
			envs[k-1], envs[k] = envs[k], envs[k-1]
			envs[k-1].Position, envs[k].Position = k, k+1
			return envs
		}, nil, k, audit.KindChainHash},
		{"first event's previous hash set", func(envs []events.Envelope) []events.Envelope {
			envs[0].PrevHash = []byte{1}
			return envs
		}, nil, 1, audit.KindChainLink},
		{"suffix rewritten with recomputed hashes, anchored head", func(envs []events.Envelope) []events.Envelope {
			envs[k-1].Data = bumpAmount(t, envs[k-1].Data)
			rechain(envs, int(k-1))
			return envs
		}, []audit.Anchor{anchor}, head.Position, audit.KindChainAnchor},
		{"truncated, anchored head", func(envs []events.Envelope) []events.Envelope {
			return envs[:n-1]
		}, []audit.Anchor{anchor}, head.Position, audit.KindChainAnchor},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			envs := c.edit(slices.Clone(h.Envelopes))
			rep := mustRun(t, sliceReader(envs), audit.Options{Anchors: c.anchors, PageSize: 64})
			if rep.FirstBadPosition != c.firstBad || kinds(rep)[c.kind] == 0 {
				t.Fatalf("first bad %d (want %d), violations %v", rep.FirstBadPosition, c.firstBad, rep.Violations)
			}
		})
	}
	// Without tampering the anchor holds.
	if rep := mustRun(t, h, audit.Options{Anchors: []audit.Anchor{anchor}}); !rep.OK() {
		t.Fatalf("intact log: %v", rep.Violations)
	}
}

// sqlLog edits an event table directly, as an attacker with database access would.
type sqlLog struct {
	db    *sql.DB
	table string
	pg    bool
}

func (l sqlLog) q(query string) string {
	query = strings.ReplaceAll(query, "events", l.table)
	if !l.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (l sqlLog) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := l.db.Exec(l.q(query), args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func (l sqlLog) data(t *testing.T, pos uint64) []byte {
	t.Helper()
	var d []byte
	if err := l.db.QueryRow(l.q("SELECT data FROM events WHERE position = ?"), int64(pos)).Scan(&d); err != nil {
		t.Fatal(err)
	}
	return d
}

func (l sqlLog) hash(t *testing.T, pos uint64) []byte {
	t.Helper()
	var h []byte
	if err := l.db.QueryRow(l.q("SELECT hash FROM events WHERE position = ?"), int64(pos)).Scan(&h); err != nil {
		t.Fatal(err)
	}
	return h
}

func (l sqlLog) setData(t *testing.T, pos uint64, data []byte) {
	t.Helper()
	var v any = data
	if l.pg {
		v = string(data) // a json column
	}
	l.exec(t, "UPDATE events SET data = ? WHERE position = ?", v, int64(pos))
}

func (l sqlLog) insert(t *testing.T, e events.Envelope) {
	t.Helper()
	meta, _ := json.Marshal(e.Metadata)
	args := []any{int64(e.Position), e.Stream, e.Version, e.ID[:], e.Type, e.SchemaVersion, e.RecordedAt.UnixMicro(), e.Data, meta, e.PrevHash, e.Hash}
	if l.pg {
		args[3], args[6], args[7], args[8] = e.ID.String(), e.RecordedAt, string(e.Data), string(meta)
	}
	l.exec(t, `INSERT INTO events (position, stream, version, event_id, type, schema_version, recorded_at, data, metadata, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, args...)
}

// shift moves every event after pos by delta positions (in two steps, so
// no statement collides with the primary key).
func (l sqlLog) shift(t *testing.T, after uint64, delta int64) {
	l.exec(t, "UPDATE events SET position = position + 10000000 WHERE position > ?", int64(after))
	l.exec(t, "UPDATE events SET position = position - 10000000 + ? WHERE position > 10000000", delta)
}

// forged is an event an attacker writes: a credit to an address of theirs.
func forged(t *testing.T, pos uint64, prev []byte) events.Envelope {
	e, err := events.New(uuid.New(), events.MinerCredited{Network: "test", MinerID: uuid.New(), Address: "attacker",
		BlockHash: strings.Repeat("ab", 32), AmountSat: 1000 * 100_000_000}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	env := events.Envelope{ID: e.ID, Stream: "forged-" + uuid.NewString(), Version: 0, Position: pos, Type: e.Type,
		SchemaVersion: e.SchemaVersion, RecordedAt: events.Timestamp(time.Now()), Data: e.Data, PrevHash: prev}
	env.Hash = events.ChainHash(prev, env) // a careful forger chains it to its predecessor
	return env
}

type storeUnderTest struct {
	store events.Store
	log   sqlLog
	// url is the store's --store URL (for `purepool audit`).
	url string
}

// openStore opens a fresh, migrated store of kind ("postgres" or
// "sqlite") with a plain database/sql handle on its event table beside it.
func openStore(t *testing.T, kind string) storeUnderTest {
	t.Helper()
	if kind == "postgres" {
		return openPostgres(t, testenv.NewPostgresDB(t))
	}
	return openSQLite(t, filepath.Join(t.TempDir(), "events.db"))
}

// openPostgres opens (and migrates) the PostgreSQL event store at url.
func openPostgres(t *testing.T, url string) storeUnderTest {
	t.Helper()
	o := anchortest.OpenPostgres(t, url)
	return storeUnderTest{o.Store, sqlLog{db: o.Tamper.DB, table: o.Tamper.Table, pg: true}, o.URL}
}

// openSQLite opens (and migrates) the SQLite event store at path.
func openSQLite(t *testing.T, path string) storeUnderTest {
	t.Helper()
	o := anchortest.OpenSQLite(t, path)
	return storeUnderTest{o.Store, sqlLog{db: o.Tamper.DB, table: o.Tamper.Table}, o.URL}
}

// The tampering tests run against the real adapters: the log is written by
// the store, edited with SQL behind its back, and read back by the store.
func TestTamperDetectedInRealStores(t *testing.T) {
	ctx := context.Background()
	h := tamperHistory()
	n := uint64(len(h.Envelopes))
	k := firstOfType(t, h.Envelopes, events.TypeMinerCredited)
	cases := []struct {
		name     string
		tamper   func(t *testing.T, l sqlLog)
		firstBad uint64
		kind     audit.Kind
	}{
		{"UPDATE data", func(t *testing.T, l sqlLog) {
			l.setData(t, k, bumpAmount(t, l.data(t, k)))
		}, k, audit.KindChainHash},
		{"DELETE a row", func(t *testing.T, l sqlLog) {
			l.exec(t, "DELETE FROM events WHERE position = ?", int64(k))
		}, k, audit.KindChainPosition},
		{"INSERT a forged row at the end", func(t *testing.T, l sqlLog) {
			e := forged(t, n+1, []byte("not the head's hash"))
			l.insert(t, e)
		}, n + 1, audit.KindChainLink},
		{"INSERT a forged row in the middle, chained to its predecessor", func(t *testing.T, l sqlLog) {
			prev := l.hash(t, k)
			l.shift(t, k, 1)
			l.insert(t, forged(t, k+1, prev))
		}, k + 2, audit.KindChainLink},
		{"swap two rows' positions", func(t *testing.T, l sqlLog) {
			l.exec(t, "UPDATE events SET position = 10000000 WHERE position = ?", int64(k))
			l.exec(t, "UPDATE events SET position = ? WHERE position = ?", int64(k), int64(k+1))
			l.exec(t, "UPDATE events SET position = ? WHERE position = 10000000", int64(k+1))
		}, k, audit.KindChainHash},
	}
	for _, storeName := range []string{"postgres", "sqlite"} {
		t.Run(storeName, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel() // mostly waiting for the database
					s := openStore(t, storeName)
					if err := h.AppendTo(ctx, s.store, 400); err != nil {
						t.Fatal(err)
					}
					rep := mustRun(t, s.store, audit.Options{PageSize: 100})
					if !rep.OK() || rep.Events != n {
						t.Fatalf("before tampering: %d events, %v", rep.Events, rep.Violations)
					}
					c.tamper(t, s.log)
					rep = mustRun(t, s.store, audit.Options{PageSize: 100})
					if rep.FirstBadPosition != c.firstBad || kinds(rep)[c.kind] == 0 {
						t.Fatalf("first bad %d (want %d), violations %v", rep.FirstBadPosition, c.firstBad, rep.Violations)
					}
				})
			}
		})
	}
}

// blank is an empty bytea/BLOB literal in the store's own SQL.
func (l sqlLog) blank() string {
	if l.pg {
		return `'\x'::bytea`
	}
	return "x''"
}

// lastPayoutStream is the stream of the last payout that was sent.
func (l sqlLog) lastPayoutStream(t *testing.T) (stream string, first uint64, n int) {
	t.Helper()
	// The last sent payout that other events follow: deleting it leaves a
	// log that goes on after it, not a plain truncation.
	if err := l.db.QueryRow(l.q(`SELECT stream FROM events e WHERE type = 'PayoutSent'
		AND EXISTS (SELECT 1 FROM events o WHERE o.position > e.position AND o.stream <> e.stream) ORDER BY position DESC LIMIT 1`)).Scan(&stream); err != nil {
		t.Fatal(err)
	}
	var p int64
	if err := l.db.QueryRow(l.q("SELECT min(position), count(*) FROM events WHERE stream = ?"), stream).Scan(&p, &n); err != nil {
		t.Fatal(err)
	}
	return stream, uint64(p), n
}

// renumber makes positions gapless again after a DELETE, keeping the order
// (in two steps, so no statement collides with the primary key).
func (l sqlLog) renumber(t *testing.T) {
	l.exec(t, "UPDATE events SET position = position + 10000000")
	l.exec(t, `UPDATE events SET position = r.rn FROM
		(SELECT position AS p, row_number() OVER (ORDER BY position) AS rn FROM events) AS r WHERE events.position = r.p`)
}

// Issue 14: whether the chain is checked is what the store is, never what
// the rows hold. Blanking hashes in a store that keeps a chain is a
// violation; it cannot switch the check off and let a deleted payout pass.
// The tampering is plain SQL, as an attacker with database access would do.
func TestBlankedChainDetectedInRealStores(t *testing.T) {
	ctx := context.Background()
	h := ledgergen.Generate(ledgergen.Config{Seed: 21, ChainBlocks: 100}) // long enough to hold a sent payout
	n := uint64(len(h.Envelopes))
	k := firstOfType(t, h.Envelopes, events.TypeMinerCredited)
	cases := []struct {
		name string
		// tamper returns the first bad position and the detail the
		// chain_missing violation must hold.
		tamper func(t *testing.T, l sqlLog) (firstBad uint64, detail string)
		// only: the chain_missing violation is the only one.
		only bool
	}{
		{"blank every hash and previous hash", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+", hash = "+l.blank())
			return 1, fmt.Sprintf("%d events at positions 1..%d: their hashes and previous hashes are empty", n, n)
		}, true},
		{"blank every hash, first row included, previous hashes kept", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET hash = "+l.blank())
			return 1, fmt.Sprintf("%d events at positions 1..%d", n, n)
		}, true},
		{"blank one row's hash", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET hash = "+l.blank()+" WHERE position = ?", int64(k))
			return k, fmt.Sprintf("position %d: its hash is empty", k)
		}, true},
		{"blank one row's hash and previous hash", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+", hash = "+l.blank()+" WHERE position = ?", int64(k))
			return k, fmt.Sprintf("position %d: its hash and previous hash are empty", k)
		}, true},
		{"blank one row's previous hash", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+" WHERE position = ?", int64(k))
			return k, fmt.Sprintf("position %d: its previous hash is empty", k)
		}, true},
		{"blank the first row's hash only", func(t *testing.T, l sqlLog) (uint64, string) {
			l.exec(t, "UPDATE events SET hash = "+l.blank()+" WHERE position = 1")
			return 1, "position 1: its hash is empty"
		}, true},
		{"delete the last payout, renumber, blank every hash", func(t *testing.T, l sqlLog) (uint64, string) {
			stream, _, d := l.lastPayoutStream(t)
			l.exec(t, "DELETE FROM events WHERE stream = ?", stream)
			l.renumber(t)
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+", hash = "+l.blank())
			m := n - uint64(d)
			return 1, fmt.Sprintf("%d events at positions 1..%d: their hashes and previous hashes are empty", m, m)
		}, false},
		{"delete the last payout, renumber, blank the hashes from there on", func(t *testing.T, l sqlLog) (uint64, string) {
			stream, first, d := l.lastPayoutStream(t)
			l.exec(t, "DELETE FROM events WHERE stream = ?", stream)
			l.renumber(t)
			l.exec(t, "UPDATE events SET prev_hash = "+l.blank()+", hash = "+l.blank()+" WHERE position >= ?", int64(first))
			m := n - uint64(d)
			return first, fmt.Sprintf("%d events at positions %d..%d", m-first+1, first, m)
		}, false},
	}
	for _, storeName := range []string{"postgres", "sqlite"} {
		t.Run(storeName, func(t *testing.T) {
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					s := openStore(t, storeName)
					if err := h.AppendTo(ctx, s.store, 400); err != nil {
						t.Fatal(err)
					}
					rep := mustRun(t, s.store, audit.Options{PageSize: 100})
					if !rep.OK() || !rep.ChainKept || rep.ChainWarning != "" {
						t.Fatalf("before tampering: kept %v, %v", rep.ChainKept, rep.Violations)
					}
					firstBad, detail := c.tamper(t, s.log)
					rep = mustRun(t, s.store, audit.Options{PageSize: 100})
					if rep.OK() || !rep.ChainKept || rep.ChainWarning != "" {
						t.Fatalf("tampered log passes: kept %v, warning %q, violations %v", rep.ChainKept, rep.ChainWarning, rep.Violations)
					}
					var missing []audit.Violation
					for _, v := range rep.Violations {
						if v.Kind == audit.KindChainMissing {
							missing = append(missing, v)
						}
					}
					if len(missing) != 1 || missing[0].Position != firstBad || !strings.Contains(missing[0].Detail, detail) ||
						rep.FirstBadPosition != firstBad {
						t.Fatalf("first bad %d (want %d), want one chain_missing with %q; violations %v", rep.FirstBadPosition, firstBad, detail, rep.Violations)
					}
					if c.only && len(rep.Violations) != 1 {
						t.Fatalf("one emptied hash is one violation, got %v", rep.Violations)
					}
					var text strings.Builder
					if err := rep.WriteText(&text); err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(text.String(), fmt.Sprintf("hash chain: BROKEN, first bad position %d", firstBad)) ||
						strings.Contains(text.String(), "violations: none") || strings.Contains(text.String(), "not kept") {
						t.Fatalf("text report:\n%s", text.String())
					}
				})
			}
		})
	}
}
