// Package web is Purepool's website and JSON API, served by the frontend
// next to /Action.aspx: server-rendered pages (html/template, embedded
// assets, no CDN) under /{network}/…, Purepool's two API endpoints with its
// field names, paged API endpoints for the pool, blocks, payouts, miners and
// statements, server-sent events for new blocks and payouts, and Prometheus
// metrics at /metrics.
//
// Routes ({network} is main, test or regtest, as configured):
//
//	/                                         redirect to the default network
//	/{network}/                               home, address search (?address=)
//	/{network}/statistics                     7-day chart, top miners, last 50 blocks, forecast, latest public anchor
//	/{network}/howtojoin                      biblepay.conf lines for this pool
//	/{network}/blocks, /payouts               paged (?page=, ?limit=)
//	/{network}/block/{hash}                   one pool block and its round
//	/{network}/payout/{id}                    one payout: recipients, on-chain amounts, signed and dead transactions, anchor
//	/{network}/miner/{address}                balance, 7 days of shares, workers, ledger, rejections
//	/{network}/miner/{address}/statement[.csv|.json]
//	/{network}/api/statistics                 Purepool's fields
//	/{network}/api/block_subsidysum/{days}    Purepool's fields
//	/{network}/api/pool, /api/blocks[/{hash}], /api/payouts[/{id}], /api/miner/{address}[/statement]
//	/{network}/api/events                     server-sent events: block, payout (?since=RFC 3339)
//	/api/openapi.json, /api/                  the API's OpenAPI 3 document and its page (openapi.go)
//	/static/…                                 embedded stylesheet
//	/metrics                                  Prometheus (Handler.Registry), with the pool counters (poolmetrics.go)
//
// It only reads: every page comes from the projected read model through the
// Reader interface (implemented by projections.Reader), so the frontend runs
// it with a read-only database role. Amounts are integer satoshis formatted
// as BBP by integer arithmetic.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/projections"
)

// Reader is what the website reads; projections.Reader implements it over
// PostgreSQL, MariaDB and SQLite. Every method is a read.
type Reader interface {
	Pool(ctx context.Context, network string) (projections.Pool, error)
	Window(ctx context.Context, network string, since time.Time) (projections.WindowStats, error)
	Hashrate(ctx context.Context, network string, since time.Time) (hps, workers int64, err error)
	PoolDays(ctx context.Context, network string, from, to time.Time) ([]projections.DayCount, error)
	TopMiners(ctx context.Context, network string, sinceDay time.Time, limit int) ([]projections.TopMiner, error)
	Miner(ctx context.Context, network, address string) (projections.Miner, error)
	Workers(ctx context.Context, network string, minerID uuid.UUID, since time.Time) ([]projections.Worker, error)
	MinerDays(ctx context.Context, network string, minerID uuid.UUID, from, to time.Time) ([]projections.DayCount, error)
	Rejections(ctx context.Context, network string, minerID uuid.UUID, sinceDay time.Time) ([]projections.Rejection, error)
	Ledger(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]projections.LedgerEntry, error)
	Credits(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]projections.Credit, error)
	MinerPayouts(ctx context.Context, network string, minerID uuid.UUID, offset, limit int) ([]projections.Payout, error)
	Blocks(ctx context.Context, network string, offset, limit int) ([]projections.Block, error)
	BlocksSince(ctx context.Context, network string, t time.Time, limit int) ([]projections.Block, error)
	Block(ctx context.Context, network, hash string) (projections.Block, error)
	Payouts(ctx context.Context, network string, offset, limit int) ([]projections.Payout, error)
	PayoutsSince(ctx context.Context, network string, t time.Time, limit int) ([]projections.Payout, error)
	Payout(ctx context.Context, network string, id uuid.UUID) (projections.Payout, error)
	LatestAnchor(ctx context.Context, network string) (projections.Anchor, bool, error)
}

var _ Reader = (*projections.Reader)(nil)

