// Package anchortest writes event histories whose payouts carry the log's
// head as the backend writes them (PayoutPlanned.Anchor, and a payout
// transaction whose data output holds it), into a real event store, for
// the tests and measurements of the anchors (issue 14). It also tampers
// with such a store the way the auditor did, with plain SQL.
package anchortest

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// Signed is a payout's transaction, built, funded, signed and broadcast.
type Signed struct {
	TxID   string
	Hex    string
	FeeSat int64
	Inputs []events.OutPoint
}

// Sender pays a planned payout in a transaction carrying data in its data
// output.
type Sender func(ctx context.Context, p events.PayoutPlanned, data []byte) (Signed, error)

// Load appends a history (events in log order, e.g. ledgergen's
// Envelopes) to an empty store as the backend writes it: a PoolInstalled
// first; every PayoutPlanned with pool and the log's head just before it
// (the root over the chain hashes the store wrote); and, with send, every
// payout the history records as sent paid by send in a transaction whose
// data output carries that head, recorded by a PayoutSigned before its
// PayoutSent (whose transaction id and fee become the real ones).
// perAppend bounds the events of one append. It returns the anchored heads
// in log order.
func Load(ctx context.Context, s events.Store, envs []events.Envelope, pool uuid.UUID, send Sender, perAppend int) ([]anchor.Data, error) {
	if perAppend <= 0 {
		perAppend = 1000
	}
	// Which payouts are sent, and neither conflicted (a real transaction
	// is not double spent by a made-up one) nor corrected.
	sentLater := map[uuid.UUID]bool{}
	for _, env := range envs {
		switch env.Type {
		case events.TypePayoutSent, events.TypePayoutConflicted, events.TypePayoutCorrected:
			e, err := events.Decode(env)
			if err != nil {
				return nil, err
			}
			switch e := e.(type) {
			case events.PayoutSent:
				if _, bad := sentLater[e.PayoutID]; !bad {
					sentLater[e.PayoutID] = true
				}
			case events.PayoutConflicted:
				sentLater[e.PayoutID] = false
			case events.PayoutCorrected:
				sentLater[e.PayoutID] = false
			}
		}
	}
	l := &loader{s: s, tree: anchor.NewTree(), perAppend: perAppend, named: map[string]bool{}}
	hasInstalled := false
	for _, env := range envs {
		hasInstalled = hasInstalled || env.Type == events.TypePoolInstalled
	}
	if !hasInstalled {
		installed := events.PoolInstalled{PoolID: pool}
		if len(envs) > 0 {
			installed.At = envs[0].RecordedAt
		}
		if err := l.add(ctx, events.StreamPool, uuid.NewSHA1(events.Namespace, []byte("anchortest pool "+pool.String())), installed, events.Metadata{}); err != nil {
			return nil, err
		}
	}
	signed := map[uuid.UUID]Signed{}
	var heads []anchor.Data
	for _, env := range envs {
		e, err := events.Decode(env)
		if err != nil {
			return nil, fmt.Errorf("anchortest: position %d: %w", env.Position, err)
		}
		switch ev := e.(type) {
		case events.PoolInstalled:
			ev.PoolID = pool
			e = ev
		case events.PayoutSigned:
			if _, ok := signed[ev.PayoutID]; ok {
				continue // the real transaction replaces the history's
			}
		case events.PayoutTxDead:
			if _, ok := signed[ev.PayoutID]; ok {
				continue
			}
		case events.PayoutPlanned:
			if err := l.flush(ctx); err != nil { // the head just before it
				return nil, err
			}
			root, last := l.tree.Root(), l.last
			ev.PoolID = pool
			ev.Anchor = &events.LogAnchor{Size: l.tree.Size(), Root: hex.EncodeToString(root[:]), Hash: hex.EncodeToString(last)}
			d, _, err := anchor.OfPlanned(ev)
			if err != nil {
				return nil, err
			}
			heads = append(heads, d)
			if send != nil && sentLater[ev.PayoutID] {
				sg, err := send(ctx, ev, d.Encode())
				if err != nil {
					return nil, fmt.Errorf("anchortest: send payout %s: %w", ev.PayoutID, err)
				}
				signed[ev.PayoutID] = sg
			}
			e = ev
		case events.PayoutHalted:
			if _, ok := signed[ev.PayoutID]; ok {
				continue // a signed payout is pending until sent, never halted
			}
		case events.PayoutSent:
			if sg, ok := signed[ev.PayoutID]; ok {
				ev.TxID, ev.FeeSat = sg.TxID, sg.FeeSat
			}
			e = ev
		case events.PayoutConfirmed:
			if sg, ok := signed[ev.PayoutID]; ok {
				ev.TxID = sg.TxID
			}
			e = ev
		}
		if err := l.add(ctx, env.Stream, env.ID, e, env.Metadata); err != nil {
			return nil, err
		}
		if p, ok := e.(events.PayoutPlanned); ok {
			if sg, ok := signed[p.PayoutID]; ok { // signed and broadcast right after planning
				sends, err := aggregates.SplitFee(p.Items, sg.FeeSat)
				if err != nil {
					return nil, err
				}
				ps := events.PayoutSigned{Network: p.Network, PayoutID: p.PayoutID, TxID: sg.TxID, Hex: sg.Hex, Inputs: sg.Inputs,
					FeeSat: sg.FeeSat, Sends: sends, Attempt: 1, At: p.At}
				if err := l.add(ctx, env.Stream, uuid.NewSHA1(events.Namespace, []byte("anchortest signed "+sg.TxID)), ps, env.Metadata); err != nil {
					return nil, err
				}
			}
		}
	}
	return heads, l.flush(ctx)
}

