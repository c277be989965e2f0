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

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/pglock"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/provision"
	"github.com/purepool/purepool/rpcclient"
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

// Embedded file names inside data_dir.
const (
	EventsFile    = "events.db"
	ReadModelFile = "readmodel.db"
)

// EventsURL is the event store the configuration names (SQLite in data_dir
// when it names none), in the URL forms of store.events.
func EventsURL(cfg config.Config) string {
	if cfg.Store.Events != "" {
		return cfg.Store.Events
	}
	return "sqlite://" + absPath(filepath.Join(cfg.DataDir, EventsFile))
}

// ReadModelURL is the read-model database the configuration names (SQLite
// in data_dir when it names none).
func ReadModelURL(cfg config.Config) string {
	if cfg.Store.ReadModel != "" {
		return cfg.Store.ReadModel
	}
	return "sqlite://" + absPath(filepath.Join(cfg.DataDir, ReadModelFile))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// Open opens what the roles need and binds the frontend's listeners (so
// Addrs is known before Run). On error everything opened is closed.
func Open(ctx context.Context, cfg config.Config, opt Options) (_ *Pool, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opt.Roles == (Roles{}) {
		return nil, errors.New("app: no role to run")
	}
	if cfg.Broker.URL == "" && opt.Roles.Frontend != opt.Roles.Backend {
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
	embedded := cfg.Store.Events == "" || cfg.Store.ReadModel == ""
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
	if opt.Roles.Frontend || opt.Roles.Backend {
		if err := pool.openBus(); err != nil {
			return nil, err
		}
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

// BackendMetricsAddr is the bound address of backend.metrics_listen (nil
// when it is not served).
func (p *Pool) BackendMetricsAddr() net.Addr {
	if p.backendMetricsLn == nil {
		return nil
	}
	return p.backendMetricsLn.Addr()
}

// MetricsAddr is the bound address of projector.metrics_listen (nil when
// it is not served).
func (p *Pool) MetricsAddr() net.Addr {
	if p.metricsLn == nil {
		return nil
	}
	return p.metricsLn.Addr()
}

// buildProjectorMetrics gives the projector its Prometheus metrics: in the
// website's registry when the frontend runs in this process (its /metrics
// then shows them), and on projector.metrics_listen when set. The listener
// is bound here so that a taken port fails Open.
func (p *Pool) buildProjectorMetrics() error {
	reg := NewMetricsRegistry()
	if p.site != nil {
		reg = p.site.Registry()
	}
	m, err := projections.NewPrometheus(reg, p.store)
	if err != nil {
		return err
	}
	p.projectorMetrics, p.metricsRegistry = m, reg
	if addr := p.cfg.Projector.MetricsListen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &config.KeyError{Key: "projector.metrics_listen", Err: err}
		}
		p.metricsLn = ln
		// Serve closes it too; a second close only reports that.
		p.onClose(func() error { _ = ln.Close(); return nil })
	}
	return nil
}

// NewMetricsRegistry is a Prometheus registry with the Go runtime's and the
// process's collectors, as a role's own /metrics serves them.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ServeMetrics serves reg at /metrics on ln until ctx ends; it returns nil
// then. It closes ln.
func ServeMetrics(ctx context.Context, ln net.Listener, reg prometheus.Gatherer) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics %s: %w", ln.Addr(), err)
	}
	return nil
}

func (p *Pool) openStore(ctx context.Context) error {
	raw := EventsURL(p.cfg)
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		s, err := postgres.Open(ctx, raw)
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
	case strings.HasPrefix(raw, "sqlite://"):
		s, err := sqlite.Open(ctx, strings.TrimPrefix(raw, "sqlite://"))
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
		// The embedded store has no administrator: it creates its own tables.
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return fmt.Errorf("store.events: %w", err)
		}
	case strings.HasPrefix(raw, "esdb://"), strings.HasPrefix(raw, "esdb+discover://"):
		if p.opt.Roles.Backend {
			// The backend writes a share with its bible-hash reservation,
			// and a pool block with the chain height, atomically across
			// two streams; EventStoreDB (v4 client) cannot, and every such
			// command would be dead-lettered. It serves the projector.
			return &config.KeyError{Key: "store.events", Err: errors.New("EventStoreDB cannot take the backend's atomic multi-stream writes; use PostgreSQL or SQLite for the backend")}
		}
		s, err := esdb.Open(raw, p.log.With("component", "esdb"))
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
	default:
		return &config.KeyError{Key: "store.events", Err: fmt.Errorf("unsupported URL %q", raw)}
	}
	p.onClose(p.store.Close)
	return nil
}

