package app

// Building the backend (its configuration and node clients) and the
// frontend with its website.

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/lease"
	"github.com/purepool/purepool/backend/pglock"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/rpcclient"
)

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
		ResendGrace:   cfg.Backend.ResendGrace.Duration,
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
			FeeBps: n.FeeBps, Maturity: n.Maturity, FollowFrom: n.FollowFrom, StaleTolerance: n.StaleTolerance,
			MinPayoutSat: n.MinPayout.Sat(), MaxRecipients: n.MaxRecipients, PayoutInterval: n.PayoutInterval.Duration,
			PayoutConfirmations: n.MinConfirmations, VardiffWindow: cfg.Backend.VardiffInterval.Duration,
			DefaultTarget: n.DefaultTarget,
			Vardiff:       aggregates.VardiffPolicy{SharesPerMinute: n.SharesPerMinute, MinDifficulty: max(n.MinDifficulty, 1), Tolerance: 2, MaxStep: 4},
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
	} else if strings.HasPrefix(EventsURL(p.cfg), "esdb") {
		// EventStoreDB has no advisory lock: the jobs take a lease stream
		// (optimistic concurrency and expiry); a survivor takes over once
		// a dead backend's lease has run out (TTL + one job period).
		l := lease.New(p.store, lease.Config{TTL: p.cfg.Backend.LeaseTTL.Duration, Logger: p.log.With("component", "lease")})
		p.onClose(l.Close)
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
	// Shutdown lets the answers waiting for the broker's confirmation finish.
	publishTimeout := cmp.Or(fc.PublishTimeout.Duration, pphttp.DefaultPublishTimeout)
	srv := &pphttp.Server{Logger: srvLog, ShutdownTimeout: publishTimeout + 5*time.Second, ReadTimeout: fc.ReadTimeout.Duration}
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
		RateWindow:     fc.RateWindow.Duration,
		PublishTimeout: publishTimeout,
		TrustedProxies: proxies,
	}
	wc := web.Config{PoolName: p.cfg.PoolName, Networks: map[string]web.Network{}, Logger: p.log.With("role", "website")}
	for _, n := range p.cfg.Networks {
		hc.Networks[n.Name] = pphttp.NetworkConfig{PoolAddress: n.PoolAddress, DefaultTarget: n.DefaultTarget}
		wc.Networks[n.Name] = web.Network{PoolURL: p.cfg.PoolURL, PoolPort: poolPort, MinPayoutSat: n.MinPayout.Sat(),
			FeeBps: n.FeeBps, PayoutSchedule: payoutSchedule(n.PayoutInterval.Duration), PayoutInterval: n.PayoutInterval.Duration,
			Maturity: n.Maturity, ExplorerTxURL: n.ExplorerTxURL, ExplorerBlockURL: n.ExplorerBlockURL}
	}
	// A stuck node (or chain follower) shows as a chain tip that stops
	// moving: wallets then mine solo (HEALTH_DOWN) instead of wasting work.
	maxAge := pphttp.StaleAfter
	if d := fc.StaleAfter.Duration; d > 0 {
		maxAge = func(string) time.Duration { return d }
	}
	// The miner directory and the chain tips held in memory (the server polls them): no read-model query per request.
	dir := pphttp.NewDirectory(p.reader, pphttp.DirectoryConfig{MaxAge: maxAge, Logger: srvLog})
	var health pphttp.Health = dir
	if pub, ok := p.publisher.(*rabbitmq.Publisher); ok {
		// So does a broker down, instead of losing shares.
		health = pphttp.AllHealthy(health, pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() }))
	}
	action, err := pphttp.NewActionHandler(hc, dir, health, p.publisher, srvLog)
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

// payoutSchedule tells miners when payouts run (payout_interval 0: only
// when the operator triggers one).
func payoutSchedule(every time.Duration) string {
	if every <= 0 {
		return "when the operator runs one"
	}
	return "every " + every.String()
}
