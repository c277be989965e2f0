package biblepay

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestSpecTestVectorHeader(t *testing.T) {
	// Spec §7: the Feb 2018 testnet share's header.
	b, _ := hex.DecodeString("000000209928ce1b5ba829fde591237d3876df45daa2dd30ec31805b43dd6b972eae9aff3fab6ced6b34254aeb8c7f004cb82178984dbf22ea5c5316ac33ae6ec90ef17db3797b5aa5aa081d89370000")
	h := ParseHeader(b)
	if h.Version != 0x20000000 || h.Time != 1518041523 || h.Bits != 0x1d08aaa5 || h.Nonce != 14217 {
		t.Fatalf("header = %+v", h)
	}
	if !bytes.Equal(h.Bytes(), b) {
		t.Fatal("header does not round-trip")
	}
	// The stand-in block hash is SHA-256d, so it is NOT the X11 value of
	// the spec (4adfaf0c…); this documents the difference.
	if HashString(SimBlockHash(b)) == "4adfaf0c3ad50afecad53ad1e57340e9735bca7d104b2b3565835a346e1c6c96" {
		t.Fatal("the stand-in claims to be X11")
	}
}

func sampleBlock() Block {
	cb := Tx{Version: 1,
		Inputs:  []TxIn{{PrevOut: OutPoint{Index: 0xffffffff}, ScriptSig: CoinbaseScript(19310, 42), Sequence: 0xffffffff}},
		Outputs: []TxOut{{Value: 1623585745354, ScriptPubKey: PayToPubKeyHashScript([20]byte{1}), Message: PoolCoinbaseMessage("1.0.8.6", "eef5cbcb-f673-4203-a791-f773b177f1df")}},
	}
	spend := Tx{Version: 1,
		Inputs: []TxIn{{PrevOut: OutPoint{Hash: [32]byte{9}, Index: 1}, ScriptSig: []byte{1, 2, 3}, Sequence: 0xffffffff}},
		Outputs: []TxOut{
			{Value: 5, ScriptPubKey: PayToPubKeyHashScript([20]byte{2})},
			{Value: 6, ScriptPubKey: []byte{0xa9, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x87}, Message: string(bytes.Repeat([]byte{'m'}, 300))},
		},
		LockTime: 7,
	}
	txs := []Tx{cb, spend}
	return Block{Header: Header{Version: 0x20000000, MerkleRoot: MerkleRoot(txs), Time: 1518041523, Bits: 0x1d08aaa5, Nonce: 14217}, Txs: txs}
}

func TestBlockRoundTripAndTxOutMessage(t *testing.T) {
	bl := sampleBlock()
	raw := bl.Bytes()
	got, err := ParseBlock(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), raw) || got.Txs[1].Outputs[1].Message != bl.Txs[1].Outputs[1].Message || got.Txs[1].LockTime != 7 {
		t.Fatal("block does not round-trip")
	}
	// The CTxOut message sits after the script: 8 value + 1+25 script + 1+len message.
	cb := bl.Txs[0].Bytes()
	msg := bl.Txs[0].Outputs[0].Message
	if !bytes.Contains(cb, append([]byte{byte(len(msg))}, msg...)) {
		t.Fatal("coinbase message is not a var-string")
	}
	if h, err := CoinbaseHeight(got.Txs[0].Inputs[0].ScriptSig); err != nil || h != 19310 {
		t.Fatalf("coinbase height %d, %v", h, err)
	}
	if MerkleRoot(got.Txs) != got.Header.MerkleRoot {
		t.Fatal("merkle root")
	}
	for _, bad := range [][]byte{raw[:len(raw)-1], append(append([]byte{}, raw...), 0), raw[:HeaderSize]} {
		if _, err := ParseBlock(bad); !errors.Is(err, ErrMalformedTx) {
			t.Errorf("bad block accepted: %v", err)
		}
	}
	// A huge count in a few bytes must not allocate.
	evil := append(append([]byte{}, raw[:HeaderSize]...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f)
	if _, err := ParseBlock(evil); err == nil {
		t.Error("absurd transaction count accepted")
	}
}

func TestAddressScripts(t *testing.T) {
	main := Networks["main"]
	for _, a := range []string{"B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", "BLzS3xeaoiXUchbBofi7dzNqwrGyUeUdC6"} {
		s, err := main.ScriptForAddress(a)
		if err != nil {
			t.Fatal(err)
		}
		if back, ok := main.AddressFromScript(s); !ok || back != a {
			t.Errorf("%s → %x → %s", a, s, back)
		}
	}
	if _, ok := main.AddressFromScript([]byte{0x6a}); ok {
		t.Error("OP_RETURN has an address")
	}
}

func TestExtractXML(t *testing.T) {
	for _, tc := range []struct{ data, open, close, want string }{
		{"<RESPONSE> <ADDRESS>a</ADDRESS></RESPONSE>", "<RESPONSE>", "</RESPONSE>", " <ADDRESS>a</ADDRESS>"},
		{"<A>1</A><A>2</A>", "<A>", "</A>", "1"},
		{"</A><A>x</A>", "<A>", "</A>", "x"},
		{"<A>unterminated", "<A>", "</A>", ""},
		{"nothing", "<A>", "</A>", ""},
		{"<error>x</error>", "<ERROR>", "</ERROR>", ""},
	} {
		if got := ExtractXML(tc.data, tc.open, tc.close); got != tc.want {
			t.Errorf("ExtractXML(%q) = %q, want %q", tc.data, got, tc.want)
		}
	}
}

func TestMaxNonceAndCompact(t *testing.T) {
	for _, tc := range []struct{ elapsed, want int64 }{{-5, 512}, {0, 512}, {2, 512}, {3, 768}, {1800, 460800}, {1801, 999999999}} {
		if got := MaxNonce(tc.elapsed); got != tc.want {
			t.Errorf("MaxNonce(%d) = %d, want %d", tc.elapsed, got, tc.want)
		}
	}
	if CheckNonce(513, 100, 100) || !CheckNonce(512, 100, 100) {
		t.Error("CheckNonce")
	}
	want, _ := new(big.Int).SetString("08aaa5"+strings.Repeat("0", 52), 16)
	if got := CompactToTarget(0x1d08aaa5); got.Cmp(want) != 0 {
		t.Errorf("CompactToTarget = %x", got)
	}
	if got := TargetToCompact(want); got != 0x1d08aaa5 {
		t.Errorf("TargetToCompact = %x", got)
	}
}
