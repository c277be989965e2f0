package biblepay

import (
	"encoding/binary"
	"math/big"
)

// The real block hash is X11 and the real proof of work is BibleHash, which
// needs the byte-exact KJV text that is not available (spec §4.5); no pure-Go
// X11 is reachable either. The simulated node and miners therefore share the
// two stand-ins below. They take exactly the inputs of the real functions, so
// every protocol path (solution fields, `exec biblehash`, targets, CheckNonce)
// is exercised, but their values differ from a real chain's. Production code
// must keep asking the node (`exec biblehash`), never call these.

// SimBlockHash is the simulation's stand-in for X11 of an 80-byte header:
// SHA-256d of the header, in internal byte order.
func SimBlockHash(header []byte) [32]byte { return DoubleSHA256(header) }

// SimBibleHash is the simulation's stand-in for BibleHash over the inputs of
// `exec biblehash`: SHA-256d of blockHash (internal order, 32 bytes) ‖
// blockTime ‖ prevBlockTime ‖ prevHeight (each int64 little-endian) ‖ nonce
// (uint32 little-endian). It returns 64 hex digits in display order, like
// the node.
func SimBibleHash(blockHash [32]byte, blockTime, prevBlockTime, prevHeight int64, nonce uint32) string {
	var b [32 + 8 + 8 + 8 + 4]byte
	copy(b[:32], blockHash[:])
	binary.LittleEndian.PutUint64(b[32:], uint64(blockTime))
	binary.LittleEndian.PutUint64(b[40:], uint64(prevBlockTime))
	binary.LittleEndian.PutUint64(b[48:], uint64(prevHeight))
	binary.LittleEndian.PutUint32(b[56:], nonce)
	return HashString(DoubleSHA256(b[:]))
}

// MaxNonce is the max-nonce rule (spec §4.4, CheckNonce and `exec pinfo`):
// any nonce passes after 1800 s (reported as 999999999), otherwise at most
// max(512, elapsed×256).
func MaxNonce(elapsedSeconds int64) int64 {
	if elapsedSeconds > 1800 {
		return 999999999
	}
	if v := elapsedSeconds * 256; v > 512 {
		return v
	}
	return 512
}

// CheckNonce applies MaxNonce to a header time and its previous block's time.
func CheckNonce(nonce uint32, blockTime, prevBlockTime int64) bool {
	return int64(nonce) <= MaxNonce(blockTime-prevBlockTime)
}

// CompactToTarget expands a header's nBits into a 256-bit target.
func CompactToTarget(bits uint32) *big.Int {
	mant := int64(bits & 0x007fffff)
	exp := uint(bits >> 24)
	t := big.NewInt(mant)
	if exp <= 3 {
		return t.Rsh(t, 8*(3-exp))
	}
	return t.Lsh(t, 8*(exp-3))
}

// TargetToCompact encodes a 256-bit target as nBits (rounding down).
func TargetToCompact(t *big.Int) uint32 {
	if t.Sign() <= 0 {
		return 0
	}
	size := uint((t.BitLen() + 7) / 8)
	var mant uint32
	if size <= 3 {
		mant = uint32(t.Uint64() << (8 * (3 - size)))
	} else {
		mant = uint32(new(big.Int).Rsh(t, 8*(size-3)).Uint64())
	}
	if mant&0x00800000 != 0 {
		mant >>= 8
		size++
	}
	return uint32(size)<<24 | mant
}
