// Package biblepay holds the facts of the BiblePay coin and its pool protocol
// that every part of Purepool shares: networks and their address versions,
// worker ids, the 16-field solution string and hash targets. It does no I/O.
package biblepay

import (
	"errors"
	"fmt"
	"time"

	"github.com/btcsuite/btcd/btcutil/base58"
)

// Coin is one BBP in satoshis.
const Coin int64 = 100_000_000

// Network is a BiblePay chain's parameters (spec §5).
type Network struct {
	Name          string // the wallet's NetworkID header: main, test, regtest
	PubKeyHashVer byte   // P2PKH address version
	ScriptHashVer byte   // P2SH address version
	RPCPort       int
	Maturity      int64 // coinbase maturity in blocks
	BlockSpacing  time.Duration
}

// Networks by the name the wallet sends in NetworkID.
var Networks = map[string]Network{
	"main":    {Name: "main", PubKeyHashVer: 25, ScriptHashVer: 16, RPCPort: 39000, Maturity: 101, BlockSpacing: 7 * time.Minute},
	"test":    {Name: "test", PubKeyHashVer: 140, ScriptHashVer: 19, RPCPort: 39001, Maturity: 101, BlockSpacing: time.Minute},
	"regtest": {Name: "regtest", PubKeyHashVer: 140, ScriptHashVer: 19, RPCPort: 39002, Maturity: 101, BlockSpacing: time.Minute},
}

// LookupNetwork returns the parameters of a network by name.
func LookupNetwork(name string) (Network, bool) {
	n, ok := Networks[name]
	return n, ok
}

// ErrInvalidAddress is wrapped by every address validation failure.
var ErrInvalidAddress = errors.New("invalid address")

// ValidateAddress checks that s is a base58check pay-to-public-key-hash
// address of the network (main starts with B, test with y). Like Purepool,
// pool miners must use P2PKH addresses.
func (n Network) ValidateAddress(s string) error {
	if len(s) < 26 || len(s) > 35 {
		return fmt.Errorf("%w: %d characters", ErrInvalidAddress, len(s))
	}
	payload, ver, err := base58.CheckDecode(s)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidAddress, err)
	}
	if len(payload) != 20 {
		return fmt.Errorf("%w: payload of %d bytes", ErrInvalidAddress, len(payload))
	}
	if ver != n.PubKeyHashVer {
		return fmt.Errorf("%w: version %d is not a %s address", ErrInvalidAddress, ver, n.Name)
	}
	return nil
}

// Address encodes a 20-byte public key hash as an address of the network.
func (n Network) Address(pubKeyHash [20]byte) string {
	return base58.CheckEncode(pubKeyHash[:], n.PubKeyHashVer)
}