type loader struct {
	s         events.Store
	tree      *anchor.Tree
	last      []byte
	perAppend int
	batch     []events.StreamWrite
	named     map[string]bool
	n         int
}

func (l *loader) add(ctx context.Context, stream string, id uuid.UUID, e events.Event, meta events.Metadata) error {
	data, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ne := events.NewEvent{ID: id, Type: e.EventType(), SchemaVersion: events.SchemaVersion, Data: data, Metadata: meta}
	if n := len(l.batch); n > 0 && l.batch[n-1].Stream == stream {
		l.batch[n-1].Events = append(l.batch[n-1].Events, ne)
	} else {
		if l.named[stream] || l.n >= l.perAppend {
			if err := l.flush(ctx); err != nil {
				return err
			}
		}
		l.named[stream] = true
		l.batch = append(l.batch, events.StreamWrite{Stream: stream, Expected: events.Any, Events: []events.NewEvent{ne}})
	}
	l.n++
	return nil
}

// flush appends the batch and feeds the chain hashes the store wrote to
// the tree.
func (l *loader) flush(ctx context.Context) error {
	if len(l.batch) == 0 {
		return nil
	}
	res, err := l.s.Append(ctx, l.batch...)
	if err != nil {
		return fmt.Errorf("anchortest: append: %w", err)
	}
	stored := slices.Clone(res.Events)
	slices.SortFunc(stored, func(a, b events.Envelope) int { return cmp.Compare(a.Position, b.Position) })
	for _, env := range stored {
		if env.Position != l.tree.Size()+1 {
			return fmt.Errorf("anchortest: the store wrote position %d after %d (not an empty store?)", env.Position, l.tree.Size())
		}
		l.tree.Append(env.Hash)
		l.last = env.Hash
	}
	l.batch, l.n = nil, 0
	clear(l.named)
	return nil
}

// NodeSender pays payouts on a node (a simulated one in tests): it builds
// the transaction with createrawtransaction (the recipients' amounts less
// their share of the fee, aggregates.SplitFee, and the data output),
// funds it from the wallet until the fee is stable, signs and broadcasts
// it, then asks fund for the money first and mine to mine a block after.
func NodeSender(c *rpcclient.Client, fund func(sat int64) error, mine func() error) Sender {
	return func(ctx context.Context, p events.PayoutPlanned, data []byte) (Signed, error) {
		if fund != nil {
			if err := fund(p.TotalSat + biblepay.Coin); err != nil {
				return Signed{}, err
			}
		}
		tip, err := c.GetBlockCount(ctx)
		if err != nil {
			return Signed{}, err
		}
		var fee int64
		var funded *rpcclient.FundedTransaction
		for range 5 {
			sends, err := aggregates.SplitFee(p.Items, fee)
			if err != nil {
				return Signed{}, err
			}
			outs := make([]rpcclient.Output, len(sends))
			for i, s := range sends {
				outs[i] = rpcclient.Output{Address: s.Address, AmountSat: s.AmountSat}
			}
			raw, err := c.CreateRawTransaction(ctx, nil, outs, data, uint32(tip))
			if err != nil {
				return Signed{}, err
			}
			funded, err = c.FundRawTransaction(ctx, raw, false)
			if err != nil {
				return Signed{}, err
			}
			if int64(funded.Fee) == fee {
				break
			}
			fee = int64(funded.Fee)
		}
		if int64(funded.Fee) != fee {
			return Signed{}, fmt.Errorf("the fee does not settle (%d, %d)", fee, int64(funded.Fee))
		}
		s, err := c.SignRawTransaction(ctx, funded.Hex, nil, nil, "")
		if err != nil {
			return Signed{}, err
		}
		if !s.Complete {
			return Signed{}, fmt.Errorf("signing incomplete: %+v", s.Errors)
		}
		tx, err := biblepay.ParseTxHex(s.Hex)
		if err != nil {
			return Signed{}, err
		}
		sg := Signed{TxID: tx.TxID(), Hex: s.Hex, FeeSat: fee}
		for _, in := range tx.Inputs {
			sg.Inputs = append(sg.Inputs, events.OutPoint{TxID: biblepay.HashString(in.PrevOut.Hash), Vout: in.PrevOut.Index})
		}
		txid, err := c.SendRawTransaction(ctx, s.Hex, false, false)
		if err != nil {
			return Signed{}, err
		}
		if txid != sg.TxID {
			return Signed{}, fmt.Errorf("sent %s, signed %s", txid, sg.TxID)
		}
		if mine != nil {
			if err := mine(); err != nil {
				return Signed{}, err
			}
		}
		return sg, nil
	}
}

