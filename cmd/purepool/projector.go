package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/oklog/run"

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
	metricsListen := fs.String("metrics-listen", "", "Prometheus /metrics listen address, e.g. 127.0.0.1:9101 (empty: none)")
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
	log := slog.New(handler).With("role", "projector")
	r := &projections.Runner{Store: store, DB: rm, MaxBatch: *batch, Logger: log}
	if *metricsListen == "" {
		return r.Run(ctx)
	}
	reg := app.NewMetricsRegistry()
	if r.Metrics, err = projections.NewPrometheus(reg, store); err != nil {
		return err
	}
	// Bound before the projector starts: a taken port is an error now,
	// not a log line later.
	ln, err := net.Listen("tcp", *metricsListen)
	if err != nil {
		return fmt.Errorf("--metrics-listen: %w", err)
	}
	log.Info("projector metrics listening", "addr", ln.Addr().String())
	var g run.Group
	g.Add(actorUntil(ctx, r.Run))
	g.Add(actorUntil(ctx, func(ctx context.Context) error { return app.ServeMetrics(ctx, ln, reg) }))
	return g.Run()
}

// actorUntil is an oklog/run actor running f until ctx ends (then it
// returns ctx's error, as the projector alone does) or the group stops it.
// f ending on its own is an error: the projector and its metrics stop together.
func actorUntil(ctx context.Context, f func(context.Context) error) (func() error, func(error)) {
	actx, cancel := context.WithCancel(ctx)
	execute := func() error {
		err := f(actx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil && actx.Err() == nil:
			return errors.New("stopped unexpectedly")
		}
		return err
	}
	return execute, func(error) { cancel() }
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