// Network is what the website tells miners about one network of the pool.
type Network struct {
	// PoolURL is the exact `pool=` value wallets use: http://host or
	// https://host, without a path, port or trailing slash (spec §1.1).
	PoolURL string
	// PoolPort is the `poolport=` value for plain HTTP; 0 or 80 omits it.
	PoolPort int
	// MinPayoutSat is the least balance paid out automatically.
	MinPayoutSat int64
	// FeeBps is the pool fee in basis points.
	FeeBps int64
	// PayoutSchedule describes when payouts run, e.g. "daily at 18:00 UTC".
	PayoutSchedule string
	// PayoutInterval is how often payouts run (0: unknown); with the last
	// payout's time it dates the next run for the miner page's estimate.
	PayoutInterval time.Duration
	// Maturity is the confirmations a pool block needs before it is
	// credited (0: the network's coinbase maturity).
	Maturity int64
	// ExplorerTxURL and ExplorerBlockURL make transaction ids and block
	// hashes links to a block explorer: "{txid}" and "{hash}" are replaced
	// by the id (appended when there is no placeholder). Empty: no links.
	ExplorerTxURL    string
	ExplorerBlockURL string
}

// Config configures the website.
type Config struct {
	// PoolName is shown in every page's title and header (default "Purepool").
	PoolName string
	// Networks served, by the wallet's NetworkID (main, test, regtest).
	Networks map[string]Network
	// DefaultNetwork is where / redirects; default "main" if served, else
	// the first network by name.
	DefaultNetwork string
	// Registry receives the website's metrics and is served at /metrics;
	// nil makes a new one (with Go and process collectors). Others add
	// their collectors to Handler.Registry.
	Registry *prometheus.Registry
	// Now is the clock (tests fix it). Default time.Now.
	Now func() time.Time
	// EventPoll is how often the server-sent event streams look for new
	// blocks and payouts. Default 2s.
	EventPoll time.Duration
	// Logger receives errors; nil discards.
	Logger *slog.Logger
}

// Handler serves the website.
type Handler struct {
	cfg     Config
	reader  Reader
	router  chi.Router
	pages   map[string]*template.Template
	log     *slog.Logger
	metrics *metrics
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// NewHandler builds the website over a reader.
func NewHandler(cfg Config, reader Reader) (*Handler, error) {
	if len(cfg.Networks) == 0 {
		return nil, errors.New("web: no network configured")
	}
	for name, n := range cfg.Networks {
		if _, ok := biblepay.LookupNetwork(name); !ok {
			return nil, fmt.Errorf("web: unknown network %q", name)
		}
		if err := validPoolURL(n.PoolURL); err != nil {
			return nil, fmt.Errorf("web: network %s: %w", name, err)
		}
		for _, u := range []string{n.ExplorerTxURL, n.ExplorerBlockURL} {
			if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
				return nil, fmt.Errorf("web: network %s: explorer URL %q is not http:// or https://", name, u)
			}
		}
	}
	if cfg.DefaultNetwork == "" {
		if _, ok := cfg.Networks["main"]; ok {
			cfg.DefaultNetwork = "main"
		} else {
			names := networkNames(cfg.Networks)
			cfg.DefaultNetwork = names[0]
		}
	}
	if _, ok := cfg.Networks[cfg.DefaultNetwork]; !ok {
		return nil, fmt.Errorf("web: default network %q is not served", cfg.DefaultNetwork)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PoolName == "" {
		cfg.PoolName = "Purepool"
	}
	if cfg.EventPoll <= 0 {
		cfg.EventPoll = 2 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
		cfg.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, reader: reader, log: log}
	var err error
	if h.metrics, err = newMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	if err := h.registerPoolMetrics(); err != nil {
		return nil, fmt.Errorf("web: register pool metrics: %w", err)
	}
	if h.pages, err = parsePages(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

// Registry is the registry served at /metrics; add collectors to it.
func (h *Handler) Registry() *prometheus.Registry { return h.cfg.Registry }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

func networkNames(m map[string]Network) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (h *Handler) routes() {
	r := chi.NewRouter()
	r.Use(h.metrics.instrument)
	static, _ := fs.Sub(staticFS, "static")
	r.Handle("/static/*", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServer(http.FS(static)))))
	r.Handle("/metrics", promhttp.HandlerFor(h.cfg.Registry, promhttp.HandlerOpts{Registry: h.cfg.Registry}))
	h.apiDocRoutes(r) // /api/openapi.json and its page /api/
	r.Get("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/"+h.cfg.DefaultNetwork+"/", http.StatusFound)
	})
	r.Route("/{network}", func(r chi.Router) {
		r.Use(h.network)
		r.Get("/", h.home)
		r.Get("/howtojoin", h.howToJoin)
		r.Get("/howtojoin/", h.howToJoin)
		r.Get("/statistics", h.statistics)
		r.Get("/blocks", h.blocks)
		r.Get("/block/{hash}", h.block)
		r.Get("/payouts", h.payouts)
		r.Get("/payout/{id}", h.payout)
		r.Get("/miner/{address}", h.miner)
		r.Get("/miner/{address}/", h.miner)
		r.Get("/miner/{address}/statement", h.statement)
		r.Get("/miner/{address}/statement.csv", h.statementCSV)
		r.Get("/miner/{address}/statement.json", h.statementJSON)
		r.Route("/api", func(r chi.Router) {
			r.Get("/statistics", h.apiStatistics)
			r.Get("/block_subsidysum/{days}", h.apiBlockSubsidySum)
			r.Get("/pool", h.apiPool)
			r.Get("/blocks", h.apiBlocks)
			r.Get("/blocks/{hash}", h.apiBlock)
			r.Get("/payouts", h.apiPayouts)
			r.Get("/payouts/{id}", h.apiPayout)
			r.Get("/miner/{address}", h.apiMiner)
			r.Get("/miner/{address}/statement", h.statementJSON)
			r.Get("/events", h.events)
		})
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) { h.notFound(w, r, "page not found") })
	h.router = r
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

