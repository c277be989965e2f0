package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
)

func init() {
	register("simminer", "run simulated wallet miners against a pool (also a load generator)", runSimminer)
}

func runSimminer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("simminer", stderr)
	pool := fs.String("pool", "http://127.0.0.1:8080", "pool URL (http://host[:poolport] or https://host[:port])")
	worker := fs.String("worker", "", "workerid: address[/worker] (required)")
	network := fs.String("network", "test", "network: main, test or regtest")
	node := fs.String("node", "", "node RPC URL for block templates (default 127.0.0.1:<the network's RPC port>)")
	user := fs.String("rpcuser", "purepool", "node RPC user")
	password := fs.String("rpcpassword", "purepool", "node RPC password")
	threads := fs.Int("threads", 1, "mining threads")
	hashRate := fs.Float64("hashrate", 0, "hashes/s per thread (0: as fast as the CPU allows)")
	paced := fs.Bool("paced", true, "the wallet's timing (one share per thread per -shareinterval); false for load")
	shareEvery := fs.Duration("shareinterval", 2*time.Minute, "paced: minimum time between a thread's shares")
	workEvery := fs.Duration("workinterval", 3*time.Minute, "paced: minimum time between a thread's work requests")
	names := make([]string, 0, len(simminer.Misbehaviours))
	for n := range simminer.Misbehaviours {
		names = append(names, n)
	}
	sort.Strings(names)
	misbehave := fs.String("misbehave", "honest", "misbehaviour: "+strings.Join(names, ", "))
	duration := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	every := fs.Duration("report", 10*time.Second, "print a load report this often (0: only at the end)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	net, ok := biblepay.LookupNetwork(*network)
	if !ok {
		return usageError{fmt.Errorf("unknown network %q", *network)}
	}
	mb, ok := simminer.Misbehaviours[*misbehave]
	if !ok {
		return usageError{fmt.Errorf("unknown misbehaviour %q", *misbehave)}
	}
	if *worker == "" {
		return usageError{fmt.Errorf("-worker is required")}
	}
	if *node == "" {
		*node = fmt.Sprintf("http://127.0.0.1:%d", net.RPCPort)
	}
	client, err := rpcclient.New(rpcclient.Config{URL: *node, User: *user, Password: *password, Network: net})
	if err != nil {
		return err
	}
	m, err := simminer.New(simminer.Config{
		Pool: *pool, Worker: *worker, Network: net, Threads: *threads, HashRate: *hashRate, Paced: *paced,
		ShareInterval: *shareEvery, WorkInterval: *workEvery, Node: client, Misbehave: mb,
		Logger: slog.New(slog.NewTextHandler(stderr, nil)),
	})
	if err != nil {
		return usageError{err}
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if *every > 0 {
		go func() {
			t := time.NewTicker(*every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					fmt.Fprintln(stdout, "simminer:", m.Report())
				}
			}
		}()
	}
	err = m.Run(ctx)
	fmt.Fprintln(stdout, "simminer:", m.Report())
	return err
}