func (p *Pool) openReadModel(ctx context.Context) error {
	raw := ReadModelURL(p.cfg)
	if strings.HasPrefix(raw, "sqlite://") {
		raw = "sqlite:" + strings.TrimPrefix(raw, "sqlite://")
	}
	rm, err := projections.OpenURL(ctx, raw)
	if err != nil {
		return fmt.Errorf("store.readmodel: %w", err)
	}
	p.onClose(rm.Close)
	p.readModel = rm
	if p.opt.Roles.Projector {
		if rm.Dialect == projections.Postgres {
			// Grant the website's role SELECT on the views when `purepool
			// setup` created it (a database without it is not provisioned
			// for a separate frontend, and needs no grant).
			role := provision.DefaultPostgres().Frontend
			var exists bool
			if err := rm.SQL.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
				return fmt.Errorf("store.readmodel: %w", err)
			}
			if exists {
				rm.FrontendRole = role
			}
		}
		if err := rm.Migrate(ctx); err != nil {
			return fmt.Errorf("store.readmodel: %w", err)
		}
	}
	p.reader = projections.NewReader(rm.SQL, rm.Dialect)
	return nil
}

func (p *Pool) openBus() error {
	if p.cfg.Broker.URL == "" {
		b := inproc.New()
		p.onClose(b.Close)
		p.publisher, p.consumer = b, b
		return nil
	}
	// The dead-letter names follow the exchange's, as `purepool setup`
	// names them: purepool.commands → purepool.commands.dlx and .dead.
	topo := rabbitmq.DefaultTopology()
	topo.Exchange = p.cfg.Broker.Exchange
	topo.Queue = p.cfg.Broker.Queue
	topo.DeadLetterExchange = p.cfg.Broker.Exchange + ".dlx"
	topo.DeadLetterQueue = p.cfg.Broker.Exchange + ".dead"
	rc := rabbitmq.Config{URL: p.cfg.Broker.URL, Topology: topo, Logger: p.log.With("component", "rabbitmq"),
		Prefetch: 2 * p.cfg.Broker.Prefetch, Workers: p.cfg.Broker.Prefetch}
	if p.opt.Roles.Frontend {
		rc.Name = "purepool-frontend"
		pub, err := rabbitmq.NewPublisher(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.onClose(pub.Close)
		p.publisher = pub
	}
	if p.opt.Roles.Backend {
		rc.Name = "purepool-backend"
		c, err := rabbitmq.NewConsumer(rc)
		if err != nil {
			return &config.KeyError{Key: "broker.url", Err: err}
		}
		p.consumer = c
	}
	return nil
}

// NodeClient connects to a node_url (credentials in the URL's user info).
func NodeClient(raw string, network biblepay.Network, consumers int) (*rpcclient.Client, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want http://user:password@host:port, got %q", raw)
	}
	rc := rpcclient.Config{Network: network}
	if u.User != nil {
		rc.User = u.User.Username()
		rc.Password, _ = u.User.Password()
		u.User = nil
	}
	rc.URL = u.String()
	// Share validation calls the node from every handler at once: keep a
	// connection per handler alive.
	rc.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * max(consumers, 16), IdleConnTimeout: time.Minute}}
	return rpcclient.New(rc)
}

// BackendConfig maps the configuration onto the backend's.
func BackendConfig(cfg config.Config, nodes map[string]backend.Node, log *slog.Logger) (backend.Config, error) {
	bc := backend.Config{
		WorkWait:      cfg.Backend.SolutionRetry.Duration,
		ConflictWatch: cfg.Backend.ConflictWatch.Duration,
		PollInterval:  cfg.Backend.ChainPoll.Duration,
		BatchAppends:  cfg.Broker.Prefetch,
		Logger:        log,
	}
	for i, n := range cfg.Networks {
		network, _ := biblepay.LookupNetwork(n.Name) // Validate checked it
		node := nodes[n.Name]
		if node == nil {
			if n.NodeURL == "" {
				return bc, &config.KeyError{Key: fmt.Sprintf("network[%d].node_url", i), Err: errors.New("the backend needs the node's RPC URL")}
			}
			c, err := NodeClient(n.NodeURL, network, cfg.Broker.Prefetch)
			if err != nil {
				return bc, &config.KeyError{Key: fmt.Sprintf("network[%d].node_url", i), Err: err}
			}
			node = c
		}
		bc.Networks = append(bc.Networks, backend.NetworkConfig{
			Name: n.Name, PoolAddress: n.PoolAddress, Node: node, Scheme: n.Scheme, PPLNSWindow: int(n.PPLNSWindow),
			FeeBps: n.FeeBps, Maturity: n.Maturity, StaleTolerance: n.StaleTolerance,
			MinPayoutSat: n.MinPayout.Sat(), MaxRecipients: n.MaxRecipients, PayoutInterval: n.PayoutInterval.Duration,
			PayoutConfirmations: n.MinConfirmations, VardiffWindow: cfg.Backend.VardiffInterval.Duration,
			DefaultTarget: n.DefaultTarget,
			Vardiff:       aggregates.VardiffPolicy{SharesPerMinute: n.SharesPerMinute, MinDifficulty: 1, Tolerance: 2, MaxStep: 4},
		})
	}
	return bc, nil
}

