package biblepay

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// SolutionFields is the number of comma-separated fields a wallet from
// 1.0.8.6 on sends with a share (spec §1.7).
const SolutionFields = 16

// HeaderSize is the size of a serialized block header.
const HeaderSize = 80

// Solution is a parsed share: the wallet's 16-field solution string.
type Solution struct {
	BlockHash         string    // 0: X11 of the header, 64 hex, display order
	BlockTime         int64     // 1: header nTime
	PrevBlockTime     int64     // 2: nTime of the tip
	PrevHeight        int64     // 3: height of the tip
	BibleHash         string    // 4: 64 hex, display order
	MinerID           uuid.UUID // 5: MINERGUID from readytomine2
	WorkID            uuid.UUID // 6: WORKID from readytomine2
	ThreadID          int64     // 7
	ThreadHashCounter uint64    // 8
	ThreadStart       int64     // 9: ms
	HashCounter       uint64    // 10
	TimerStart        int64     // 11: ms
	TimerEnd          int64     // 12: ms
	Nonce             uint32    // 13: header nNonce
	BlockHex          string    // 14: the whole block
	TransactionHex    string    // 15: the coinbase transaction
}

// ErrMalformedSolution is wrapped by every solution parse failure.
var ErrMalformedSolution = errors.New("malformed solution")

// MaxThreadID bounds the ThreadID field and header; no wallet runs more
// threads (the official pool refused more than 40).
const MaxThreadID = 1024

// ParseSolution strictly parses and checks a solution string: field count,
// hex digits and lengths, decimal ranges, UUIDs, and that the block hex holds
// a header whose time and nonce are fields 1 and 13 and a coinbase equal to
// field 15. maxBlockHex bounds field 14 (0 means no bound).
func ParseSolution(s string, maxBlockHex int) (Solution, error) {
	f := strings.Split(s, ",")
	if len(f) != SolutionFields {
		return Solution{}, fmt.Errorf("%w: %d fields, want %d", ErrMalformedSolution, len(f), SolutionFields)
	}
	var sol Solution
	var err error
	bad := func(i int, name string, e error) (Solution, error) {
		return Solution{}, fmt.Errorf("%w: field %d (%s): %v", ErrMalformedSolution, i, name, e)
	}
	if sol.BlockHash, err = hash64(f[0]); err != nil {
		return bad(0, "block hash", err)
	}
	if sol.BlockTime, err = decimal(f[1], 1, 1<<32-1); err != nil {
		return bad(1, "block time", err)
	}
	if sol.PrevBlockTime, err = decimal(f[2], 1, 1<<32-1); err != nil {
		return bad(2, "previous block time", err)
	}
	if sol.PrevHeight, err = decimal(f[3], 0, 1<<31-1); err != nil {
		return bad(3, "previous height", err)
	}
	if sol.BibleHash, err = hash64(f[4]); err != nil {
		return bad(4, "bible hash", err)
	}
	if sol.MinerID, err = strictUUID(f[5]); err != nil {
		return bad(5, "miner guid", err)
	}
	if sol.WorkID, err = strictUUID(f[6]); err != nil {
		return bad(6, "work id", err)
	}
	if sol.ThreadID, err = decimal(f[7], 0, MaxThreadID); err != nil {
		return bad(7, "thread id", err)
	}
	var v int64
	if v, err = decimal(f[8], 0, 1<<62); err != nil {
		return bad(8, "thread hash counter", err)
	}
	sol.ThreadHashCounter = uint64(v)
	if sol.ThreadStart, err = decimal(f[9], 0, 1<<53); err != nil {
		return bad(9, "thread start", err)
	}
	if v, err = decimal(f[10], 0, 1<<62); err != nil {
		return bad(10, "hash counter", err)
	}
	sol.HashCounter = uint64(v)
	if sol.TimerStart, err = decimal(f[11], 0, 1<<53); err != nil {
		return bad(11, "timer start", err)
	}
	if sol.TimerEnd, err = decimal(f[12], 0, 1<<53); err != nil {
		return bad(12, "timer end", err)
	}
	if v, err = decimal(f[13], 0, 1<<32-1); err != nil {
		return bad(13, "nonce", err)
	}
	sol.Nonce = uint32(v)
	if maxBlockHex > 0 && len(f[14]) > maxBlockHex {
		return bad(14, "block hex", fmt.Errorf("%d characters, at most %d", len(f[14]), maxBlockHex))
	}
	block, err := hexBytes(f[14])
	if err != nil {
		return bad(14, "block hex", err)
	}
	if len(block) <= HeaderSize {
		return bad(14, "block hex", fmt.Errorf("%d bytes is no header plus transactions", len(block)))
	}
	sol.BlockHex = strings.ToLower(f[14])
	if _, err = hexBytes(f[15]); err != nil || f[15] == "" {
		if err == nil {
			err = errors.New("empty")
		}
		return bad(15, "coinbase hex", err)
	}
	sol.TransactionHex = strings.ToLower(f[15])
	h := ParseHeader(block[:HeaderSize])
	if int64(h.Time) != sol.BlockTime {
		return bad(1, "block time", fmt.Errorf("header time is %d", h.Time))
	}
	if h.Nonce != sol.Nonce {
		return bad(13, "nonce", fmt.Errorf("header nonce is %d", h.Nonce))
	}
	if !strings.Contains(sol.BlockHex[2*HeaderSize:], sol.TransactionHex) {
		return bad(15, "coinbase hex", errors.New("not part of the block"))
	}
	return sol, nil
}

