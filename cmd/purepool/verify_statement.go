package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/rpcclient"
)

func init() {
	register("verify-statement", "check a miner's statement (audit statement --format json) against the BiblePay chain, without the pool's database",
		runVerifyStatement)
}

const verifyStatementHelp = `
verify-statement needs no database: only the statement (written by
'purepool audit statement --format json', which the pool gives its miners) and
a BiblePay node (any: your own, no wallet needed), or, without --node, the
copies of the anchor transactions the statement carries.

It checks, for every line: the line's event hashes to its chain hash
(events.ChainHash over every stored field), that chain hash is in the pool's
event log under the latest anchored head (an RFC 6962 inclusion proof), and
the line's amounts are what the event says; the running balance and the
totals add up; each anchored head extends the one before (consistency
proofs); and each head is what the data output of its payout transaction
says, that transaction being in a block of the node's chain. A node without
-txindex finds a transaction whose outputs are all spent only in the block the
statement names; without --node, it is checked that the pool signed the
heads, not that the chain holds them.

A statement cannot show a line the pool left out; it proves that every line
it shows is in the log the chain anchors.

Lines after the latest anchored head are "unanchored": they cannot be proven
until a later payout's transaction anchors the log (--require-anchored makes
them failures).

Exit status:
  0  every check held (unanchored lines, if any, are listed).
  1  something did not verify: the line or anchor and the reason are printed.
  2  the check could not run: a mistake in the command line, an unreadable
     statement, a node that cannot be reached.
`

func runVerifyStatement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify-statement", stderr)
	nodeURL := fs.String("node", "", "BiblePay node RPC URL, e.g. http://user:pass@127.0.0.1:9998 (default: read the statement's copies of the transactions)")
	format := fs.String("format", "text", "text or json")
	requireAnchored := fs.Bool("require-anchored", false, "a line after the latest anchored head is a failure (exit 1)")
	timeout := fs.Duration("timeout", 30*time.Second, "per node call")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: purepool verify-statement FILE [--node URL] [flags]")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), verifyStatementHelp)
	}
	// FILE may come before or after the flags.
	var file string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	switch rest := fs.Args(); {
	case file == "" && len(rest) == 1:
		file = rest[0]
	case len(rest) > 0:
		return usageError{fmt.Errorf("unexpected arguments: %v", rest)}
	case file == "":
		return usageError{errors.New("which statement? usage: purepool verify-statement FILE [--node URL]")}
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want text or json", *format)}
	}
	couldNotRun := func(err error) error { return statusError{err, 2} }
	f, err := os.Open(file)
	if err != nil {
		return couldNotRun(err)
	}
	st, err := audit.ReadStatement(f)
	f.Close()
	if err != nil {
		return couldNotRun(fmt.Errorf("%s: %w", file, err))
	}
	opt := audit.VerifyOptions{RequireAnchored: *requireAnchored}
	if *nodeURL != "" {
		c, err := nodeClient(*nodeURL, *timeout)
		if err != nil {
			return usageError{err}
		}
		opt.Node = c
	}
	v, err := audit.VerifyStatement(ctx, st, opt)
	if err != nil {
		return couldNotRun(fmt.Errorf("the node: %w", err))
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(v)
	} else {
		err = v.WriteText(stdout)
	}
	if err != nil {
		return couldNotRun(err)
	}
	if !v.OK() {
		return statusError{fmt.Errorf("%d check(s) did not hold", len(v.Failures)), 1}
	}
	return nil
}

// nodeClient connects to a node's RPC; credentials may be in the URL.
func nodeClient(raw string, timeout time.Duration) (*rpcclient.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--node %q: want http://[user:pass@]host:port", raw)
	}
	cfg := rpcclient.Config{Timeout: timeout} // 0: the client's default
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
	}
	cfg.URL = u.String()
	return rpcclient.New(cfg)
}
