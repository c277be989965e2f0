package anchor_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/events"
)

func TestDataEncodeDecode(t *testing.T) {
	d := anchor.Data{PoolID: uuid.New(), PayoutID: uuid.New(), Size: 1<<40 + 7}
	copy(d.Root[:], bytes.Repeat([]byte{0xab}, 32))
	b := d.Encode()
	if len(b) != anchor.DataSize || anchor.DataSize > 80 || !bytes.HasPrefix(b, []byte("PPL\x01")) {
		t.Fatalf("encoded %d bytes: %x", len(b), b)
	}
	// The layout is a published format: magic, pool id, payout id, size
	// (big endian), root.
	want := append(append(append(append([]byte("PPL\x01"), d.PoolID[:]...), d.PayoutID[:]...),
		0, 0, 1, 0, 0, 0, 0, 7), d.Root[:]...)
	if !bytes.Equal(b, want) {
		t.Fatalf("layout\n%x\nwant\n%x", b, want)
	}
	back, err := anchor.Decode(b)
	if err != nil || back != d {
		t.Fatalf("decode: %+v %v", back, err)
	}
	for _, bad := range [][]byte{nil, b[:len(b)-1], append(append([]byte(nil), b...), 0), append([]byte("PPL\x02"), b[4:]...), []byte("purepool payout")} {
		if _, err := anchor.Decode(bad); !errors.Is(err, anchor.ErrNotAnchor) {
			t.Errorf("decode %x: %v", bad, err)
		}
	}
}

func TestOfPlanned(t *testing.T) {
	pool, id := uuid.New(), uuid.New()
	root := sha256.Sum256([]byte("x"))
	p := events.PayoutPlanned{Network: "test", PayoutID: id, PoolID: pool,
		Anchor: &events.LogAnchor{Size: 41, Root: hex.EncodeToString(root[:]), Hash: hex.EncodeToString(root[:])}}
	d, ok, err := anchor.OfPlanned(p)
	if err != nil || !ok || d != (anchor.Data{PoolID: pool, PayoutID: id, Size: 41, Root: root}) {
		t.Fatalf("%+v %v %v", d, ok, err)
	}
	p.Anchor.Root = "zz"
	if _, _, err := anchor.OfPlanned(p); err == nil {
		t.Fatal("a root that is no hex was accepted")
	}
	p.Anchor = nil
	if _, ok, err := anchor.OfPlanned(p); ok || err != nil {
		t.Fatalf("no anchor: %v %v", ok, err)
	}
}

// refRoot is RFC 6962 §2.1's MTH, written out from the definition with
// crypto/sha256 only: MTH({}) = SHA-256(), MTH({d}) = SHA-256(0x00 ‖ d),
// MTH(D[n]) = SHA-256(0x01 ‖ MTH(D[0:k]) ‖ MTH(D[k:n])) for the largest
// power of two k < n.
func refRoot(d [][]byte) []byte {
	switch len(d) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		h := sha256.Sum256(append([]byte{0}, d[0]...))
		return h[:]
	}
	k := splitPoint(len(d))
	h := sha256.Sum256(append(append([]byte{1}, refRoot(d[:k])...), refRoot(d[k:])...))
	return h[:]
}

func splitPoint(n int) int {
	k := 1
	for k*2 < n {
		k *= 2
	}
	return k
}

// refPath is RFC 6962 §2.1.1's PATH(m, D[n]).
func refPath(m int, d [][]byte) [][]byte {
	if len(d) <= 1 {
		return nil
	}
	k := splitPoint(len(d))
	if m < k {
		return append(refPath(m, d[:k]), refRoot(d[k:]))
	}
	return append(refPath(m-k, d[k:]), refRoot(d[:k]))
}

// refProof is RFC 6962 §2.1.2's PROOF(m, D[n]) = SUBPROOF(m, D[n], true).
func refProof(m int, d [][]byte) [][]byte { return refSubproof(m, d, true) }

