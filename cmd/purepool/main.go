// Command purepool is the BiblePay mining pool: one binary whose subcommands
// are the roles (frontend, backend, projector), the tools around them
// (migrate, setup, audit, projections) and the stand-ins for a BiblePay node
// and wallet miners (simnode, simminer). This package only wires; every
// behaviour lives in the packages it imports.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A subcommand is one role or tool. Each lives in its own file and registers
// itself from init, so roles can be added without touching this file.
type subcommand struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var subcommands = map[string]subcommand{}

func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if _, dup := subcommands[name]; dup {
		panic("purepool: subcommand registered twice: " + name)
	}
	subcommands[name] = subcommand{summary: summary, run: run}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs one subcommand and returns the process exit status. Tests call it
// directly.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	sc, ok := subcommands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "purepool: unknown subcommand %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := sc.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "purepool %s: %v\n", args[0], err)
			return 2
		}
		var se statusError
		if errors.As(err, &se) { // before a signal's clean exit: the subcommand says what an interruption means
			fmt.Fprintf(stderr, "purepool %s: %v\n", args[0], err)
			return se.status
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return 0 // stopped by a signal: a clean shutdown
		}
		fmt.Fprintf(stderr, "purepool %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// usageError marks a mistake in the command line (exit status 2).
type usageError struct{ error }

// statusError makes the process exit with status (`purepool audit`: 2 when
// the audit could not run, whatever the reason).
type statusError struct {
	error
	status int
}

func (e statusError) Unwrap() error { return e.error }

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: purepool <subcommand> [flags]")
	fmt.Fprintln(w)
	names := make([]string, 0, len(subcommands))
	for n := range subcommands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, subcommands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'purepool <subcommand> -h' for its flags.")
}

// newFlagSet makes a subcommand's flag set that reports errors instead of exiting.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("purepool "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and turns a flag mistake into a usageError.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	return nil
}
