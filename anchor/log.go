package anchor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Log is the whole Merkle tree over a log, level by level: levels[0] are
// the leaf hashes, levels[k][j] the root of leaves j·2^k … (j+1)·2^k−1,
// kept only where that subtree is complete. It is built once from every
// event's chain hash (the audit holds them all) and then gives the root at
// any size and the inclusion and consistency proofs, each a handful of
// lookups; for n leaves it holds fewer than 2n hashes (64 MB for a million
// events).
type Log struct {
	levels [][][32]byte
}

// NewLog builds the tree over chainHashes (event i+1's chain hash is leaf
// i), hashing in parallel.
func NewLog(chainHashes [][32]byte) *Log {
	leaves := make([][32]byte, len(chainHashes))
	parallel(len(chainHashes), func(from, to int) {
		for i := from; i < to; i++ {
			leaves[i] = leafHash(&chainHashes[i])
		}
	})
	return NewLogFromLeafHashes(leaves)
}

// NewLogFromLeafHashes builds the tree over leaf hashes already computed
// (LeafHash of each chain hash); it keeps the slice.
func NewLogFromLeafHashes(leaves [][32]byte) *Log {
	l := &Log{levels: [][][32]byte{leaves}}
	for cur := leaves; len(cur) >= 2; {
		next := make([][32]byte, len(cur)/2)
		parallel(len(next), func(from, to int) {
			for j := from; j < to; j++ {
				next[j] = childrenHash(&cur[2*j], &cur[2*j+1])
			}
		})
		l.levels = append(l.levels, next)
		cur = next
	}
	return l
}

// parallel runs f over [0, n) in chunks on every processor; small ranges
// run on the caller's goroutine.
func parallel(n int, f func(from, to int)) {
	const minChunk = 1 << 13
	workers := min(runtime.GOMAXPROCS(0), n/minChunk)
	if workers <= 1 {
		f(0, n)
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for from := 0; from < n; from += chunk {
		wg.Add(1)
		go func(from, to int) {
			defer wg.Done()
			f(from, to)
		}(from, min(from+chunk, n))
	}
	wg.Wait()
}

// Size is the number of leaves.
func (l *Log) Size() uint64 { return uint64(len(l.levels[0])) }

// LeafHash is leaf i's hash (RFC 6962 HashLeaf of event i+1's chain hash).
func (l *Log) LeafHash(i uint64) [32]byte { return l.levels[0][i] }

// node is a complete subtree's root.
func (l *Log) node(id compact.NodeID) ([32]byte, error) {
	if int(id.Level) >= len(l.levels) || id.Index >= uint64(len(l.levels[id.Level])) {
		return [32]byte{}, fmt.Errorf("anchor: node (%d, %d) is beyond the log of %d leaves", id.Level, id.Index, l.Size())
	}
	return l.levels[id.Level][id.Index], nil
}

// ErrBeyondLog: a size larger than the log.
var ErrBeyondLog = errors.New("anchor: size beyond the log")

// RootAt is the tree head at size (size ≤ Size()): RFC 6962's Merkle tree
// hash of leaves 0..size−1, the hash of the empty string for size 0.
func (l *Log) RootAt(size uint64) ([32]byte, error) {
	if size > l.Size() {
		return [32]byte{}, fmt.Errorf("%w: size %d, the log holds %d", ErrBeyondLog, size, l.Size())
	}
	if size == 0 {
		return EmptyRoot(), nil
	}
	ids := compact.RangeNodes(0, size, nil) // complete subtrees, left to right, largest first
	h, err := l.node(ids[len(ids)-1])
	if err != nil {
		return h, err
	}
	for i := len(ids) - 2; i >= 0; i-- {
		left, err := l.node(ids[i])
		if err != nil {
			return h, err
		}
		h = childrenHash(&left, &h)
	}
	return h, nil
}

// hashes looks up a proof's nodes and rehashes its ephemeral part.
func (l *Log) hashes(n proof.Nodes) ([][32]byte, error) {
	raw := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, err := l.node(id)
		if err != nil {
			return nil, err
		}
		raw[i] = h[:]
	}
	raw, err := n.Rehash(raw, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, err
	}
	out := make([][32]byte, len(raw))
	for i, h := range raw {
		copy(out[i][:], h)
	}
	return out, nil
}

// InclusionProof proves leaf index (event index+1) under the head at size:
// the RFC 6962 audit path, at most log2(size)+1 hashes.
func (l *Log) InclusionProof(index, size uint64) ([][32]byte, error) {
	if size > l.Size() {
		return nil, fmt.Errorf("%w: size %d, the log holds %d", ErrBeyondLog, size, l.Size())
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	return l.hashes(n)
}

// ConsistencyProof proves that the head at size2 extends the head at size1
// (size1 ≤ size2): RFC 6962's consistency proof.
func (l *Log) ConsistencyProof(size1, size2 uint64) ([][32]byte, error) {
	if size2 > l.Size() {
		return nil, fmt.Errorf("%w: size %d, the log holds %d", ErrBeyondLog, size2, l.Size())
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("anchor: %w", err)
	}
	return l.hashes(n)
}

// VerifyInclusion checks that the event whose chain hash is chainHash is
// leaf index (its position − 1) of the tree of size whose head is root.
func VerifyInclusion(chainHash []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, LeafHash(chainHash), proofHashes, root); err != nil {
		return fmt.Errorf("anchor: inclusion of leaf %d under the head of size %d: %w", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the head (size2, root2) extends the head
// (size1, root1): the first size1 leaves under root2 are those of root1.
func VerifyConsistency(size1, size2 uint64, proofHashes [][]byte, root1, root2 []byte) error {
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, proofHashes, root1, root2); err != nil {
		return fmt.Errorf("anchor: consistency of the head of size %d with size %d: %w", size2, size1, err)
	}
	return nil
}

// EmptyRoot is the head of the empty log: SHA-256 of the empty string.
func EmptyRoot() [32]byte { return sha256.Sum256(nil) }

// leafHash and childrenHash are RFC 6962's HashLeaf and HashChildren
// (0x00 ‖ leaf, 0x01 ‖ left ‖ right) without allocating: the audit hashes
// two million of them for a million events.
func leafHash(h *[32]byte) [32]byte {
	var b [33]byte
	copy(b[1:], h[:])
	return sha256.Sum256(b[:])
}

func childrenHash(l, r *[32]byte) [32]byte {
	var b [65]byte
	b[0] = 1
	copy(b[1:33], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// HexHashes writes hashes as hex strings (a statement's proofs).
func HexHashes(hs [][32]byte) []string {
	out := make([]string, len(hs))
	for i := range hs {
		out[i] = hex.EncodeToString(hs[i][:])
	}
	return out
}

// ParseHexHashes reads hex hashes of 32 bytes each.
func ParseHexHashes(ss []string) ([][]byte, error) {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("anchor: hash %d %q is no 32-byte hex", i, s)
		}
		out[i] = b
	}
	return out, nil
}

// ParseHash reads one 32-byte hex hash.
func ParseHash(s string) ([32]byte, error) {
	var h [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("anchor: %q is no 32-byte hex hash", s)
	}
	copy(h[:], b)
	return h, nil
}
