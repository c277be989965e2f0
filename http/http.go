// Package http is Purepool's frontend over HTTP: the wallet's pool protocol
// (/Action.aspx, actions readytomine2 and solution), a health endpoint and a
// mount point for the website.
//
// The frontend never writes: it answers work requests from the read model
// and deterministic ids, and turns what miners send into commands
// (commands.IssueWork, commands.SubmitSolution) that it publishes. A
// solution is acknowledged to the miner only once the publisher confirmed
// its command, so nothing a miner was told "ok" about is lost.
//
// # The hot path, and how stale it may be
//
// No wallet request waits for the database. Directory holds in memory the
// miners with a target or state of their own and every network's chain
// tip, and (run by Server.Run) polls the read model every second: the tips,
// and the miners changed since the position it last read (column
// miners.directory_pos, read-model shape 5). A miner it does not hold gets
// the network's default target, as the read model would give it. Worst
// case, an answer reflects the read model as it was DefaultDirectoryMaxStale
// (5 s) ago: a copy older than that is not used, the request waits for a
// read and answers HEALTH_DOWN if the read model does not answer (while it
// answers, the lag is the 1 s poll plus one query). The projector's own lag
// behind the event log comes on top, as before.
//
// Answers are appended into byte slices (no templates); a request logs at
// most one line, at Debug when it was answered with work or ok (its command
// becomes an event, the durable record), at Info or Warn when refused.
package http

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// MinerDirectory is the part of the read model the frontend needs to hand
// out work: a miner's current share target and whether an admin disabled it.
type MinerDirectory interface {
	// Miner returns the state of the miner behind an address on a network
	// (its id is events.MinerID(network, address)). found is false for a
	// miner the pool has never seen (it gets the network's default target).
	Miner(ctx context.Context, network, address string) (m Miner, found bool, err error)
}

// Miner is what the frontend knows about a registered miner.
type Miner struct {
	Target   string // 64 hex digits; empty means the network's default
	Disabled bool
}

// Health tells whether a network can take work right now (the broker is
// connected, the node is fresh). When it cannot, miners are answered
// HEALTH_DOWN, which makes wallets fall back to solo mining.
type Health interface {
	// CanTakeWork returns nil if the network is healthy, else the reason.
	CanTakeWork(ctx context.Context, network string) error
}

// HealthFunc adapts a function to Health.
type HealthFunc func(ctx context.Context, network string) error

// CanTakeWork calls f.
func (f HealthFunc) CanTakeWork(ctx context.Context, network string) error { return f(ctx, network) }

// AllHealthy is healthy when every check is.
func AllHealthy(checks ...Health) Health {
	return HealthFunc(func(ctx context.Context, network string) error {
		for _, c := range checks {
			if err := c.CanTakeWork(ctx, network); err != nil {
				return err
			}
		}
		return nil
	})
}

// NetworkConfig is one chain the pool mines on.
type NetworkConfig struct {
	// PoolAddress receives the block rewards; answered as <ADDRESS>.
	PoolAddress string
	// DefaultTarget is the share target of a miner without its own
	// (biblepay.DefaultTarget when empty).
	DefaultTarget string
}

// Defaults of Config.
const (
	DefaultMaxHeaderBytes = 1 << 20 // a Solution header carries a whole block
	DefaultMaxBodyBytes   = 64      // the body is the action name (12 or 8 bytes)
	DefaultRateLimit      = 300     // requests per IP per RateWindow
	DefaultRateWindow     = time.Minute
	DefaultPublishTimeout = 10 * time.Second
)

// Config is the frontend's configuration.
type Config struct {
	// Networks by the wallet's NetworkID (main, test, regtest).
	Networks map[string]NetworkConfig
	// MaxHeaderBytes bounds the request line and headers of a request.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// RateLimit is the number of /Action.aspx requests an IP may make per
	// RateWindow; a negative value disables the limit.
	RateLimit  int
	RateWindow time.Duration
	// PublishTimeout bounds the wait for the broker's confirmation.
	PublishTimeout time.Duration
	// TrustedProxies are the reverse proxies in front of the frontend
	// (ParseTrustedProxy reads them). A request whose peer is in one of
	// these ranges is attributed, for the rate limit, the log and the
	// commands, to the right-most X-Forwarded-For address outside them.
	// Empty (the default): wallets connect directly and the header is
	// ignored, since any client can write it.
	TrustedProxies []netip.Prefix
}

// withDefaults fills the zero fields and checks the networks.
func (c Config) withDefaults() (Config, error) {
	if len(c.Networks) == 0 {
		return c, errors.New("http: no network configured")
	}
	nets := make(map[string]NetworkConfig, len(c.Networks))
	for name, nc := range c.Networks {
		n, ok := biblepay.LookupNetwork(name)
		if !ok {
			return c, fmt.Errorf("http: unknown network %q", name)
		}
		if err := n.ValidateAddress(nc.PoolAddress); err != nil {
			return c, fmt.Errorf("http: pool address of %s: %w", name, err)
		}
		if nc.DefaultTarget == "" {
			nc.DefaultTarget = biblepay.DefaultTarget
		}
		if _, err := biblepay.ParseHash(nc.DefaultTarget); err != nil {
			return c, fmt.Errorf("http: default target of %s: %w", name, err)
		}
		nets[name] = nc
	}
	c.Networks = nets
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.RateLimit == 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateWindow <= 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.PublishTimeout <= 0 {
		c.PublishTimeout = DefaultPublishTimeout
	}
	proxies := make([]netip.Prefix, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			return c, fmt.Errorf("http: trusted proxy %d is not a valid prefix", i)
		}
		proxies[i] = normalizeProxy(p)
	}
	c.TrustedProxies = proxies
	return c, nil
}

// ServerMaxHeaderBytes is the http.Server.MaxHeaderBytes for a configured
// limit: larger, so that requests just above the limit reach the handler's
// own check and get a protocol answer; beyond it (plus net/http's 4 KiB of
// slack) net/http refuses the request, and protocolConn rewrites that refusal.
func ServerMaxHeaderBytes(limit int) int { return limit + 64<<10 }