type ctxKey struct{}

// network checks the {network} of the URL against the served networks.
func (h *Handler) network(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := chi.URLParam(r, "network")
		if _, ok := h.cfg.Networks[name]; !ok {
			h.notFound(w, r, "this pool does not serve network "+strconv.Quote(name))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, name)))
	})
}

func networkOf(r *http.Request) string { return r.Context().Value(ctxKey{}).(string) }

// minerFor resolves the {address} of the URL: an address that is not one of
// the network's is a 404 like an unknown miner, without a database query.
func (h *Handler) minerFor(w http.ResponseWriter, r *http.Request, api bool) (projections.Miner, bool) {
	network := networkOf(r)
	address := chi.URLParam(r, "address")
	nw, _ := biblepay.LookupNetwork(network)
	if err := nw.ValidateAddress(address); err != nil {
		h.fail(w, r, api, http.StatusNotFound, fmt.Sprintf("%q is not a %s address", address, network))
		return projections.Miner{}, false
	}
	m, err := h.reader.Miner(r.Context(), network, address)
	if errors.Is(err, projections.ErrNotFound) {
		h.fail(w, r, api, http.StatusNotFound, "no miner with address "+address+" has worked for this pool on "+network)
		return projections.Miner{}, false
	}
	if err != nil {
		h.serverError(w, r, api, err)
		return projections.Miner{}, false
	}
	return m, true
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, status int, msg string) {
	if api {
		writeJSON(w, status, map[string]string{"error": msg})
		return
	}
	h.render(w, r, status, "error", map[string]any{"Status": status, "Message": msg})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, msg string) {
	api := len(r.URL.Path) > 0 && containsAPI(r.URL.Path)
	h.fail(w, r, api, http.StatusNotFound, msg)
}

func containsAPI(p string) bool {
	for i := 0; i+5 <= len(p); i++ {
		if p[i:i+5] == "/api/" {
			return true
		}
	}
	return false
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, api bool, err error) {
	h.log.ErrorContext(r.Context(), "web: read model", "path", r.URL.Path, "err", err)
	h.fail(w, r, api, http.StatusServiceUnavailable, "the pool's statistics are unavailable right now; please try again shortly")
}

// page reads ?page= (1-based) and ?limit= (1..max, default def).
func page(r *http.Request, def, maxLimit int) (pageNo, limit, offset int, err error) {
	pageNo, limit = 1, def
	if v := r.URL.Query().Get("page"); v != "" {
		if pageNo, err = strconv.Atoi(v); err != nil || pageNo < 1 || pageNo > 1_000_000 {
			return 0, 0, 0, fmt.Errorf("page must be a number from 1")
		}
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
			return 0, 0, 0, fmt.Errorf("limit must be a number from 1 to %d", maxLimit)
		}
	}
	return pageNo, limit, (pageNo - 1) * limit, nil
}
