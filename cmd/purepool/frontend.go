package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/config"
	pphttp "github.com/purepool/purepool/http"
)

func init() {
	register("frontend", "serve the wallet's pool protocol (Action.aspx) and the website", runFrontend)
}

// frontendNetValues is a repeatable flag of network=value pairs.
type frontendNetValues map[string]string

func (kv frontendNetValues) String() string {
	var parts []string
	for k, v := range kv {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (kv frontendNetValues) Set(s string) error {
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" || v == "" {
			return fmt.Errorf("%q is not network=value", part)
		}
		if _, dup := kv[k]; dup {
			return fmt.Errorf("network %s given twice", k)
		}
		kv[k] = v
	}
	return nil
}

func runFrontend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "frontend", app.Roles{Frontend: true}, frontendFlags, args, stdout, stderr)
}

// frontendFlags defines the frontend's flags, each setting the
// configuration key its usage ends with (the [[network]] keys as
// network=value pairs, one network each).
func frontendFlags(fs *flag.FlagSet) func() (config.Config, error) {
	cfg := config.Defaults()
	fe := &cfg.Frontend
	fs.StringVar(&fe.Listen, "listen", ":80", "plain HTTP listen address (the wallet's poolport; empty disables) [key frontend.listen]")
	fs.StringVar(&fe.TLSListen, "tls-listen", "", "HTTPS listen address, e.g. :443 (needs -tls-cert and -tls-key) [key frontend.tls_listen]")
	fs.StringVar(&fe.TLSCert, "tls-cert", "", "PEM certificate (chain) served to every client, without SNI [key frontend.tls_cert]")
	fs.StringVar(&fe.TLSKey, "tls-key", "", "PEM private key of -tls-cert [key frontend.tls_key]")
	pools := frontendNetValues{}
	fs.Var(pools, "pool-address", "network=address receiving the blocks, e.g. main=B…,test=y… (repeatable; each network given is served) [key network.pool_address]")
	// The other [[network]] keys the frontend uses, for the networks of
	// -pool-address: the share target, and what the website tells miners.
	perNet := []struct {
		name, usage string
		values      frontendNetValues
		set         func(n *config.Network, v string) error
	}{
		{name: "default-target", usage: "network=64-hex share target of new miners (default biblepay.DefaultTarget, 0000011110…) [key network.default_target]",
			set: func(n *config.Network, v string) error { n.DefaultTarget = v; return nil }},
		{name: "min-payout", usage: "network=BBP, the smallest balance paid out, as the backend's (website; default 10) [key network.min_payout]",
			set: func(n *config.Network, v string) (err error) { n.MinPayout, err = config.ParseAmount(v); return err }},
		{name: "fee-bps", usage: "network=basis points of the pool fee, as the backend's (website; default 0) [key network.fee_bps]",
			set: func(n *config.Network, v string) (err error) { n.FeeBps, err = strconv.ParseInt(v, 10, 64); return err }},
		{name: "payout-interval", usage: "network=duration between payouts, as the backend's (website; default 1h) [key network.payout_interval]",
			set: func(n *config.Network, v string) (err error) {
				n.PayoutInterval.Duration, err = time.ParseDuration(v)
				return err
			}},
		{name: "maturity", usage: "network=confirmations before a pool block is credited, as the backend's (website; default the network's) [key network.maturity]",
			set: func(n *config.Network, v string) (err error) {
				n.Maturity, err = strconv.ParseInt(v, 10, 64)
				return err
			}},
		{name: "explorer-tx-url", usage: "network=block explorer URL of a transaction, {txid} replaced (website links; default none) [key network.explorer_tx_url]",
			set: func(n *config.Network, v string) error { n.ExplorerTxURL = v; return nil }},
		{name: "explorer-block-url", usage: "network=block explorer URL of a block, {hash} replaced (website links; default none) [key network.explorer_block_url]",
			set: func(n *config.Network, v string) error { n.ExplorerBlockURL = v; return nil }},
	}
	for i := range perNet {
		perNet[i].values = frontendNetValues{}
		fs.Var(perNet[i].values, perNet[i].name, perNet[i].usage)
	}
	fs.StringVar(&cfg.Broker.URL, "amqp-url", "", "RabbitMQ URL of the publish-only frontend user, e.g. amqp://purepool-frontend:…@127.0.0.1:5672/purepool [key broker.url]")
	fs.StringVar(&cfg.Broker.Exchange, "amqp-exchange", cfg.Broker.Exchange, "commands exchange [key broker.exchange]")
	fs.IntVar(&cfg.Broker.BatchSize, "amqp-batch-size", 0, "most commands published as one broker message (1: one per command; 0: the default, 64) [key broker.batch_size]")
	fs.DurationVar(&cfg.Broker.BatchDelay.Duration, "amqp-batch-delay", 0, "how long a batch may wait for more commands (0: the default, none) [key broker.batch_delay]")
	fs.StringVar(&cfg.Store.ReadModel, "readmodel-url", "", "read model (read-only role): postgres://…, mysql://user:pass@tcp(host:3306)/db or sqlite:path [key store.readmodel]")
	fs.IntVar(&fe.MaxHeaderBytes, "max-header-bytes", pphttp.DefaultMaxHeaderBytes, "largest request header block (a Solution carries a whole block) [key frontend.max_header_bytes]")
	fs.IntVar(&fe.RatePerMinute, "rate-limit", pphttp.DefaultRateLimit, "Action.aspx requests per IP per -rate-window (negative: no limit) [key frontend.rate_limit_per_minute]")
	fs.DurationVar(&fe.RateWindow.Duration, "rate-window", pphttp.DefaultRateWindow, "rate limit window [key frontend.rate_window]")
	fs.Func("trusted-proxies", "reverse proxies in front of the frontend, CIDRs or addresses, e.g. 127.0.0.1,10.0.0.0/8 (repeatable): their X-Forwarded-For names the client for the rate limit and the log (default none: the header is ignored) [key frontend.trusted_proxies]", func(s string) error {
		for _, part := range strings.Split(s, ",") {
			if _, err := pphttp.ParseTrustedProxy(part); err != nil {
				return fmt.Errorf("%q is not a CIDR or an address", strings.TrimSpace(part))
			}
			fe.TrustedProxies = append(fe.TrustedProxies, strings.TrimSpace(part))
		}
		return nil
	})
	fs.DurationVar(&fe.PublishTimeout.Duration, "publish-timeout", pphttp.DefaultPublishTimeout, "longest wait for the broker's confirmation [key frontend.publish_timeout]")
	fs.DurationVar(&fe.ReadTimeout.Duration, "read-timeout", time.Minute, "how long a client may take to send its request [key frontend.read_timeout]")
	fs.StringVar(&cfg.PoolURL, "pool-url", cfg.PoolURL, "what miners write as pool= (http://host or https://host), shown on the website [key pool_url]")
	fs.StringVar(&cfg.PoolName, "pool-name", cfg.PoolName, "the pool's name, shown on the website [key pool_name]")
	fs.DurationVar(&fe.StaleAfter.Duration, "stale-after", 0, "answer HEALTH_DOWN when the newest recorded block is older than this (0: 15 block spacings of the network) [key frontend.stale_after]")
	return func() (config.Config, error) {
		switch {
		case len(pools) == 0:
			return cfg, errors.New("-pool-address is required")
		case cfg.Broker.URL == "":
			return cfg, errors.New("-amqp-url is required")
		case cfg.Store.ReadModel == "":
			return cfg, errors.New("-readmodel-url is required")
		case fe.Listen == "" && fe.TLSListen == "":
			return cfg, errors.New("nothing to listen on: give -listen or -tls-listen")
		case (fe.TLSListen != "") != (fe.TLSCert != "" && fe.TLSKey != ""):
			return cfg, errors.New("-tls-listen needs -tls-cert and -tls-key, and they need -tls-listen")
		}
		names := make([]string, 0, len(pools))
		for name := range pools {
			names = append(names, name)
		}
		slices.Sort(names)
		cfg.Networks = nil
		for _, name := range names {
			n := config.Network{Name: name, PoolAddress: pools[name]}
			for _, p := range perNet {
				if v, ok := p.values[name]; ok {
					if err := p.set(&n, v); err != nil {
						return cfg, fmt.Errorf("-%s %s=%s: %w", p.name, name, v, err)
					}
				}
			}
			config.NetworkDefaults(&n)
			cfg.Networks = append(cfg.Networks, n)
		}
		for _, p := range perNet {
			for name := range p.values {
				if _, ok := pools[name]; !ok {
					return cfg, fmt.Errorf("-%s for %s, which has no -pool-address", p.name, name)
				}
			}
		}
		return cfg, nil
	}
}
