package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/rpcclient"
)

func init() {
	register("audit", "replay the event log and check the ledger's invariants, the rounds' fairness and the hash chain; 'audit statement' prints a miner's statement",
		func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			return auditExit(runAudit(ctx, args, stdout, stderr))
		})
}

// auditExit gives an audit's error its exit status (auditExitHelp): 1 for
// violations, 2 for everything that kept the audit from a verdict — a
// mistake in the command line (usageError), and a store, read model or
// node that failed, an unwritable report or an interruption, which would
// otherwise exit 1 (or 0, for a signal) and read as a verdict.
func auditExit(err error) error {
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp), errors.As(err, &ue):
		return err
	case errors.Is(err, errViolations):
		return statusError{err, audit.ExitViolations}
	}
	return statusError{err, audit.ExitCouldNotRun}
}

// auditExitHelp is printed by 'purepool audit -h' after the flags.
const auditExitHelp = `
The store says by what it is whether it keeps the tamper-evidence hash chain:
PostgreSQL and SQLite always do, so any empty, reset or broken hash in them is
a violation; EventStoreDB cannot keep one, and the report then says
"hash chain: not kept by EventStoreDB — tampering is not detectable from the
log alone".

Findings are not violations. A few states of the ledger are documented
(docs/operations.md §5.5) and reported under "findings", each with the event
that caused it (its position and type) and the runbook section that explains
it: debt_after_orphan (a miner's debt after a pool block left the chain once
its credits were paid) and old_release_empty_round (an empty round of a
release before the rounds by height, whose reward that release gave to the
pool). Each is checked against its causing events: a debt deeper than the
reversals explain, or with no reversal at all, is negative_balance, a
violation; so is, with --verify-chain, a debt whose orphaned block the node
still holds.

Exit status:
  0  clean: no violation, or known findings only. With EventStoreDB this means
     the ledger's invariants hold, NOT that the log is untampered: the warning
     is printed in the report and on stderr. Use --require-chain to make such
     a store exit 1 instead.
  1  at least one violation (tampering, a broken invariant, a state beyond
     what its events explain, a chain not kept under --require-chain).
  2  the audit could not run, so there is no verdict: a mistake in the command
     line, the store or the read model unreachable or unreadable, the node
     unreachable or failing under --verify-chain, the report not written, or
     the audit interrupted. The message on stderr says which.
`

// errViolations makes the process exit non-zero when the audit found something.
var errViolations = errors.New("the audit found violations")

func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "statement" {
		return runAuditStatement(ctx, args[1:], stdout, stderr)
	}
	fs := newFlagSet("audit", stderr)
	storeURL := fs.String("store", "", storeURLHelp+"; or esdb://host:2113 (EventStoreDB: no hash chain, see below)")
	readModelURL := fs.String("readmodel", "", "read-model database to compare with the replay: postgres://…, mysql://user:pass@tcp(host:3306)/db, sqlite:path")
	format := fs.String("format", "text", "report format: text or json")
	verify := fs.Bool("verify-chain", false, "confirm every sent payout with the node's wallet (gettransaction), and check every payout's anchor in its transaction's data output and the wallet's sends for payouts the log lacks; needs --node")
	nodeURL := fs.String("node", "", "node RPC URL for --verify-chain, e.g. http://user:pass@127.0.0.1:39001")
	quiet := fs.Bool("quiet", false, "no progress bar")
	pageSize := fs.Int("page-size", 5000, "events per read")
	requireChain := fs.Bool("require-chain", false, "a store that keeps no hash chain (EventStoreDB) is a violation (exit 1), not a warning")
	var anchors anchorFlag
	fs.Var(&anchors, "anchor", "POSITION:HASH recorded from an earlier report's head; the log must still hold it (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: purepool audit --store URL [flags]")
		fs.PrintDefaults()
		fmt.Fprint(fs.Output(), auditExitHelp)
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "text" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want text or json", *format)}
	}
	if *verify && *nodeURL == "" {
		return usageError{errors.New("--verify-chain needs --node URL")}
	}
	opt := audit.Options{PageSize: *pageSize, Anchors: anchors, RequireChain: *requireChain}
	if *verify {
		w, err := auditWallet(*nodeURL)
		if err != nil {
			return usageError{err}
		}
		opt.Wallet = w
		if c, ok := w.(audit.Chain); ok { // the payouts' anchors, read back from the chain
			opt.Chain = c
		}
	}
	if *readModelURL != "" {
		rm, closeRM, err := audit.OpenReadModel(ctx, *readModelURL)
		if err != nil {
			return err
		}
		defer closeRM()
		opt.ReadModel = rm
	}
	rep, err := runAuditReplay(ctx, *storeURL, *quiet, stderr, opt)
	if err != nil {
		return err
	}
	if *format == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if rep.ChainWarning != "" {
		// Said where an operator or a timer's mail sees it, whatever the format.
		fmt.Fprintf(stderr, "purepool audit: WARNING: %s\n", rep.ChainWarning)
	}
	if rep.ExitStatus() != audit.ExitClean {
		return fmt.Errorf("%w: %d", errViolations, len(rep.Violations))
	}
	return nil
}

