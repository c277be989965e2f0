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

// OpReturn is the opcode that makes an output provably unspendable.
const OpReturn = 0x6a

// NullDataScript is the script of a data output, `OP_RETURN <data>`, as
// createrawtransaction's "data" key builds it (CScript() << OP_RETURN <<
// data): one minimal push of the bytes (an empty data pushes OP_0).
func NullDataScript(data []byte) []byte {
	s := []byte{OpReturn}
	switch n := len(data); {
	case n < 0x4c:
		s = append(s, byte(n))
	case n <= 0xff:
		s = append(s, 0x4c, byte(n))
	case n <= 0xffff:
		s = append(s, 0x4d, byte(n), byte(n>>8))
	default:
		s = append(s, 0x4e, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	}
	return append(s, data...)
}

// IsUnspendable reports whether a script starts with OP_RETURN: its output
// never enters the UTXO set.
func IsUnspendable(script []byte) bool { return len(script) > 0 && script[0] == OpReturn }

// NullData returns the data of an `OP_RETURN <push>` script (a data output);
// ok is false for any other script. A bare OP_RETURN carries empty data.
func NullData(script []byte) (data []byte, ok bool) {
	if !IsUnspendable(script) {
		return nil, false
	}
	pushes, ok := ParsePushes(script[1:])
	if !ok || len(pushes) > 1 {
		return nil, false
	}
	if len(pushes) == 0 {
		return []byte{}, true
	}
	return pushes[0], true
}

// ParsePushes splits a push-only script into its pushed items; ok is false
// if the script holds any other opcode or a truncated push. OP_0 pushes an
// empty item; OP_1NEGATE and OP_1..OP_16 push their number.
func ParsePushes(script []byte) (items [][]byte, ok bool) {
	for i := 0; i < len(script); {
		op := script[i]
		i++
		var n int
		switch {
		case op == 0x00:
			items = append(items, []byte{})
			continue
		case op < 0x4c:
			n = int(op)
		case op == 0x4c:
			if i+1 > len(script) {
				return nil, false
			}
			n = int(script[i])
			i++
		case op == 0x4d:
			if i+2 > len(script) {
				return nil, false
			}
			n = int(script[i]) | int(script[i+1])<<8
			i += 2
		case op == 0x4e:
			if i+4 > len(script) {
				return nil, false
			}
			n = int(binary.LittleEndian.Uint32(script[i : i+4]))
			i += 4
		case op == 0x4f:
			items = append(items, []byte{0x81})
			continue
		case op >= 0x51 && op <= 0x60:
			items = append(items, []byte{op - 0x50})
			continue
		default:
			return nil, false
		}
		if n < 0 || i+n > len(script) {
			return nil, false
		}
		items = append(items, script[i:i+n])
		i += n
	}
	return items, true
}
