package biblepay

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/base58"
)

// PayToPubKeyHashScript is the standard P2PKH script:
// OP_DUP OP_HASH160 <20 bytes> OP_EQUALVERIFY OP_CHECKSIG.
func PayToPubKeyHashScript(pubKeyHash [20]byte) []byte {
	s := make([]byte, 0, 25)
	s = append(s, 0x76, 0xa9, 0x14)
	s = append(s, pubKeyHash[:]...)
	return append(s, 0x88, 0xac)
}

// ScriptForAddress returns the P2PKH script paying a valid address of the
// network.
func (n Network) ScriptForAddress(addr string) ([]byte, error) {
	if err := n.ValidateAddress(addr); err != nil {
		return nil, err
	}
	payload, _, _ := base58.CheckDecode(addr)
	var h [20]byte
	copy(h[:], payload)
	return PayToPubKeyHashScript(h), nil
}

// AddressFromScript returns the address a P2PKH or P2SH script pays, as the
// node's `recipient` does; ok is false for any other script.
func (n Network) AddressFromScript(script []byte) (addr string, ok bool) {
	switch {
	case len(script) == 25 && script[0] == 0x76 && script[1] == 0xa9 && script[2] == 0x14 && script[23] == 0x88 && script[24] == 0xac:
		return base58.CheckEncode(script[3:23], n.PubKeyHashVer), true
	case len(script) == 23 && script[0] == 0xa9 && script[1] == 0x14 && script[22] == 0x87:
		return base58.CheckEncode(script[2:22], n.ScriptHashVer), true
	}
	return "", false
}

// CoinbaseScript is a coinbase scriptSig: the BIP34 height push followed by
// an 8-byte extra nonce push, which miners change to get a new merkle root.
func CoinbaseScript(height int64, extraNonce uint64) []byte {
	var h []byte
	for v := height; v > 0; v >>= 8 {
		h = append(h, byte(v))
	}
	if len(h) > 0 && h[len(h)-1]&0x80 != 0 {
		h = append(h, 0)
	}
	var b bytes.Buffer
	if len(h) == 0 {
		b.WriteByte(0x00) // OP_0
	} else {
		b.WriteByte(byte(len(h)))
		b.Write(h)
	}
	var en [8]byte
	binary.LittleEndian.PutUint64(en[:], extraNonce)
	b.WriteByte(8)
	b.Write(en[:])
	return b.Bytes()
}

// CoinbaseHeight reads the BIP34 height from a coinbase scriptSig.
func CoinbaseHeight(scriptSig []byte) (int64, error) {
	if len(scriptSig) == 0 {
		return 0, fmt.Errorf("%w: empty coinbase script", ErrMalformedTx)
	}
	if scriptSig[0] == 0x00 {
		return 0, nil
	}
	n := int(scriptSig[0])
	if n > 8 || len(scriptSig) < 1+n {
		return 0, fmt.Errorf("%w: coinbase script has no height push", ErrMalformedTx)
	}
	var v int64
	for i := n; i >= 1; i-- {
		v = v<<8 | int64(scriptSig[i])
	}
	return v, nil
}

// PoolCoinbaseMessage is the vout[0] message of a pool-mined block's
// coinbase as the 2018 wallet writes it (spec §1.6), without the PODC
// signature XML: `<VER>ver</VER><MINERGUID>guid</MINERGUID>`. An empty guid
// gives a solo block's message.
func PoolCoinbaseMessage(version, minerGUID string) string {
	m := "<VER>" + version + "</VER>"
	if minerGUID != "" {
		m += "<MINERGUID>" + minerGUID + "</MINERGUID>"
	}
	return m
}