func runAuditStatement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("audit statement", stderr)
	storeURL := fs.String("store", "", storeURLHelp)
	miner := fs.String("miner", "", "the miner's address")
	network := fs.String("network", "main", "network: main, test or regtest")
	format := fs.String("format", "text", "text, csv or json")
	quiet := fs.Bool("quiet", false, "no progress bar")
	nodeURL := fs.String("node", "", "node RPC URL: only heads whose payout transaction the node has in a block anchor the proofs, and the statement carries the transactions' blocks")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	n, ok := biblepay.LookupNetwork(*network)
	if !ok {
		return usageError{fmt.Errorf("--network %q: want main, test or regtest", *network)}
	}
	if err := n.ValidateAddress(*miner); err != nil {
		return usageError{fmt.Errorf("--miner: %w", err)}
	}
	if *format != "text" && *format != "csv" && *format != "json" {
		return usageError{fmt.Errorf("--format %q: want text, csv or json", *format)}
	}
	opt := audit.Options{Statement: &audit.StatementRequest{Network: *network, Address: *miner}}
	if *nodeURL != "" {
		c, err := nodeClient(*nodeURL, 0)
		if err != nil {
			return usageError{err}
		}
		opt.Chain = c
	}
	rep, err := runAuditReplay(ctx, *storeURL, *quiet, stderr, opt)
	if err != nil {
		return err
	}
	st := rep.Statement
	switch *format {
	case "json":
		err = st.WriteJSON(stdout)
	case "csv":
		err = st.WriteCSV(stdout)
	default:
		err = st.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		fmt.Fprintf(stderr, "warning: the log has %d violation(s); run 'purepool audit' for them\n", len(rep.Violations))
	}
	return nil
}

// runAuditReplay opens the store and runs the audit with a progress bar on
// a terminal stderr.
func runAuditReplay(ctx context.Context, storeURL string, quiet bool, stderr io.Writer, opt audit.Options) (*audit.Report, error) {
	if storeURL == "" {
		return nil, usageError{fmt.Errorf("--store is required (%s)", storeURLHelp)}
	}
	r, closeStore, err := openAuditStore(ctx, storeURL, stderr)
	if err != nil {
		return nil, err
	}
	defer closeStore()
	if !quiet {
		opt.Progress = audit.NewProgressBar(stderr)
	}
	if os.Getenv("GOGC") == "" {
		// A replay allocates a decoded event per stored one and keeps
		// little: collecting less often makes it markedly faster, and the
		// audit is a batch job with memory to spare.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
	}
	return audit.Run(ctx, r, opt)
}

// openAuditStore opens the event store named by a --store URL (the forms of
// `purepool migrate`, and esdb:// for EventStoreDB), refusing to create a
// SQLite file that is not there.
func openAuditStore(ctx context.Context, raw string, stderr io.Writer) (audit.Reader, func() error, error) {
	if strings.HasPrefix(raw, "esdb://") || strings.HasPrefix(raw, "esdb+discover://") {
		// EventStoreDB keeps no hash chain: the audit checks the ledger
		// and says so (events.ChainKeeper).
		s, err := esdb.Open(raw, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		if err != nil {
			return nil, nil, usageError{err}
		}
		return s, s.Close, nil
	}
	target, err := parseEventStoreURL(raw)
	if err != nil {
		return nil, nil, usageError{err}
	}
	switch target.kind {
	case "postgres":
		s, err := postgres.Open(ctx, target.location)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	case "sqlite":
		if _, err := os.Stat(target.location); err != nil {
			return nil, nil, fmt.Errorf("event store: %w", err)
		}
		s, err := sqlite.Open(ctx, target.location)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	}
	return nil, nil, usageError{fmt.Errorf("unsupported store %q", raw)}
}

// auditWallet connects to the node's RPC; credentials may be in the URL.
func auditWallet(raw string) (audit.Wallet, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--node %q: want http://[user:pass@]host:port", raw)
	}
	cfg := rpcclient.Config{}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Password, _ = u.User.Password()
		u.User = nil
	}
	cfg.URL = u.String()
	return rpcclient.New(cfg)
}

// anchorFlag collects --anchor POSITION:HASH values.
type anchorFlag []audit.Anchor

func (a *anchorFlag) String() string { return fmt.Sprint(len(*a), " anchors") }

func (a *anchorFlag) Set(s string) error {
	p, h, ok := strings.Cut(s, ":")
	pos, err := strconv.ParseUint(p, 10, 64)
	if !ok || err != nil || pos == 0 {
		return fmt.Errorf("want POSITION:HASH, got %q", s)
	}
	hash, err := hex.DecodeString(h)
	if err != nil || len(hash) != 32 {
		return fmt.Errorf("want a 64-hex-digit hash, got %q", h)
	}
	*a = append(*a, audit.Anchor{Position: pos, Hash: hash})
	return nil
}
