package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/purepool/purepool/projections"
)

func init() {
	register("projections", "read-model admin: 'status' (position, lag) and 'rebuild [NAME…]' (blue/green)", runProjections)
}

func runProjections(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "status" && args[0] != "rebuild") {
		return usageError{errors.New("usage: purepool projections status|rebuild [flags] [NAME…]")}
	}
	verb := args[0]
	fs := newFlagSet("projections "+verb, stderr)
	storeURL := fs.String("store", "", storeURLHelp)
	rmURL := fs.String("readmodel-url", "", readModelURLHelp)
	frontendRole := fs.String("frontend-role", "", "PostgreSQL role granted SELECT on the switched views")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flagErrHelp) {
			return err
		}
		return usageError{err}
	}
	names := fs.Args()
	if verb == "status" && len(names) > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %v", names)}
	}
	for _, n := range names {
		if !slices.Contains(projections.Names, n) {
			return usageError{fmt.Errorf("unknown projection %q (known: %v)", n, projections.Names)}
		}
	}
	store, rm, err := openProjectorEnds(ctx, *storeURL, *rmURL)
	if err != nil {
		return err
	}
	defer store.Close()
	defer rm.Close()
	rm.FrontendRole = *frontendRole
	if err := rm.Migrate(ctx); err != nil {
		return err
	}
	if verb == "status" {
		st, err := rm.Status(ctx, store)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PROJECTION\tPOSITION\tHEAD\tLAG\tUPDATED\tGENERATION")
		for _, s := range st {
			updated := "-"
			if !s.UpdatedAt.IsZero() {
				updated = s.UpdatedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%d\n", s.Name, s.Position, s.Head, s.Lag, updated, s.Generation)
		}
		return tw.Flush()
	}
	opt := projections.RebuildOptions{Progress: stderr}
	if *quiet {
		opt.Progress = nil
	}
	st, err := rm.Rebuild(ctx, store, opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt %s: %d events (+%d caught up), %d rows, position %d; fold %s, write %s, total %s (%.0f events/s)\n",
		projections.Name, st.Events, st.CaughtUp, st.Rows, st.Position, st.Fold.Round(time.Millisecond), st.Write.Round(time.Millisecond),
		st.Total.Round(time.Millisecond), st.EventsPerSecond())
	return nil
}

var flagErrHelp = flag.ErrHelp
