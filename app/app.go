// Package app wires Purepool's roles from a configuration (package config):
// the event store, the read model, the command bus, the backend, the
// projector and the frontend with its website. `purepool run` runs every
// role in one process; `purepool frontend|backend|projector --config` run
// one each; `purepool demo` (package demo) runs all of them beside a
// simulated node and simulated miners.
//
// The embedded default, used when the configuration names no server, is
// SQLite files in data_dir (events.db, readmodel.db) and the in-process
// command bus (commands/inproc), which only works when the frontend and the
// backend share the process.
package app

// This file holds the roles to run, the options, and a Pool's life: Open,
// Run and Close. The parts it wires are in stores.go, broker.go,
// metrics.go and roles.go.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
)

// Roles says which roles a Pool runs.
type Roles struct {
	Frontend  bool
	Backend   bool
	Projector bool
}

// AllRoles is every role: `purepool run` and the demo.
var AllRoles = Roles{Frontend: true, Backend: true, Projector: true}

// Options are what the configuration file does not say.
type Options struct {
	Roles Roles
	// Nodes replaces the node of a network (by name) that node_url would
	// name; the demo passes its simulated node here.
	Nodes map[string]backend.Node
	// TuneBackend, if set, adjusts the backend's configuration after it is
	// derived from the file (settings the file does not expose).
	TuneBackend func(*backend.Config)
	// Logger receives every role's logs; nil discards.
	Logger *slog.Logger
}

// Pool is the roles of one process, opened and listening, ready to Run.
type Pool struct {
	cfg config.Config
	opt Options
	log *slog.Logger

	store     events.Store
	readModel *projections.DB
	reader    *projections.Reader
	publisher commands.Publisher
	consumer  commands.Consumer
	backend   *backend.Backend
	frontend  *pphttp.Server
	site      *web.Handler
	addrs     []net.Addr
	fundEvery time.Duration

	projectorMetrics *projections.Prometheus
	metricsRegistry  *prometheus.Registry
	metricsLn        net.Listener
	backendMetricsLn net.Listener
	adminLn          net.Listener // the admin socket (in-process bus only)

	closers []func() error
}

// Open opens what the roles need and binds the frontend's listeners (so
// Addrs is known before Run). On error everything opened is closed.
func Open(ctx context.Context, cfg config.Config, opt Options) (_ *Pool, err error) {
	if err := cfg.Validate(); err != nil {
		// The projector copies whatever the event store holds: it alone
		// needs no network.
		if opt.Roles != (Roles{Projector: true}) || !errors.Is(err, config.ErrNoNetwork) {
			return nil, err
		}
	}
	if opt.Roles == (Roles{}) {
		return nil, errors.New("app: no role to run")
	}
	jobsOnly := opt.Roles.Backend && cfg.Backend.JobsOnly
	if jobsOnly && opt.Roles.Frontend {
		return nil, &config.KeyError{Key: "backend.jobs_only", Err: errors.New("the frontend in this process would publish commands no backend consumes")}
	}
	if cfg.Broker.URL == "" && opt.Roles.Frontend != opt.Roles.Backend && !jobsOnly {
		// The in-process bus cannot cross processes: a lone frontend
		// would answer miners with work no backend ever records.
		return nil, &config.KeyError{Key: "broker.url", Err: errors.New("the frontend and the backend in separate processes need RabbitMQ (the in-process bus only works in `purepool run`)")}
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pool := &Pool{cfg: cfg, opt: opt, log: log}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	// Only the stores the roles open: a backend given its event store
	// makes no data_dir for a read model it never reads.
	embedded := ((opt.Roles.Backend || opt.Roles.Projector) && cfg.Store.Events == "") ||
		((opt.Roles.Frontend || opt.Roles.Projector) && cfg.Store.ReadModel == "")
	if embedded {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("data_dir: %w", err)
		}
	}
	if opt.Roles.Backend || opt.Roles.Projector {
		if err := pool.openStore(ctx); err != nil {
			return nil, err
		}
	}
	if opt.Roles.Frontend || opt.Roles.Projector {
		if err := pool.openReadModel(ctx); err != nil {
			return nil, err
		}
	}
	if opt.Roles.Frontend || (opt.Roles.Backend && !jobsOnly) {
		if err := pool.openBus(); err != nil {
			return nil, err
		}
	}
	if jobsOnly {
		log.Warn("backend.jobs_only: following the chain, closing rounds and paying; no command is consumed")
	}
	if opt.Roles.Backend {
		if err := pool.buildBackend(ctx); err != nil {
			return nil, err
		}
		if _, ok := pool.consumer.(*inproc.Bus); ok {
			if err := pool.listenAdmin(); err != nil {
				return nil, err
			}
		}
		if addr := cfg.Backend.MetricsListen; addr != "" {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return nil, &config.KeyError{Key: "backend.metrics_listen", Err: err}
			}
			pool.backendMetricsLn = ln
			pool.onClose(func() error { _ = ln.Close(); return nil })
		}
	}
	if opt.Roles.Frontend {
		if err := pool.buildFrontend(); err != nil {
			return nil, err
		}
	}
	if opt.Roles.Projector {
		if err := pool.buildProjectorMetrics(); err != nil {
			return nil, err
		}
	}
	if opt.Roles.Backend && pool.site != nil {
		// One process: the website's /metrics shows the backend's too.
		for _, c := range backend.Collectors() {
			if err := pool.site.Registry().Register(c); err != nil {
				return nil, fmt.Errorf("website metrics: %w", err)
			}
		}
	}
	return pool, nil
}