func (p *Pool) buildBackend(ctx context.Context) error {
	bc, err := BackendConfig(p.cfg, p.opt.Nodes, p.log.With("role", "backend"))
	if err != nil {
		return err
	}
	if strings.HasPrefix(EventsURL(p.cfg), "postgres") {
		// Two backends on one PostgreSQL must not both follow the chain
		// or pay: an advisory lock makes those jobs singletons.
		l, err := pglock.Open(ctx, EventsURL(p.cfg))
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.onClose(func() error { l.Close(); return nil })
		bc.Locker = l
	}
	if p.opt.TuneBackend != nil {
		p.opt.TuneBackend(&bc)
	}
	b, err := backend.New(p.store, bc)
	if err != nil {
		return err
	}
	p.backend = b
	p.fundEvery = p.cfg.Backend.FundingCheck.Duration
	return nil
}

func (p *Pool) buildFrontend() error {
	fc := p.cfg.Frontend
	srvLog := p.log.With("role", "frontend")
	srv := &pphttp.Server{Logger: srvLog, ShutdownTimeout: 15 * time.Second, ReadTimeout: fc.ReadTimeout.Duration}
	// Listen first: the website tells miners the real poolport.
	poolPort := 0
	if fc.Listen != "" {
		bound, err := srv.Listen(fc.Listen, nil)
		if err != nil {
			return &config.KeyError{Key: "frontend.listen", Err: err}
		}
		poolPort = bound.(*net.TCPAddr).Port
		p.addrs = append(p.addrs, bound)
	}
	if fc.TLSListen != "" {
		if fc.TLSCert == "" {
			return &config.KeyError{Key: "frontend.tls_cert", Err: errors.New("tls_listen needs tls_cert and tls_key")}
		}
		cert, err := tls.LoadX509KeyPair(fc.TLSCert, fc.TLSKey)
		if err != nil {
			return &config.KeyError{Key: "frontend.tls_cert", Err: err}
		}
		bound, err := srv.Listen(fc.TLSListen, pphttp.TLSConfig(cert))
		if err != nil {
			return &config.KeyError{Key: "frontend.tls_listen", Err: err}
		}
		p.addrs = append(p.addrs, bound)
	}
	if len(p.addrs) == 0 {
		return &config.KeyError{Key: "frontend.listen", Err: errors.New("nothing to listen on: set listen or tls_listen")}
	}
	proxies, err := fc.TrustedProxyPrefixes()
	if err != nil {
		return &config.KeyError{Key: "frontend.trusted_proxies", Err: err}
	}
	hc := pphttp.Config{
		Networks:       map[string]pphttp.NetworkConfig{},
		MaxHeaderBytes: fc.MaxHeaderBytes,
		RateLimit:      fc.RatePerMinute,
		RateWindow:     time.Minute,
		TrustedProxies: proxies,
	}
	wc := web.Config{PoolName: p.cfg.PoolName, Networks: map[string]web.Network{}, Logger: p.log.With("role", "website")}
	for _, n := range p.cfg.Networks {
		hc.Networks[n.Name] = pphttp.NetworkConfig{PoolAddress: n.PoolAddress, DefaultTarget: n.DefaultTarget}
		wc.Networks[n.Name] = web.Network{PoolURL: p.cfg.PoolURL, PoolPort: poolPort, MinPayoutSat: n.MinPayout.Sat(),
			FeeBps: n.FeeBps, PayoutSchedule: "every " + n.PayoutInterval.Duration.String(), PayoutInterval: n.PayoutInterval.Duration,
			Maturity: n.Maturity, ExplorerTxURL: n.ExplorerTxURL, ExplorerBlockURL: n.ExplorerBlockURL}
	}
	// A stuck node (or chain follower) shows as a chain tip that stops
	// moving: wallets then mine solo (HEALTH_DOWN) instead of wasting work.
	var health pphttp.Health = &pphttp.ChainFreshness{Reader: p.reader, MaxAge: pphttp.StaleAfter}
	if pub, ok := p.publisher.(*rabbitmq.Publisher); ok {
		// So does a broker down, instead of losing shares.
		health = pphttp.AllHealthy(health, pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() }))
	}
	action, err := pphttp.NewActionHandler(hc, pphttp.ReadModelMiners{Reader: p.reader}, health, p.publisher, srvLog)
	if err != nil {
		return err
	}
	site, err := web.NewHandler(wc, p.reader)
	if err != nil {
		return err
	}
	srv.Action, srv.Web = action, site
	p.frontend, p.site = srv, site
	return nil
}

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
		r := &projections.Runner{Store: p.store, DB: p.readModel, Logger: p.log.With("role", "projector"), Metrics: p.projectorMetrics}
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
