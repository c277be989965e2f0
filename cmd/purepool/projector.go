package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/config"
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
	return runRole(ctx, "projector", app.Roles{Projector: true}, projectorFlags, args, stdout, stderr)
}

// projectorFlags defines the projector's flags, each setting the
// configuration key its usage ends with.
func projectorFlags(fs *flag.FlagSet) func() (config.Config, error) {
	cfg := config.Defaults()
	fs.StringVar(&cfg.Store.Events, "store", "", storeURLHelp+" [key store.events]")
	fs.StringVar(&cfg.Store.ReadModel, "readmodel-url", "", readModelURLHelp+" [key store.readmodel]")
	fs.StringVar(&cfg.Projector.FrontendRole, "frontend-role", "", "PostgreSQL role granted SELECT on the readmodel views (empty: purepool_frontend when purepool setup created it) [key projector.frontend_role]")
	fs.IntVar(&cfg.Projector.Batch, "batch", 2000, "most events per read-model transaction [key projector.batch]")
	fs.StringVar(&cfg.Projector.MetricsListen, "metrics-listen", "", "Prometheus /metrics listen address, e.g. 127.0.0.1:9101 (empty: none) [key projector.metrics_listen]")
	return func() (config.Config, error) {
		if cfg.Store.Events == "" {
			return cfg, fmt.Errorf("--store is required (%s)", storeURLHelp)
		}
		if cfg.Store.ReadModel == "" {
			return cfg, errors.New("--readmodel-url is required (" + readModelURLHelp + ")")
		}
		return cfg, nil
	}
}

// openProjectorEnds opens the event store and the read model named by the
// --store and --readmodel-url flags of `purepool projections`.
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
