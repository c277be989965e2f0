package simnode

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

// Signatures in the simulation. The wallet has no real keys, so a
// signature is a deterministic stand-in with a real signature's shape: the
// scriptSig of a P2PKH input is <71-byte "DER" signature + hash type>
// <33-byte public key>, the public key derived from the address's hash and
// the signature from the pubkey and a signature hash that commits to the
// transaction as SIGHASH_ALL / NONE / SINGLE / ANYONECANPAY do. Anyone can
// compute it, so signing authority is enforced where bitcoind enforces it:
// signrawtransaction signs only with the wallet's keys. sendrawtransaction
// and the mempool verify it, so a transaction changed after signing, or an
// unsigned one, is refused as bitcoind refuses it.

const (
	sigHashAll          byte = 1
	sigHashNone         byte = 2
	sigHashSingle       byte = 3
	sigHashAnyoneCanPay byte = 0x80
)

var sigHashNames = map[string]byte{
	"ALL": sigHashAll, "NONE": sigHashNone, "SINGLE": sigHashSingle,
	"ALL|ANYONECANPAY": sigHashAll | sigHashAnyoneCanPay, "NONE|ANYONECANPAY": sigHashNone | sigHashAnyoneCanPay,
	"SINGLE|ANYONECANPAY": sigHashSingle | sigHashAnyoneCanPay,
}

func sigHashName(t byte) (string, bool) {
	for k, v := range sigHashNames {
		if v == t {
			return k, true
		}
	}
	return "", false
}

// Script errors, bitcoind's ScriptErrorString.
const (
	scriptErrStack       = "Operation not valid with the current stack size"
	scriptErrEvalFalse   = "Script evaluated without error but finished with a false/empty top stack element"
	scriptErrEqualVerify = "Script failed an OP_EQUALVERIFY operation"
	scriptErrSigDER      = "Non-canonical DER signature"
)

// p2pkh returns the key hash a P2PKH script pays.
func p2pkh(script []byte) ([]byte, bool) {
	if len(script) == 25 && script[0] == 0x76 && script[1] == 0xa9 && script[2] == 0x14 && script[23] == 0x88 && script[24] == 0xac {
		return script[3:23], true
	}
	return nil, false
}

func simPubKey(keyHash []byte) []byte {
	s := sha256.Sum256(append([]byte("simnode pubkey "), keyHash...))
	return append([]byte{0x02}, s[:]...)
}

// simSigHash commits to what a signature of input i with hashType covers.
func simSigHash(tx biblepay.Tx, i int, prevScript []byte, hashType byte) [32]byte {
	base := hashType & 0x1f
	t := biblepay.Tx{Version: tx.Version, LockTime: tx.LockTime}
	for j, in := range tx.Inputs {
		if hashType&sigHashAnyoneCanPay != 0 && j != i {
			continue
		}
		in.ScriptSig = nil
		if j == i {
			in.ScriptSig = prevScript
		} else if base == sigHashNone || base == sigHashSingle {
			in.Sequence = 0
		}
		t.Inputs = append(t.Inputs, in)
	}
	switch base {
	case sigHashNone:
	case sigHashSingle:
		for j := 0; j <= i && j < len(tx.Outputs); j++ {
			if j < i {
				t.Outputs = append(t.Outputs, biblepay.TxOut{Value: -1})
			} else {
				t.Outputs = append(t.Outputs, tx.Outputs[j])
			}
		}
	default:
		t.Outputs = tx.Outputs
	}
	b := append([]byte("simnode sighash "), t.Bytes()...)
	b = append(b, byte(i), byte(i>>8), byte(i>>16), byte(i>>24), hashType)
	return biblepay.DoubleSHA256(b)
}

// simSignature is the 70-byte "DER" body of a signature.
func simSignature(pub []byte, h [32]byte) []byte {
	r := sha256.Sum256(append(append([]byte("r"), pub...), h[:]...))
	s := sha256.Sum256(append(append([]byte("s"), pub...), h[:]...))
	r[0] &= 0x7f // positive, minimally encoded as DER wants
	s[0] &= 0x3f // low S
	r[0] |= 0x01
	s[0] |= 0x01
	sig := []byte{0x30, 0x44, 0x02, 0x20}
	sig = append(sig, r[:]...)
	sig = append(sig, 0x02, 0x20)
	return append(sig, s[:]...)
}

// simSign returns the scriptSig signing input i, which spends prevScript.
func simSign(tx biblepay.Tx, i int, prevScript []byte, hashType byte) []byte {
	kh, ok := p2pkh(prevScript)
	if !ok {
		return nil
	}
	pub := simPubKey(kh)
	sig := append(simSignature(pub, simSigHash(tx, i, prevScript, hashType)), hashType)
	s := append([]byte{byte(len(sig))}, sig...)
	s = append(s, byte(len(pub)))
	return append(s, pub...)
}

