package biblepay

import (
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
)

func TestValidateAddress(t *testing.T) {
	main, test := Networks["main"], Networks["test"]
	var pkh [20]byte
	copy(pkh[:], "purepool-test-pkh-01")
	tests := []struct {
		name    string
		net     Network
		addr    string
		wantErr bool
	}{
		{"purepool test vector 1", main, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", false},
		{"purepool test vector 2", main, "BLzS3xeaoiXUchbBofi7dzNqwrGyUeUdC6", false},
		{"spec workerid example", main, "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL", false},
		{"tithe address", main, "BB2BwSbDCqCqNsfc7FgWFJn4sRgnUt4tsM", false},
		{"testnet tithe address", test, "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", false},
		{"main address on test", test, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", true},
		{"test address on main", main, "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", true},
		{"checksum broken", main, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTJ", true},
		{"not base58", main, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxU0O", true},
		{"empty", main, "", true},
		{"too short", main, "B91RjV9", true},
		{"too long", main, strings.Repeat("B", 60), true},
		{"encoded here", main, main.Address(pkh), false},
		{"P2SH refused", main, "7" + strings.Repeat("1", 33), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.net.ValidateAddress(tt.addr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidateAddress(%q) = %v, wantErr %v", tt.addr, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidAddress) {
				t.Fatalf("error %v does not wrap ErrInvalidAddress", err)
			}
		})
	}
	if a := main.Address(pkh); a[0] != 'B' {
		t.Errorf("main address %q does not start with B", a)
	}
	if a := test.Address(pkh); a[0] != 'y' {
		t.Errorf("test address %q does not start with y", a)
	}
}

func TestParseWorkerID(t *testing.T) {
	tests := []struct {
		in      string
		want    WorkerID
		wantErr bool
	}{
		{in: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL/MyMiner1", want: WorkerID{Address: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL", Worker: "MyMiner1"}},
		{in: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL", want: WorkerID{Address: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL", Worker: "Default"}},
		{in: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL/", want: WorkerID{Address: "BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL", Worker: "Default"}},
		{in: "addr/w/me@example.org", want: WorkerID{Address: "addr", Worker: "w", Email: "me@example.org"}},
		{in: "addr//me@example.org", want: WorkerID{Address: "addr", Worker: "Default", Email: "me@example.org"}},
		{in: "", wantErr: true},
		{in: "/", wantErr: true},
		{in: "//", wantErr: true},
		{in: "addr/" + strings.Repeat("w", MaxWorkerName+1), wantErr: true},
		{in: "addr/<script>", wantErr: true},
		{in: "addr/tab\there", wantErr: true},
		{in: "addr/\xe0", wantErr: true},
		{in: "addr/caf\xc3\xa9", want: WorkerID{Address: "addr", Worker: "café"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWorkerID(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseWorkerID(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got != tt.want {
				t.Fatalf("ParseWorkerID(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	if !errors.Is(func() error { _, err := ParseWorkerID(""); return err }(), ErrWorkerIDMissing) {
		t.Error("empty Miner header must be ErrWorkerIDMissing")
	}
}

func TestHashBelow(t *testing.T) {
	// Purepool's own comparisons (spec §7).
	share := "0000000ec75f80a3" + strings.Repeat("0", 48)
	if !HashBelow(share, "0000001111000000"+strings.Repeat("0", 48)) {
		t.Error("0000000ec7… must be below 0000001111…")
	}
	if HashBelow(share, "0000000111100000"+strings.Repeat("0", 48)) {
		t.Error("0000000ec7… must not be below 0000000111…")
	}
	if HashBelow("zz"+share[2:], DefaultTarget) {
		t.Error("non-hex input must never be below")
	}
	if HashBelow(DefaultTarget, DefaultTarget) {
		t.Error("equal is not below")
	}
	if len(DefaultTarget) != 64 || DefaultTarget[:9] != "000001111" {
		t.Errorf("default target %q is not Purepool's", DefaultTarget)
	}
}

func TestDifficulty(t *testing.T) {
	d, err := Difficulty(DefaultTarget)
	if err != nil {
		t.Fatal(err)
	}
	// 0x0000011110…0 = 0x1111·2^220, so 2^256/(target+1) = floor(2^36/4369).
	if d != 15_728_880 {
		t.Errorf("Difficulty(default) = %d, want 15,728,880", d)
	}
	for _, want := range []int64{1, 2, 1000, 983_040, 1 << 40} {
		got, err := Difficulty(TargetForDifficulty(want))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("Difficulty(TargetForDifficulty(%d)) = %d", want, got)
		}
	}
	harder, _ := Difficulty("00000000001111" + strings.Repeat("0", 50))
	if harder <= d {
		t.Errorf("a harder target must weigh more: %d <= %d", harder, d)
	}
	if _, err := Difficulty("123"); !errors.Is(err, ErrBadHash) {
		t.Errorf("short target: err = %v", err)
	}
	if got := FormatHash(mustHash(t, "00ff"+strings.Repeat("0", 60))); got != "00ff"+strings.Repeat("0", 60) {
		t.Errorf("FormatHash lost leading zeros: %s", got)
	}
}

func mustHash(t *testing.T, s string) *big.Int {
	t.Helper()
	v, err := ParseHash(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// The spec's §7 test header: a real February 2018 testnet share.
const testHeaderHex = "000000209928ce1b5ba829fde591237d3876df45daa2dd30ec31805b43dd6b972eae9aff3fab6ced6b34254aeb8c7f004cb82178984dbf22ea5c5316ac33ae6ec90ef17db3797b5aa5aa081d89370000"

func TestParseHeader_SpecVector(t *testing.T) {
	raw, err := hex.DecodeString(testHeaderHex)
	if err != nil {
		t.Fatal(err)
	}
	h := ParseHeader(raw)
	if h.Version != 0x20000000 || h.Time != 1518041523 || h.Bits != 0x1d08aaa5 || h.Nonce != 14217 {
		t.Fatalf("header = %+v", h)
	}
	if got := hex.EncodeToString(h.Bytes()); got != testHeaderHex {
		t.Fatalf("round trip = %s", got)
	}
}

// specSolution builds the §7 share as a wallet would send it: the real
// header, followed by a stand-in coinbase (the real one is not in the spec).
func specSolution(t *testing.T) Solution {
	t.Helper()
	coinbase := "01000000010000000000000000000000000000000000000000000000000000000000000000ffffffff0100ffffffff01ca5b0f0a7a0100001976a914" + strings.Repeat("11", 20) + "88ac0000000000"
	return Solution{
		BlockHash:         "4adfaf0c3ad50afecad53ad1e57340e9735bca7d104b2b3565835a346e1c6c96",
		BlockTime:         1518041523,
		PrevBlockTime:     1518041437,
		PrevHeight:        19309,
		BibleHash:         "0000000e5bced1fccc7110dfd386cf461b82852ce4eec5e124ca8f5e5bcc5a11",
		MinerID:           uuid.MustParse("eef5cbcb-f673-4203-a791-f773b177f1df"),
		WorkID:            uuid.MustParse("0b8c1c3e-3f2a-4c55-9a59-6bb0a7d2e9f1"),
		ThreadID:          0,
		ThreadHashCounter: 123456,
		ThreadStart:       1518041400000,
		HashCounter:       2000000,
		TimerStart:        1518041000000,
		TimerEnd:          1518041523000,
		Nonce:             14217,
		BlockHex:          testHeaderHex + "01" + coinbase,
		TransactionHex:    coinbase,
	}
}

func TestParseSolution_RoundTrip(t *testing.T) {
	want := specSolution(t)
	got, err := ParseSolution(want.String(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("ParseSolution(String()) = %+v\nwant %+v", got, want)
	}
	if hps := got.HashesPerSecond(); hps != 2000000/523000*1000 {
		t.Errorf("HashesPerSecond = %d", hps)
	}
}

func TestParseSolution_Malformed(t *testing.T) {
	good := specSolution(t)
	fields := strings.Split(good.String(), ",")
	with := func(i int, v string) string {
		f := append([]string(nil), fields...)
		f[i] = v
		return strings.Join(f, ",")
	}
	tests := map[string]string{
		"empty":                  "",
		"15 fields":              strings.Join(fields[:15], ","),
		"17 fields":              good.String() + ",x",
		"short block hash":       with(0, "abc"),
		"non-hex block hash":     with(0, strings.Repeat("g", 64)),
		"negative time":          with(1, "-5"),
		"zero time":              with(1, "0"),
		"time with spaces":       with(1, " 1518041523"),
		"time overflow":          with(1, "99999999999999999999"),
		"prev height not number": with(3, "abc"),
		"bible hash 63 digits":   with(4, strings.Repeat("0", 63)),
		"miner id not uuid":      with(5, "not-a-uuid"),
		"miner id braces":        with(5, "{"+good.MinerID.String()+"}"),
		"work id empty":          with(6, ""),
		"thread id huge":         with(7, "99999"),
		"nonce too big":          with(13, "4294967296"),
		"nonce not header nonce": with(13, "14218"),
		"time not header time":   with(1, "1518041524"),
		"block hex odd":          with(14, good.BlockHex+"0"),
		"block hex only header":  with(14, testHeaderHex),
		"block hex non-hex":      with(14, "zz"+good.BlockHex[2:]),
		"coinbase empty":         with(15, ""),
		"coinbase not in block":  with(15, "deadbeef"),
		"coinbase non-hex":       with(15, "xyz0"),
	}
	for name, s := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSolution(s, 0)
			if !errors.Is(err, ErrMalformedSolution) {
				t.Fatalf("ParseSolution = %v, want ErrMalformedSolution", err)
			}
		})
	}
	if _, err := ParseSolution(good.String(), len(good.BlockHex)-2); !errors.Is(err, ErrMalformedSolution) {
		t.Errorf("block hex over the limit: err = %v", err)
	}
}

func FuzzParseSolution(f *testing.F) {
	f.Add("")
	f.Add(strings.Repeat(",", 15))
	f.Add("0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15")
	f.Fuzz(func(t *testing.T, s string) {
		sol, err := ParseSolution(s, 1<<20)
		if err != nil {
			return
		}
		again, err := ParseSolution(sol.String(), 1<<20)
		if err != nil || again != sol {
			t.Fatalf("accepted solution does not round-trip: %v", err)
		}
	})
}

func FuzzParseWorkerID(f *testing.F) {
	f.Add("BKNSAuBM1JggcaBgecW2PZ1mogKMCeB5pL/MyMiner1")
	f.Add("//")
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWorkerID(s)
		if err != nil {
			return
		}
		if w.Address == "" || w.Worker == "" || len(w.Worker) > MaxWorkerName || !utf8.ValidString(w.Worker) {
			t.Fatalf("accepted %q as %+v", s, w)
		}
	})
}