func (p *Pool) onClose(f func() error) { p.closers = append(p.closers, f) }

// Close releases everything Open opened, in reverse order.
func (p *Pool) Close() error {
	var errs []error
	for i := len(p.closers) - 1; i >= 0; i-- {
		errs = append(errs, p.closers[i]())
	}
	p.closers = nil
	return errors.Join(errs...)
}

// Store is the event store (nil when neither backend nor projector runs).
func (p *Pool) Store() events.Store { return p.store }

// Reader reads the read model (nil when neither frontend nor projector runs).
func (p *Pool) Reader() *projections.Reader { return p.reader }

// ReadModel is the read-model database.
func (p *Pool) ReadModel() *projections.DB { return p.readModel }

// Addrs are the frontend's bound listen addresses.
func (p *Pool) Addrs() []net.Addr { return p.addrs }

// Run runs the roles as one oklog/run group until ctx ends or one fails.
// It returns nil when ctx ended it.
func (p *Pool) Run(ctx context.Context) error {
	var g run.Group
	actor := func(name string, f func(context.Context) error) {
		actx, cancel := context.WithCancel(ctx)
		g.Add(func() error {
			err := f(actx)
			if actx.Err() != nil {
				return nil // stopped
			}
			if err == nil {
				err = errors.New("stopped unexpectedly")
			}
			return fmt.Errorf("%s: %w", name, err)
		}, func(error) { cancel() })
	}
	if p.backend != nil {
		// The RabbitMQ consumer runs broker.prefetch handlers itself; the
		// in-process bus hands out one message per Consume loop, so it
		// gets that many loops (share validation waits on the node).
		loops := 1
		if _, ok := p.consumer.(*inproc.Bus); ok {
			loops = p.cfg.Broker.Prefetch
		}
		actor("backend", func(ctx context.Context) error {
			return p.backend.Run(ctx, backend.RunOptions{Consumer: p.consumer, Consumers: loops, FundingInterval: p.fundEvery})
		})
		if p.adminLn != nil {
			actor("admin socket", p.serveAdmin)
		}
		if p.backendMetricsLn != nil {
			// The backend's gauges live in the default registry.
			actor("backend metrics", func(ctx context.Context) error {
				return ServeMetrics(ctx, p.backendMetricsLn, prometheus.DefaultGatherer)
			})
		}
	}
	if p.opt.Roles.Projector {
		r := &projections.Runner{Store: p.store, DB: p.readModel, MaxBatch: p.cfg.Projector.Batch, Logger: p.log.With("role", "projector"), Metrics: p.projectorMetrics}
		actor("projector", r.Run)
		if p.metricsLn != nil {
			actor("projector metrics", func(ctx context.Context) error { return ServeMetrics(ctx, p.metricsLn, p.metricsRegistry) })
		}
	}
	if p.frontend != nil {
		actor("frontend", p.frontend.Run)
	}
	stop := make(chan struct{})
	g.Add(func() error {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		return nil
	}, func(error) { close(stop) })
	return g.Run()
}