// Tamper changes a chain-keeping store behind its back with plain SQL
// (db on the store's database; table "events" for SQLite,
// "eventstore.events" for PostgreSQL), as an attacker with write access
// would.
type Tamper struct {
	DB    *sql.DB
	PG    bool
	Table string
}

func (t Tamper) q(query string) string {
	query = strings.ReplaceAll(query, "events", t.Table)
	if t.PG {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	return query
}

// Exec runs one statement.
func (t Tamper) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.DB.ExecContext(ctx, t.q(query), args...)
	return err
}

// RewriteFrom is the attack a hash chain alone cannot see: it applies
// edit to the data of the event at position pos, then recomputes every
// chain hash from there on and every payout's anchor after it (the head
// just before the payout, as the backend writes it), so the log is
// consistent with itself; with anchors false
// the payouts' anchors stay as they were. r reads the store (its envelopes
// as the store gives them).
func (t Tamper) RewriteFrom(ctx context.Context, r interface {
	ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error)
}, pos uint64, edit func(data []byte) []byte, anchors bool) error {
	var envs []events.Envelope
	for {
		page, err := r.ReadAll(ctx, uint64(len(envs)), 5000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		envs = append(envs, page...)
	}
	if pos == 0 || pos > uint64(len(envs)) {
		return fmt.Errorf("anchortest: no position %d", pos)
	}
	tx, err := t.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	tree := anchor.NewTree()
	var prev []byte
	for i := range envs {
		env := &envs[i]
		changed := false
		if env.Position == pos {
			env.Data = edit(env.Data)
			changed = true
		}
		if anchors && env.Position >= pos && env.Type == events.TypePayoutPlanned {
			e, err := events.Decode(*env)
			if err != nil {
				return err
			}
			p := e.(events.PayoutPlanned)
			if p.Anchor != nil { // as the backend writes it: the head just before the payout
				root := tree.Root()
				p.Anchor.Size, p.Anchor.Root, p.Anchor.Hash = env.Position-1, hex.EncodeToString(root[:]), hex.EncodeToString(prev)
				if env.Data, err = json.Marshal(p); err != nil {
					return err
				}
				changed = true
			}
		}
		if env.Position >= pos {
			env.PrevHash = prev
			env.Hash = events.ChainHash(prev, *env)
			changed = true
		}
		if changed {
			var data any = []byte(env.Data)
			if t.PG {
				data = string(env.Data) // a json column
			}
			if _, err := tx.ExecContext(ctx, t.q("UPDATE events SET data = ?, prev_hash = ?, hash = ? WHERE position = ?"),
				data, nonNil(env.PrevHash), env.Hash, int64(env.Position)); err != nil {
				return err
			}
		}
		tree.Append(env.Hash)
		prev = env.Hash
	}
	return tx.Commit()
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Anchored returns a copy of a history (events in log order, positions
// from 1, as ledgergen generates them) in which every PayoutPlanned
// carries pool and the log's head just before it, the chain hashes
// recomputed and everything else (positions, times) kept: the anchored
// log in memory, without a store (measurements).
func Anchored(envs []events.Envelope, pool uuid.UUID) ([]events.Envelope, error) {
	out := make([]events.Envelope, len(envs))
	tree := anchor.NewTree()
	var prev []byte
	for i, env := range envs {
		if env.Type == events.TypePayoutPlanned {
			e, err := events.Decode(env)
			if err != nil {
				return nil, err
			}
			p := e.(events.PayoutPlanned)
			root := tree.Root()
			p.PoolID = pool
			p.Anchor = &events.LogAnchor{Size: tree.Size(), Root: hex.EncodeToString(root[:]), Hash: hex.EncodeToString(prev)}
			if env.Data, err = json.Marshal(p); err != nil {
				return nil, err
			}
		}
		if env.Type == events.TypePoolInstalled {
			e, err := events.Decode(env)
			if err != nil {
				return nil, err
			}
			pi := e.(events.PoolInstalled)
			pi.PoolID = pool
			if env.Data, err = json.Marshal(pi); err != nil {
				return nil, err
			}
		}
		env.PrevHash = prev
		env.Hash = events.ChainHash(prev, env)
		prev = env.Hash
		tree.Append(env.Hash)
		out[i] = env
	}
	return out, nil
}