// verifyInput checks input i's scriptSig against the output it spends;
// it returns "" or bitcoind's script error.
func verifyInput(tx biblepay.Tx, i int, prevScript []byte) string {
	kh, ok := p2pkh(prevScript)
	if !ok {
		if len(tx.Inputs[i].ScriptSig) == 0 {
			return scriptErrStack
		}
		return "" // not a script the simulation can evaluate
	}
	items, ok := biblepay.ParsePushes(tx.Inputs[i].ScriptSig)
	if !ok || len(items) < 2 {
		return scriptErrStack
	}
	sig, pub := items[len(items)-2], items[len(items)-1]
	if !bytes.Equal(pub, simPubKey(kh)) {
		return scriptErrEqualVerify
	}
	if len(sig) == 0 {
		return scriptErrEvalFalse
	}
	ht := sig[len(sig)-1]
	if _, known := sigHashName(ht); !known {
		return scriptErrSigDER
	}
	if !bytes.Equal(sig[:len(sig)-1], simSignature(pub, simSigHash(tx, i, prevScript, ht))) {
		return scriptErrEvalFalse
	}
	return ""
}

// prevScriptOf finds the script of the output an input spends among the
// wallet's transactions, then the chain and mempool.
func (n *Node) prevScriptOf(op biblepay.OutPoint, view map[biblepay.OutPoint]coin) ([]byte, bool) {
	if src, ok := n.wallet.txs[biblepay.HashString(op.Hash)]; ok && int(op.Index) < len(src.Tx.Outputs) {
		return src.Tx.Outputs[op.Index].ScriptPubKey, true
	}
	if c, ok := view[op]; ok {
		return c.Out.ScriptPubKey, true
	}
	return nil, false
}

// signWalletInputs signs every input of a wallet send (createSend).
func (n *Node) signWalletInputs(tx *biblepay.Tx) {
	for i, in := range tx.Inputs {
		if script, ok := n.prevScriptOf(in.PrevOut, nil); ok {
			tx.Inputs[i].ScriptSig = simSign(*tx, i, script, sigHashAll)
		}
	}
}

// scriptNumString is how ScriptToAsmStr writes a push of at most 4 bytes:
// a little-endian sign-magnitude number.
func scriptNumString(b []byte) string {
	if len(b) == 0 {
		return "0"
	}
	var v int64
	for i, x := range b {
		v |= int64(x) << (8 * i)
	}
	if b[len(b)-1]&0x80 != 0 {
		v &^= int64(0x80) << (8 * (len(b) - 1))
		v = -v
	}
	return fmt.Sprint(v)
}

// pushesAsm writes push-only script items as ScriptToAsmStr does;
// sighash decodes a signature's trailing hash type ("[ALL]") as scriptSig
// asm does.
func pushesAsm(items [][]byte, sighash bool) string {
	parts := make([]string, 0, len(items))
	for _, it := range items {
		switch {
		case len(it) <= 4:
			parts = append(parts, scriptNumString(it))
		case sighash && len(it) > 8 && it[0] == 0x30:
			if name, ok := sigHashName(it[len(it)-1]); ok {
				parts = append(parts, hex.EncodeToString(it[:len(it)-1])+"["+name+"]")
				continue
			}
			parts = append(parts, hex.EncodeToString(it))
		default:
			parts = append(parts, hex.EncodeToString(it))
		}
	}
	return strings.Join(parts, " ")
}

// scriptPubKeyJSON is ScriptPubKeyToJSON(script, out, fIncludeHex=true).
func (n *Node) scriptPubKeyJSON(script []byte) map[string]any {
	spk := map[string]any{"asm": "", "hex": hex.EncodeToString(script), "type": "nonstandard"}
	if a, ok := n.cfg.Network.AddressFromScript(script); ok {
		spk["reqSigs"] = 1
		spk["addresses"] = []string{a}
		if len(script) == 25 {
			spk["type"] = "pubkeyhash"
			spk["asm"] = "OP_DUP OP_HASH160 " + hex.EncodeToString(script[3:23]) + " OP_EQUALVERIFY OP_CHECKSIG"
		} else {
			spk["type"] = "scripthash"
			spk["asm"] = "OP_HASH160 " + hex.EncodeToString(script[2:22]) + " OP_EQUAL"
		}
		return spk
	}
	if biblepay.IsUnspendable(script) {
		asm := "OP_RETURN"
		if items, ok := biblepay.ParsePushes(script[1:]); ok {
			spk["type"] = "nulldata"
			if len(items) > 0 {
				asm += " " + pushesAsm(items, false)
			}
		} else {
			asm += " [error]"
		}
		spk["asm"] = asm
	}
	return spk
}

// scriptSigJSON is a vin's scriptSig {asm, hex}.
func scriptSigJSON(s []byte) map[string]any {
	asm := "[error]"
	if items, ok := biblepay.ParsePushes(s); ok {
		asm = pushesAsm(items, true)
	}
	return map[string]any{"asm": asm, "hex": hex.EncodeToString(s)}
}