func refSubproof(m int, d [][]byte, b bool) [][]byte {
	n := len(d)
	if m == n {
		if b {
			return nil
		}
		return [][]byte{refRoot(d)}
	}
	k := splitPoint(n)
	if m <= k {
		return append(refSubproof(m, d[:k], b), refRoot(d[k:]))
	}
	return append(refSubproof(m-k, d[k:], false), refRoot(d[:k]))
}

func chainHashes(n int) ([][32]byte, [][]byte) {
	hs := make([][32]byte, n)
	raw := make([][]byte, n)
	for i := range hs {
		hs[i] = sha256.Sum256(fmt.Appendf(nil, "event %d", i+1))
		raw[i] = hs[i][:]
	}
	return hs, raw
}

func flat(hs [][32]byte) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

func TestEmptyRoot(t *testing.T) {
	const sha256OfEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tr := anchor.NewTree()
	root := tr.Root()
	lr, err := anchor.NewLog(nil).RootAt(0)
	if hex.EncodeToString(root[:]) != sha256OfEmpty || lr != root || anchor.EmptyRoot() != root || err != nil || tr.Size() != 0 {
		t.Fatalf("empty root %x / %x (%v)", root, lr, err)
	}
}

// The incremental Tree and the Log give RFC 6962's root at every size, and
// the Log's proofs are RFC 6962's audit paths and consistency proofs, which
// transparency-dev/merkle's verifiers accept and reject when altered.
func TestTreeAndLogAgainstRFC6962(t *testing.T) {
	const max = 70
	hs, raw := chainHashes(max)
	log := anchor.NewLog(hs)
	if log.Size() != max {
		t.Fatalf("size %d", log.Size())
	}
	tr := anchor.NewTree()
	for n := 0; n <= max; n++ {
		want := refRoot(raw[:n])
		got := tr.Root()
		if !bytes.Equal(got[:], want) || tr.Size() != uint64(n) {
			t.Fatalf("tree root at %d: %x, want %x", n, got, want)
		}
		lr, err := log.RootAt(uint64(n))
		if err != nil || !bytes.Equal(lr[:], want) {
			t.Fatalf("log root at %d: %x %v, want %x", n, lr, err, want)
		}
		if n < max {
			tr.Append(raw[n])
		}
	}
	if _, err := log.RootAt(max + 1); !errors.Is(err, anchor.ErrBeyondLog) {
		t.Fatalf("root beyond the log: %v", err)
	}

	for n := 1; n <= max; n++ {
		root := refRoot(raw[:n])
		for i := range n {
			p, err := log.InclusionProof(uint64(i), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			want := refPath(i, raw[:n])
			if len(p) != len(want) {
				t.Fatalf("inclusion %d/%d: %d hashes, RFC 6962 path has %d", i, n, len(p), len(want))
			}
			for j := range want {
				if !bytes.Equal(p[j][:], want[j]) {
					t.Fatalf("inclusion %d/%d: hash %d differs", i, n, j)
				}
			}
			if err := anchor.VerifyInclusion(raw[i], uint64(i), uint64(n), flat(p), root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", i, n, err)
			}
			if err := anchor.VerifyInclusion(raw[(i+1)%n], uint64(i), uint64(n), flat(p), root); n > 1 && err == nil {
				t.Fatalf("inclusion %d/%d holds for another leaf", i, n)
			}
			if len(p) > 0 {
				bad := flat(p)
				bad[len(bad)-1] = raw[0]
				if anchor.VerifyInclusion(raw[i], uint64(i), uint64(n), bad, root) == nil {
					t.Fatalf("inclusion %d/%d holds with an altered proof", i, n)
				}
				if anchor.VerifyInclusion(raw[i], uint64(i), uint64(n), flat(p[:len(p)-1]), root) == nil {
					t.Fatalf("inclusion %d/%d holds with a short proof", i, n)
				}
			}
		}
		if _, err := log.InclusionProof(uint64(n), uint64(n)); err == nil {
			t.Fatalf("inclusion of leaf %d at size %d", n, n)
		}
	}

	for n := 1; n <= max; n++ {
		root2 := refRoot(raw[:n])
		for m := 0; m <= n; m++ {
			root1 := refRoot(raw[:m])
			p, err := log.ConsistencyProof(uint64(m), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			var want [][]byte
			if m > 0 {
				want = refProof(m, raw[:n])
			}
			if len(p) != len(want) {
				t.Fatalf("consistency %d→%d: %d hashes, RFC 6962 has %d", m, n, len(p), len(want))
			}
			for j := range want {
				if !bytes.Equal(p[j][:], want[j]) {
					t.Fatalf("consistency %d→%d: hash %d differs", m, n, j)
				}
			}
			if err := anchor.VerifyConsistency(uint64(m), uint64(n), flat(p), root1, root2); err != nil {
				t.Fatalf("consistency %d→%d: %v", m, n, err)
			}
			if m > 0 && m < n {
				// A log that rewrote leaf 0 after head m is not consistent with it.
				forged := append([][]byte{raw[n-1]}, raw[1:n]...)
				if anchor.VerifyConsistency(uint64(m), uint64(n), flat(p), root1, refRoot(forged)) == nil {
					t.Fatalf("consistency %d→%d holds for a rewritten log", m, n)
				}
				bad := flat(p)
				bad[0] = raw[0]
				if anchor.VerifyConsistency(uint64(m), uint64(n), bad, root1, root2) == nil {
					t.Fatalf("consistency %d→%d holds with an altered proof", m, n)
				}
			}
		}
	}
	if _, err := log.ConsistencyProof(3, 2); err == nil {
		t.Fatal("consistency from a larger size")
	}
	if _, err := log.ConsistencyProof(3, max+1); !errors.Is(err, anchor.ErrBeyondLog) {
		t.Fatalf("consistency beyond the log: %v", err)
	}
}

// A million leaves: the parallel build agrees with the incremental tree,
// and a proof is at most 21 hashes. PUREPOOL_STRESS=1 runs the full size;
// by default 70,000 leaves.
func TestLogLarge(t *testing.T) {
	n := 70_000
	if os.Getenv("PUREPOOL_STRESS") != "" {
		n = 1_000_000
	}
	hs, raw := chainHashes(n)
	start := time.Now()
	log := anchor.NewLog(hs)
	built := time.Since(start)
	tr := anchor.NewTree()
	for i, h := range raw {
		tr.Append(h)
		if i == n/2 {
			mid, err := log.RootAt(uint64(i + 1))
			if err != nil || mid != tr.Root() {
				t.Fatalf("root at %d: %v", i+1, err)
			}
		}
	}
	root, err := log.RootAt(uint64(n))
	if err != nil || root != tr.Root() {
		t.Fatalf("root at %d: %x, tree %x (%v)", n, root, tr.Root(), err)
	}
	for _, i := range []int{0, 1, n / 3, n - 2, n - 1} {
		p, err := log.InclusionProof(uint64(i), uint64(n))
		if err != nil || len(p) > 21 {
			t.Fatalf("proof of %d: %d hashes, %v", i, len(p), err)
		}
		if err := anchor.VerifyInclusion(raw[i], uint64(i), uint64(n), flat(p), root[:]); err != nil {
			t.Fatal(err)
		}
	}
	mid, _ := log.RootAt(uint64(n / 3))
	p, err := log.ConsistencyProof(uint64(n/3), uint64(n))
	if err != nil {
		t.Fatal(err)
	}
	if err := anchor.VerifyConsistency(uint64(n/3), uint64(n), flat(p), mid[:], root[:]); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d leaves: built in %v; a consistency proof %d hashes", n, built, len(p))
}

func BenchmarkNewLog(b *testing.B) {
	hs, _ := chainHashes(1_000_000)
	for b.Loop() {
		anchor.NewLog(hs)
	}
}
