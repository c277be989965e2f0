package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/purepool/purepool/config"
)

func init() {
	register("config", "'config example' prints a documented configuration; 'config check FILE' validates one", runConfig)
}

func runConfig(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("usage: purepool config example | purepool config check FILE")}
	}
	switch args[0] {
	case "example":
		if err := parseFlags(newFlagSet("config example", stderr), args[1:]); err != nil {
			return err
		}
		_, err := io.WriteString(stdout, config.Example)
		return err
	case "check":
		fs := newFlagSet("config check", stderr)
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flagErrHelp) {
				return err
			}
			return usageError{err}
		}
		if fs.NArg() != 1 {
			return usageError{errors.New("usage: purepool config check FILE")}
		}
		cfg, err := config.Load(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: valid (%d network(s)", fs.Arg(0), len(cfg.Networks))
		for _, n := range cfg.Networks {
			fmt.Fprintf(stdout, " %s", n.Name)
		}
		fmt.Fprintln(stdout, ")")
		return nil
	default:
		return usageError{fmt.Errorf("unknown config command %q: want example or check", args[0])}
	}
}
