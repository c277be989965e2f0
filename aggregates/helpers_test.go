package aggregates_test

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// addr returns a valid address of the network made from a seed byte.
func addr(network string, seed byte) string {
	var pkh [20]byte
	for i := range pkh {
		pkh[i] = seed + byte(i)
	}
	return biblepay.Networks[network].Address(pkh)
}

func uid(s string) uuid.UUID { return uuid.NewSHA1(events.Namespace, []byte("test:"+s)) }

// share is a well-formed solution string and its parts.
type share struct {
	blockHash, bibleHash string
	prevHeight           int64
	nonce                uint32
	blockTime            int64 // 0: 1518041523
	minerID, workID      uuid.UUID
}

func (s share) String() string {
	bt := s.blockTime
	if bt == 0 {
		bt = 1518041523
	}
	h := biblepay.Header{Version: 0x20000000, Time: uint32(bt), Bits: 0x1d08aaa5, Nonce: s.nonce}
	coinbase := "01000000010000"
	block := hex.EncodeToString(h.Bytes()) + "01" + coinbase
	sol := biblepay.Solution{
		BlockHash: s.blockHash, BlockTime: bt, PrevBlockTime: 1518041437, PrevHeight: s.prevHeight,
		BibleHash: s.bibleHash, MinerID: s.minerID, WorkID: s.workID, ThreadID: 1, ThreadHashCounter: 10,
		ThreadStart: 1, HashCounter: 60000, TimerStart: 1000, TimerEnd: 61000, Nonce: s.nonce,
		BlockHex: block, TransactionHex: coinbase,
	}
	return sol.String()
}

func hash64(prefix string) string { return prefix + strings.Repeat("0", 64-len(prefix)) }

func mustNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
