// Command fairenv prints the values outage.sh needs and cannot compute in
// bash: a deterministic miner address of a network and the share target of
// a difficulty.
//
//	fairenv address NETWORK I   # address of simulated miner I (0, 1, …)
//	fairenv target DIFFICULTY   # 64-hex share target
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/purepool/purepool/biblepay"
)

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	switch os.Args[1] {
	case "address":
		if len(os.Args) != 4 {
			usage()
		}
		net, ok := biblepay.LookupNetwork(os.Args[2])
		i, err := strconv.Atoi(os.Args[3])
		if !ok || err != nil || i < 0 || i > 0xffff {
			usage()
		}
		// Its own prefix, apart from the demo's and the load tests' miners.
		fmt.Println(net.Address([20]byte{0xfa, 0x12, byte(i >> 8), byte(i)}))
	case "target":
		d, err := strconv.ParseInt(os.Args[2], 10, 64)
		if err != nil || d < 1 {
			usage()
		}
		fmt.Println(biblepay.TargetForDifficulty(d))
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: fairenv address NETWORK I | fairenv target DIFFICULTY")
	os.Exit(2)
}
