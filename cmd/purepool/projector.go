package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/projections"
)

const readModelURLHelp = "read model URL: postgres://…, mysql://user:pass@tcp(host:3306)/db or sqlite:path"

func init() {
	register("projector", "build the read models (website views) from the event store, live", runProjector)
}

func runProjector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("projector", stderr)
	configFile := fs.String("config", "", configFlagHelp)
	storeURL := fs.String("store", "", storeURLHelp)
	rmURL := fs.String("readmodel-url", "", readModelURLHelp)
	frontendRole := fs.String("frontend-role", "", "PostgreSQL role granted SELECT on the readmodel views (e.g. purepool_frontend)")
	batch := fs.Int("batch", 2000, "most events per read-model transaction")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		return roleFromConfig(ctx, fs, app.Roles{Projector: true}, *configFile, *logFormat, stdout, stderr)
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
	var handler slog.Handler = slog.NewJSONHandler(stderr, nil)
	if *logFormat == "text" {
		handler = slog.NewTextHandler(stderr, nil)
	}
	r := &projections.Runner{Store: store, DB: rm, MaxBatch: *batch, Logger: slog.New(handler).With("role", "projector")}
	return r.Run(ctx)
}

// openProjectorEnds opens the event store and the read model named by the
// --store and --readmodel-url flags.
func openProjectorEnds(ctx context.Context, storeURL, rmURL string) (events.Store, *projections.DB, error) {
	if storeURL == "" {
		return nil, nil, usageError{fmt.Errorf("--store is required (%s)", storeURLHelp)}
	}
	if rmURL == "" {
		return nil, nil, usageError{errors.New("--readmodel-url is required (" + readModelURLHelp + ")")}
	}
	target, err := parseEventStoreURL(storeURL)
	if err != nil {
		return nil, nil, usageError{err}
	}
	var store events.Store
	switch target.kind {
	case "postgres":
		store, err = postgres.Open(ctx, target.location)
	case "sqlite":
		store, err = sqlite.Open(ctx, target.location)
	}
	if err != nil {
		return nil, nil, err
	}
	rm, err := projections.OpenURL(ctx, rmURL)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return store, rm, nil
}