// HashesPerSecond is the miner's own hash rate report, computed as both
// earlier pools did: 1000 × hash counter / (timer end − timer start).
func (s Solution) HashesPerSecond() int64 {
	ms := s.TimerEnd - s.TimerStart
	if ms <= 0 {
		return 0
	}
	return int64(s.HashCounter/uint64(ms)) * 1000
}

// String formats the solution the way the wallet does.
func (s Solution) String() string {
	f := []string{
		s.BlockHash,
		strconv.FormatInt(s.BlockTime, 10),
		strconv.FormatInt(s.PrevBlockTime, 10),
		strconv.FormatInt(s.PrevHeight, 10),
		s.BibleHash,
		s.MinerID.String(),
		s.WorkID.String(),
		strconv.FormatInt(s.ThreadID, 10),
		strconv.FormatUint(s.ThreadHashCounter, 10),
		strconv.FormatInt(s.ThreadStart, 10),
		strconv.FormatUint(s.HashCounter, 10),
		strconv.FormatInt(s.TimerStart, 10),
		strconv.FormatInt(s.TimerEnd, 10),
		strconv.FormatUint(uint64(s.Nonce), 10),
		s.BlockHex,
		s.TransactionHex,
	}
	return strings.Join(f, ",")
}

// Header is a block header.
type Header struct {
	Version    int32
	PrevBlock  [32]byte // internal byte order
	MerkleRoot [32]byte // internal byte order
	Time       uint32
	Bits       uint32
	Nonce      uint32
}

// ParseHeader reads the first 80 bytes of a serialized block.
func ParseHeader(b []byte) Header {
	var h Header
	h.Version = int32(binary.LittleEndian.Uint32(b[0:4]))
	copy(h.PrevBlock[:], b[4:36])
	copy(h.MerkleRoot[:], b[36:68])
	h.Time = binary.LittleEndian.Uint32(b[68:72])
	h.Bits = binary.LittleEndian.Uint32(b[72:76])
	h.Nonce = binary.LittleEndian.Uint32(b[76:80])
	return h
}

// Bytes serializes the header.
func (h Header) Bytes() []byte {
	b := make([]byte, HeaderSize)
	binary.LittleEndian.PutUint32(b[0:4], uint32(h.Version))
	copy(b[4:36], h.PrevBlock[:])
	copy(b[36:68], h.MerkleRoot[:])
	binary.LittleEndian.PutUint32(b[68:72], h.Time)
	binary.LittleEndian.PutUint32(b[72:76], h.Bits)
	binary.LittleEndian.PutUint32(b[76:80], h.Nonce)
	return b
}

func hash64(s string) (string, error) {
	if _, err := ParseHash(s); err != nil {
		return "", err
	}
	return strings.ToLower(s), nil
}

// decimal parses a plain decimal integer (no sign, no spaces, no leading
// zeros beyond "0") within [min, max].
func decimal(s string, min, max int64) (int64, error) {
	if s == "" || len(s) > 19 {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a decimal number", s)
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	if v < min || v > max {
		return 0, fmt.Errorf("%d is outside %d..%d", v, min, max)
	}
	return v, nil
}

// strictUUID accepts only the canonical 36-character form.
func strictUUID(s string) (uuid.UUID, error) {
	if len(s) != 36 {
		return uuid.Nil, fmt.Errorf("%q is not a canonical UUID", s)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, err
	}
	return u, nil
}

func hexBytes(s string) ([]byte, error) {
	if len(s)%2 != 0 {
		return nil, fmt.Errorf("odd number of hex digits (%d)", len(s))
	}
	return hex.DecodeString(s)
}
