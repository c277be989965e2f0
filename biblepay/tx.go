package biblepay

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxTxOutMessage bounds a CTxOut's sTxOutMessage (spec §5).
const MaxTxOutMessage = 3000

// ErrMalformedTx is wrapped by every transaction or block decode failure.
var ErrMalformedTx = errors.New("malformed transaction")

// OutPoint names an output of an earlier transaction. Hash is in internal
// byte order; a coinbase input has a zero hash and index 0xffffffff.
type OutPoint struct {
	Hash  [32]byte
	Index uint32
}

// TxIn is a transaction input.
type TxIn struct {
	PrevOut   OutPoint
	ScriptSig []byte
	Sequence  uint32
}

// TxOut is a BiblePay transaction output: unlike Bitcoin and Dash it carries
// a message string after the script (spec §5).
type TxOut struct {
	Value        int64 // satoshis
	ScriptPubKey []byte
	Message      string
}

// Tx is a transaction in BiblePay's wire format.
type Tx struct {
	Version  int32
	Inputs   []TxIn
	Outputs  []TxOut
	LockTime uint32
}

// IsCoinbase reports whether the transaction is a coinbase.
func (tx Tx) IsCoinbase() bool {
	return len(tx.Inputs) == 1 && tx.Inputs[0].PrevOut.Hash == [32]byte{} && tx.Inputs[0].PrevOut.Index == 0xffffffff
}

// Bytes serializes the transaction.
func (tx Tx) Bytes() []byte {
	var b bytes.Buffer
	tx.write(&b)
	return b.Bytes()
}

func (tx Tx) write(b *bytes.Buffer) {
	var u [8]byte
	binary.LittleEndian.PutUint32(u[:4], uint32(tx.Version))
	b.Write(u[:4])
	writeVarInt(b, uint64(len(tx.Inputs)))
	for _, in := range tx.Inputs {
		b.Write(in.PrevOut.Hash[:])
		binary.LittleEndian.PutUint32(u[:4], in.PrevOut.Index)
		b.Write(u[:4])
		writeVarBytes(b, in.ScriptSig)
		binary.LittleEndian.PutUint32(u[:4], in.Sequence)
		b.Write(u[:4])
	}
	writeVarInt(b, uint64(len(tx.Outputs)))
	for _, out := range tx.Outputs {
		binary.LittleEndian.PutUint64(u[:], uint64(out.Value))
		b.Write(u[:])
		writeVarBytes(b, out.ScriptPubKey)
		writeVarBytes(b, []byte(out.Message))
	}
	binary.LittleEndian.PutUint32(u[:4], tx.LockTime)
	b.Write(u[:4])
}

// Hash is the transaction id in internal byte order (SHA-256d of the
// serialization, as in Bitcoin).
func (tx Tx) Hash() [32]byte { return DoubleSHA256(tx.Bytes()) }

// TxID is the transaction id as 64 hex digits in display order.
func (tx Tx) TxID() string { return HashString(tx.Hash()) }

// Message concatenates the messages of all outputs, as the node's
// `blockmessage` does.
func (tx Tx) Message() string {
	var s strings.Builder
	for _, o := range tx.Outputs {
		s.WriteString(o.Message)
	}
	return s.String()
}

// ParseTx decodes one transaction that must fill b exactly.
func ParseTx(b []byte) (Tx, error) {
	r := bytes.NewReader(b)
	tx, err := readTx(r)
	if err != nil {
		return Tx{}, err
	}
	if r.Len() != 0 {
		return Tx{}, fmt.Errorf("%w: %d trailing bytes", ErrMalformedTx, r.Len())
	}
	return tx, nil
}

// ParseTxHex decodes a hex transaction.
func ParseTxHex(s string) (Tx, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return Tx{}, fmt.Errorf("%w: %v", ErrMalformedTx, err)
	}
	return ParseTx(b)
}

// maxItems bounds counts read from untrusted input so a few bytes cannot
// make the decoder allocate gigabytes.
const maxItems = 100_000

func readTx(r *bytes.Reader) (Tx, error) {
	var tx Tx
	var u [8]byte
	fail := func(what string, err error) (Tx, error) {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return Tx{}, fmt.Errorf("%w: %s: %v", ErrMalformedTx, what, err)
	}
	if _, err := io.ReadFull(r, u[:4]); err != nil {
		return fail("version", err)
	}
	tx.Version = int32(binary.LittleEndian.Uint32(u[:4]))
	n, err := readVarInt(r)
	if err != nil {
		return fail("input count", err)
	}
	if n > maxItems || n > uint64(r.Len()) {
		return fail("input count", fmt.Errorf("%d inputs", n))
	}
	tx.Inputs = make([]TxIn, n)
	for i := range tx.Inputs {
		in := &tx.Inputs[i]
		if _, err := io.ReadFull(r, in.PrevOut.Hash[:]); err != nil {
			return fail("prevout", err)
		}
		if _, err := io.ReadFull(r, u[:4]); err != nil {
			return fail("prevout index", err)
		}
		in.PrevOut.Index = binary.LittleEndian.Uint32(u[:4])
		if in.ScriptSig, err = readVarBytes(r, 10_000); err != nil {
			return fail("scriptSig", err)
		}
		if _, err := io.ReadFull(r, u[:4]); err != nil {
			return fail("sequence", err)
		}
		in.Sequence = binary.LittleEndian.Uint32(u[:4])
	}
	if n, err = readVarInt(r); err != nil {
		return fail("output count", err)
	}
	if n > maxItems || n > uint64(r.Len()) {
		return fail("output count", fmt.Errorf("%d outputs", n))
	}
	tx.Outputs = make([]TxOut, n)
	for i := range tx.Outputs {
		out := &tx.Outputs[i]
		if _, err := io.ReadFull(r, u[:]); err != nil {
			return fail("value", err)
		}
		out.Value = int64(binary.LittleEndian.Uint64(u[:]))
		if out.ScriptPubKey, err = readVarBytes(r, 10_000); err != nil {
			return fail("scriptPubKey", err)
		}
		msg, err := readVarBytes(r, MaxTxOutMessage)
		if err != nil {
			return fail("message", err)
		}
		out.Message = string(msg)
	}
	if _, err := io.ReadFull(r, u[:4]); err != nil {
		return fail("locktime", err)
	}
	tx.LockTime = binary.LittleEndian.Uint32(u[:4])
	return tx, nil
}

