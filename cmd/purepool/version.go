package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

func init() {
	register("version", "print the version", func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		if err := parseFlags(newFlagSet("version", stderr), args); err != nil {
			return err
		}
		rev := ""
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = " " + s.Value
				}
			}
		}
		fmt.Fprintf(stdout, "purepool %s%s %s\n", Version, rev, runtime.Version())
		return nil
	})
}
