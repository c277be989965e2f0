package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/simnode"
)

func init() {
	register("simnode", "run a simulated biblepayd (JSON-RPC) for development and tests", runSimnode)
}

func runSimnode(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simnode", stderr)
	network := fs.String("network", "test", "network: main, test or regtest")
	listen := fs.String("listen", "", "RPC listen address (default 127.0.0.1:<the network's RPC port>)")
	user := fs.String("rpcuser", "purepool", "RPC user")
	password := fs.String("rpcpassword", "purepool", "RPC password")
	blockTime := fs.Duration("blocktime", 0, "interval of network blocks (default the network's spacing; 0s with -manual)")
	manual := fs.Bool("manual", false, "mine no blocks by time, only on sim_generate and submitblock")
	maturity := fs.Int64("maturity", 0, "coinbase maturity in confirmations (default the network's, 101)")
	reward := fs.Int64("reward", simnode.DefaultBlockReward, "vout[0] of every block, satoshis")
	hashRate := fs.Float64("hashrate", 1000, "network hash rate (hashes/s); sets the block target")
	state := fs.String("state", "", "state file (loaded at start, rewritten on change)")
	seed := fs.Int64("seed", 1, "seed of the wallet's and network's addresses")
	wallet := fs.String("walletaddresses", "", "comma-separated extra addresses the wallet owns")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	net, ok := biblepay.LookupNetwork(*network)
	if !ok {
		return usageError{fmt.Errorf("unknown network %q", *network)}
	}
	if *listen == "" {
		*listen = "127.0.0.1:" + strconv.Itoa(net.RPCPort)
	}
	bt := *blockTime
	if bt == 0 && !*manual {
		bt = net.BlockSpacing
	}
	if *manual {
		bt = 0
	}
	var extra []string
	for _, a := range strings.Split(*wallet, ",") {
		if a = strings.TrimSpace(a); a != "" {
			extra = append(extra, a)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := simnode.Start(simnode.Config{
		Network: net, User: *user, Password: *password, BlockTime: bt, Maturity: *maturity,
		BlockReward: *reward, NetworkHashRate: *hashRate, StateFile: *state, Seed: *seed,
		WalletAddresses: extra, Logger: log,
	}, *listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simnode: %s network, RPC at %s, wallet (pool) address %s, height %d, block time %s\n",
		net.Name, srv.URL, srv.Node.WalletAddress(), srv.Node.Height(), time.Duration(bt))
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return err
	}
	return ctx.Err()
}