// Block is a header and its transactions, the first being the coinbase.
type Block struct {
	Header Header
	Txs    []Tx
}

// Bytes serializes the block.
func (bl Block) Bytes() []byte {
	var b bytes.Buffer
	b.Write(bl.Header.Bytes())
	writeVarInt(&b, uint64(len(bl.Txs)))
	for _, tx := range bl.Txs {
		tx.write(&b)
	}
	return b.Bytes()
}

// ParseBlock decodes a serialized block: a header, at least one transaction
// (the first a coinbase) and no trailing bytes.
func ParseBlock(b []byte) (Block, error) {
	if len(b) < HeaderSize+1 {
		return Block{}, fmt.Errorf("%w: %d bytes is no block", ErrMalformedTx, len(b))
	}
	bl := Block{Header: ParseHeader(b[:HeaderSize])}
	r := bytes.NewReader(b[HeaderSize:])
	n, err := readVarInt(r)
	if err != nil || n == 0 || n > uint64(r.Len()) {
		return Block{}, fmt.Errorf("%w: transaction count", ErrMalformedTx)
	}
	bl.Txs = make([]Tx, n)
	for i := range bl.Txs {
		if bl.Txs[i], err = readTx(r); err != nil {
			return Block{}, fmt.Errorf("transaction %d: %w", i, err)
		}
	}
	if r.Len() != 0 {
		return Block{}, fmt.Errorf("%w: %d trailing bytes after the block", ErrMalformedTx, r.Len())
	}
	if !bl.Txs[0].IsCoinbase() {
		return Block{}, fmt.Errorf("%w: first transaction is not a coinbase", ErrMalformedTx)
	}
	return bl, nil
}

// ParseBlockHex decodes a hex block.
func ParseBlockHex(s string) (Block, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return Block{}, fmt.Errorf("%w: %v", ErrMalformedTx, err)
	}
	return ParseBlock(b)
}

// MerkleRoot computes the Bitcoin merkle root of the transactions.
func MerkleRoot(txs []Tx) [32]byte {
	if len(txs) == 0 {
		return [32]byte{}
	}
	level := make([][32]byte, len(txs))
	for i, tx := range txs {
		level[i] = tx.Hash()
	}
	for len(level) > 1 {
		if len(level)%2 == 1 {
			level = append(level, level[len(level)-1])
		}
		next := make([][32]byte, len(level)/2)
		var pair [64]byte
		for i := range next {
			copy(pair[:32], level[2*i][:])
			copy(pair[32:], level[2*i+1][:])
			next[i] = DoubleSHA256(pair[:])
		}
		level = next
	}
	return level[0]
}

// DoubleSHA256 is SHA-256 applied twice.
func DoubleSHA256(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}

// HashString writes an internal-order hash as 64 hex digits in display
// (reversed) order.
func HashString(h [32]byte) string {
	var r [32]byte
	for i := range h {
		r[i] = h[31-i]
	}
	return hex.EncodeToString(r[:])
}

// ParseHashString reads 64 display-order hex digits into internal order.
func ParseHashString(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("%w: %d characters", ErrBadHash, len(s))
	}
	b, err := hex.DecodeString(s)
	if err != nil {
		return h, fmt.Errorf("%w: %v", ErrBadHash, err)
	}
	for i := range h {
		h[i] = b[31-i]
	}
	return h, nil
}

func writeVarInt(b *bytes.Buffer, v uint64) {
	var u [9]byte
	switch {
	case v < 0xfd:
		b.WriteByte(byte(v))
	case v <= 0xffff:
		u[0] = 0xfd
		binary.LittleEndian.PutUint16(u[1:], uint16(v))
		b.Write(u[:3])
	case v <= 0xffffffff:
		u[0] = 0xfe
		binary.LittleEndian.PutUint32(u[1:], uint32(v))
		b.Write(u[:5])
	default:
		u[0] = 0xff
		binary.LittleEndian.PutUint64(u[1:], v)
		b.Write(u[:9])
	}
}

func writeVarBytes(b *bytes.Buffer, p []byte) {
	writeVarInt(b, uint64(len(p)))
	b.Write(p)
}

func readVarInt(r *bytes.Reader) (uint64, error) {
	c, err := r.ReadByte()
	if err != nil {
		return 0, err
	}
	var u [8]byte
	switch c {
	case 0xfd:
		if _, err := io.ReadFull(r, u[:2]); err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint16(u[:2])), nil
	case 0xfe:
		if _, err := io.ReadFull(r, u[:4]); err != nil {
			return 0, err
		}
		return uint64(binary.LittleEndian.Uint32(u[:4])), nil
	case 0xff:
		if _, err := io.ReadFull(r, u[:]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(u[:]), nil
	}
	return uint64(c), nil
}

func readVarBytes(r *bytes.Reader, max int) ([]byte, error) {
	n, err := readVarInt(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(max) || n > uint64(r.Len()) {
		return nil, fmt.Errorf("length %d exceeds %d or the data left", n, max)
	}
	p := make([]byte, n)
	_, err = io.ReadFull(r, p)
	return p, err
}
