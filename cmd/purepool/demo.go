package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/purepool/purepool/demo"
)

func init() {
	register("demo", "run the whole pool with a simulated node and miners in one process (see it work in a minute)", runDemo)
}

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", stderr)
	opt := demo.Options{}
	fs.StringVar(&opt.Addr, "addr", "127.0.0.1:8080", "frontend and website listen address")
	fs.StringVar(&opt.DataDir, "data", "purepool-data", "data folder (event store, read model, simulated node); a restart continues it")
	fs.IntVar(&opt.Miners, "miners", 4, "simulated miners")
	fs.DurationVar(&opt.BlockTime, "block-time", 2*time.Second, "the simulated network's block interval")
	fs.DurationVar(&opt.Duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	fs.Int64Var(&opt.Maturity, "maturity", 10, "confirmations before a pool block is credited")
	fs.DurationVar(&opt.PayoutInterval, "payout-interval", 5*time.Second, "payout schedule")
	verbose := fs.Bool("v", false, "log the roles' warnings to stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if opt.Miners < 1 || opt.BlockTime <= 0 || opt.Maturity < 1 || opt.Duration < 0 || opt.PayoutInterval <= 0 {
		return usageError{errors.New("--miners, --block-time, --maturity and --payout-interval must be positive, --duration not negative")}
	}
	opt.Stdout = stdout
	if f, ok := stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		opt.Live = true // one \r-updated status line
		opt.Columns = func() int {
			w, _, err := term.GetSize(int(f.Fd()))
			if err != nil {
				return 0
			}
			return w
		}
	}
	opt.Logger = slog.New(slog.DiscardHandler)
	if *verbose {
		opt.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	_, err := demo.Run(ctx, opt)
	return err
}
