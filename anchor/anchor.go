// Package anchor puts the event log's head where anyone can read it: in the
// data output (OP_RETURN) of every payout transaction, so the BiblePay
// chain holds and timestamps it.
//
// The head is the root of an RFC 6962 Merkle tree (as Certificate
// Transparency logs keep) whose leaves are the events' chain hashes
// (events.ChainHash) in log order: leaf i is event i+1. A chain hash binds
// the event's every field and its predecessor, so the root at size n binds
// the whole log up to event n; an inclusion proof shows one event under it
// in log2(n) hashes, and a consistency proof shows a later head extends an
// earlier one.
package anchor

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Magic starts every payout data output: "PPL" (Purepool log) and the
// format version.
var Magic = []byte{'P', 'P', 'L', 1}

// DataSize is the length of a payout data output's data: within the 80
// bytes a standard OP_RETURN output may carry.
const DataSize = 4 + 16 + 16 + 8 + 32

// Data is what a payout transaction's data output says: which
// installation's which payout it is (the wallet check's marker), and the
// log head when the payout was planned.
type Data struct {
	PoolID   uuid.UUID
	PayoutID uuid.UUID
	Size     uint64
	Root     [32]byte
}

// Encode lays Data out as Magic, pool id, payout id, size (big endian),
// root.
func (d Data) Encode() []byte {
	b := make([]byte, 0, DataSize)
	b = append(b, Magic...)
	b = append(b, d.PoolID[:]...)
	b = append(b, d.PayoutID[:]...)
	b = binary.BigEndian.AppendUint64(b, d.Size)
	return append(b, d.Root[:]...)
}

// ErrNotAnchor: the data is not a Purepool payout data output.
var ErrNotAnchor = errors.New("anchor: not a Purepool payout data output")

// Decode reads a data output's data.
func Decode(b []byte) (Data, error) {
	if len(b) != DataSize || !bytes.HasPrefix(b, Magic) {
		return Data{}, ErrNotAnchor
	}
	var d Data
	b = b[len(Magic):]
	copy(d.PoolID[:], b[:16])
	copy(d.PayoutID[:], b[16:32])
	d.Size = binary.BigEndian.Uint64(b[32:40])
	copy(d.Root[:], b[40:72])
	return d, nil
}

// OfPlanned is the data output of a planned payout (ok false for one
// planned without an anchor).
func OfPlanned(p events.PayoutPlanned) (Data, bool, error) {
	if p.Anchor == nil {
		return Data{}, false, nil
	}
	root, err := hex.DecodeString(p.Anchor.Root)
	if err != nil || len(root) != 32 {
		return Data{}, false, fmt.Errorf("anchor: payout %s: root %q is no 32-byte hex", p.PayoutID, p.Anchor.Root)
	}
	d := Data{PoolID: p.PoolID, PayoutID: p.PayoutID, Size: p.Anchor.Size}
	copy(d.Root[:], root)
	return d, true, nil
}

var factory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Tree keeps the Merkle tree's right edge (log2 n hashes): enough to
// append a leaf and to give the root at the current size. The zero value
// is not ready; use NewTree.
type Tree struct {
	r *compact.Range
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{r: factory.NewEmptyRange(0)} }

// Append adds the next event's chain hash.
func (t *Tree) Append(chainHash []byte) {
	// Append fails only for a range that does not start at 0 being
	// merged wrongly, which this type never builds.
	if err := t.r.Append(LeafHash(chainHash), nil); err != nil {
		panic(err)
	}
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return t.r.End() }

// Root is the tree head at the current size (the hash of the empty string
// for an empty tree, as RFC 6962 defines).
func (t *Tree) Root() [32]byte {
	var out [32]byte
	if t.r.End() == 0 {
		copy(out[:], rfc6962.DefaultHasher.EmptyRoot())
		return out
	}
	h, err := t.r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	copy(out[:], h)
	return out
}

// LeafHash is RFC 6962's leaf hash of an event's chain hash.
func LeafHash(chainHash []byte) []byte { return rfc6962.DefaultHasher.HashLeaf(chainHash) }

// OfTransaction reads the payout data output of a raw transaction (hex, as
// getrawtransaction or the wallet's gettransaction give it), parsed here
// rather than by another RPC; ok is false for a transaction without one.
// txid is the transaction's id computed from the hex.
func OfTransaction(txHex string) (d Data, txid string, ok bool, err error) {
	tx, err := biblepay.ParseTxHex(txHex)
	if err != nil {
		return Data{}, "", false, fmt.Errorf("anchor: %w", err)
	}
	for _, o := range tx.Outputs {
		if raw, isData := biblepay.NullData(o.ScriptPubKey); isData {
			if d, err := Decode(raw); err == nil {
				return d, tx.TxID(), true, nil
			}
		}
	}
	return Data{}, tx.TxID(), false, nil
}
