package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/commands/rabbitmq"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
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
	fs := newFlagSet("frontend", stderr)
	configFile := fs.String("config", "", configFlagHelp)
	listen := fs.String("listen", ":80", "plain HTTP listen address (the wallet's poolport; empty disables)")
	tlsListen := fs.String("tls-listen", "", "HTTPS listen address, e.g. :443 (needs -tls-cert and -tls-key)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate (chain) served to every client, without SNI")
	tlsKey := fs.String("tls-key", "", "PEM private key of -tls-cert")
	pools := frontendNetValues{}
	fs.Var(pools, "pool-address", "network=address receiving the blocks, e.g. main=B…,test=y… (repeatable; each network given is served)")
	targets := frontendNetValues{}
	fs.Var(targets, "default-target", "network=64-hex share target of new miners (default biblepay.DefaultTarget, 0000011110…)")
	amqpURL := fs.String("amqp-url", "", "RabbitMQ URL of the publish-only frontend user, e.g. amqp://purepool-frontend:…@127.0.0.1:5672/purepool")
	exchange := fs.String("amqp-exchange", rabbitmq.DefaultTopology().Exchange, "commands exchange")
	readModelURL := fs.String("readmodel-url", "", "read model (read-only role): postgres://…, mysql://user:pass@tcp(host:3306)/db or sqlite:path")
	maxHeader := fs.Int("max-header-bytes", pphttp.DefaultMaxHeaderBytes, "largest request header block (a Solution carries a whole block)")
	rateLimit := fs.Int("rate-limit", pphttp.DefaultRateLimit, "Action.aspx requests per IP per -rate-window (negative: no limit)")
	rateWindow := fs.Duration("rate-window", pphttp.DefaultRateWindow, "rate limit window")
	var trustedProxies []netip.Prefix
	fs.Func("trusted-proxies", "reverse proxies in front of the frontend, CIDRs or addresses, e.g. 127.0.0.1,10.0.0.0/8 (repeatable): their X-Forwarded-For names the client for the rate limit and the log (default none: the header is ignored)", func(s string) error {
		for _, part := range strings.Split(s, ",") {
			p, err := pphttp.ParseTrustedProxy(part)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR or an address", strings.TrimSpace(part))
			}
			trustedProxies = append(trustedProxies, p)
		}
		return nil
	})
	publishTimeout := fs.Duration("publish-timeout", pphttp.DefaultPublishTimeout, "longest wait for the broker's confirmation")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	poolURL := fs.String("pool-url", "http://localhost", "what miners write as pool= (http://host or https://host), shown on the website")
	staleAfter := fs.Duration("stale-after", 0, "answer HEALTH_DOWN when the newest recorded block is older than this (0: 15 block spacings of the network)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		return roleFromConfig(ctx, fs, app.Roles{Frontend: true}, *configFile, *logFormat, stdout, stderr)
	}
	switch {
	case len(pools) == 0:
		return usageError{errors.New("-pool-address is required")}
	case *amqpURL == "":
		return usageError{errors.New("-amqp-url is required")}
	case *readModelURL == "":
		return usageError{errors.New("-readmodel-url is required")}
	case *listen == "" && *tlsListen == "":
		return usageError{errors.New("nothing to listen on: give -listen or -tls-listen")}
	case (*tlsListen != "") != (*tlsCert != "" && *tlsKey != ""):
		return usageError{errors.New("-tls-listen needs -tls-cert and -tls-key, and they need -tls-listen")}
	}
	cfg := pphttp.Config{
		Networks:       map[string]pphttp.NetworkConfig{},
		MaxHeaderBytes: *maxHeader,
		RateLimit:      *rateLimit,
		RateWindow:     *rateWindow,
		PublishTimeout: *publishTimeout,
		TrustedProxies: trustedProxies,
	}
	for n, addr := range pools {
		cfg.Networks[n] = pphttp.NetworkConfig{PoolAddress: addr, DefaultTarget: targets[n]}
	}
	for n := range targets {
		if _, ok := pools[n]; !ok {
			return usageError{fmt.Errorf("-default-target for %s, which has no -pool-address", n)}
		}
	}

	var handler slog.Handler = slog.NewJSONHandler(stderr, nil)
	if *logFormat == "text" {
		handler = slog.NewTextHandler(stderr, nil)
	}
	log := slog.New(handler).With("role", "frontend")

	var tlsConfig *tls.Config
	if *tlsListen != "" {
		cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		tlsConfig = pphttp.TLSConfig(cert)
	}

	rm, err := projections.OpenURL(ctx, *readModelURL)
	if err != nil {
		return err
	}
	defer rm.Close()
	miners := pphttp.ReadModelMiners{Reader: projections.NewReader(rm.SQL, rm.Dialect)}

	topology := rabbitmq.DefaultTopology()
	topology.Exchange = *exchange
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: *amqpURL, Topology: topology, Name: "purepool-frontend", Logger: log})
	if err != nil {
		return usageError{err}
	}
	defer pub.Close()
	// The broker's connection decides whether work can be taken; a broker
	// down makes wallets mine solo (HEALTH_DOWN) instead of losing shares.
	broker := pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() })
	// A stuck node (or chain follower) shows as a chain tip that stops moving.
	maxAge := pphttp.StaleAfter
	if *staleAfter > 0 {
		maxAge = func(string) time.Duration { return *staleAfter }
	}
	health := pphttp.AllHealthy(broker, &pphttp.ChainFreshness{Reader: miners.Reader, MaxAge: maxAge})

	action, err := pphttp.NewActionHandler(cfg, miners, health, pub, log)
	if err != nil {
		return usageError{err}
	}
	srv := &pphttp.Server{Action: action, Logger: log, ShutdownTimeout: *publishTimeout + 5*time.Second}
	poolPort := 0
	if *listen != "" {
		bound, err := srv.Listen(*listen, nil)
		if err != nil {
			return err
		}
		poolPort = bound.(*net.TCPAddr).Port
	}
	wc := web.Config{Networks: map[string]web.Network{}, Logger: log.With("component", "website")}
	for n := range pools {
		wc.Networks[n] = web.Network{PoolURL: *poolURL, PoolPort: poolPort}
	}
	if srv.Web, err = web.NewHandler(wc, miners.Reader); err != nil {
		return usageError{err}
	}
	if *tlsListen != "" {
		if _, err := srv.Listen(*tlsListen, tlsConfig); err != nil {
			return err
		}
	}
	return srv.Run(ctx)
}
