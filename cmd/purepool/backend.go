package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/backend/pglock"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/rpcclient"
)

func init() {
	register("backend", "consume commands, validate shares, follow the chain, credit and pay (the only event writer)", runBackend)
}

func runBackend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backend", stderr)
	configFile := fs.String("config", "", configFlagHelp)
	storeURL := fs.String("store", "", storeURLHelp)
	amqpURL := fs.String("amqp-url", "", "RabbitMQ URL of the backend user, e.g. amqp://purepool-backend:…@127.0.0.1:5672/purepool")
	queue := fs.String("amqp-queue", rabbitmq.DefaultTopology().Queue, "commands queue")
	consumers := fs.Int("consumers", 64, "command handlers running at once (shares are stored in group commits of up to this many)")
	netName := fs.String("network", "main", "network: main, test or regtest")
	poolAddress := fs.String("pool-address", "", "the pool's address (coinbases of shares and pool blocks pay it)")
	nodeURL := fs.String("node-url", "", "biblepayd RPC URL, e.g. http://127.0.0.1:39000")
	nodeUser := fs.String("node-user", "", "biblepayd RPC user")
	nodePassword := fs.String("node-password", "", "biblepayd RPC password")
	scheme := fs.String("scheme", events.SchemePROP, "payment scheme: PROP, PPLNS or SOLO")
	pplnsWindow := fs.Int("pplns-window", aggregates.DefaultPPLNSWindow, "shares counted by PPLNS")
	feeBps := fs.Int64("fee-bps", 0, "pool fee in basis points (100 = 1%)")
	maturity := fs.Int64("maturity", 0, "confirmations before a pool block is credited (0: the network's, 101)")
	followFrom := fs.Int64("follow-from", 0, "first height recorded on an empty ledger (0: the node's tip)")
	staleTolerance := fs.Int64("stale-tolerance", 0, "blocks a share's previous height may differ from the tip")
	minPayout := fs.String("min-payout", "10", "minimum payout in BBP")
	maxRecipients := fs.Int("max-recipients", 50, "recipients per payout transaction")
	payoutInterval := fs.Duration("payout-interval", time.Hour, "payout schedule (0: only on TriggerPayout)")
	payoutConfirmations := fs.Int64("payout-confirmations", 6, "confirmations after which a payout is confirmed")
	pollInterval := fs.Duration("poll-interval", 5*time.Second, "chain follower period")
	workWait := fs.Duration("work-wait", time.Minute, "how long a share waits for its work to be recorded")
	_ = fs.Duration("finder-share-wait", 0, "ignored (kept so that old unit files start): rounds are made by height at maturity, nothing waits for a winning share")
	conflictWatch := fs.Duration("payout-conflict-watch", 24*time.Hour, "how long after its confirmation a payout is still watched for a double spend by a deep reorganisation")
	resendGrace := fs.Duration("payout-resend-grace", 10*time.Second, "how long a payout an earlier (crashed) process planned is left alone before it is sent, in case its send is still executing")
	defaultTarget := fs.String("default-target", biblepay.DefaultTarget, "share target of miners without their own: the frontend's -default-target for this network, so vardiff starts from it")
	vardiffWindow := fs.Duration("vardiff-window", 0, "miner evaluation period (0: fixed share target)")
	vardiffRate := fs.Int64("vardiff-shares-per-minute", 2, "vardiff aim per miner")
	vardiffMin := fs.Int64("vardiff-min-difficulty", 1, "lowest share difficulty")
	metricsListen := fs.String("metrics-listen", "", "Prometheus /metrics listen address (empty: none)")
	logFormat := fs.String("log-format", "json", "log format: json or text")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configFile != "" {
		return roleFromConfig(ctx, fs, app.Roles{Backend: true}, *configFile, *logFormat, stdout, stderr)
	}
	var handler slog.Handler = slog.NewJSONHandler(stderr, nil)
	if *logFormat == "text" {
		handler = slog.NewTextHandler(stderr, nil)
	}
	log := slog.New(handler).With("role", "backend", "network", *netName)
	if *storeURL == "" || *nodeURL == "" || *poolAddress == "" {
		return usageError{errors.New("--store, --node-url and --pool-address are required")}
	}
	network, ok := biblepay.LookupNetwork(*netName)
	if !ok {
		return usageError{fmt.Errorf("unknown network %q", *netName)}
	}
	// Check what can be checked before anything is opened: a bad flag
	// changes nothing (not even an empty store file).
	if err := network.ValidateAddress(*poolAddress); err != nil {
		return usageError{fmt.Errorf("--pool-address: %w", err)}
	}
	if _, err := biblepay.ParseHash(*defaultTarget); err != nil {
		return usageError{fmt.Errorf("--default-target: %w", err)}
	}
	// A person's decimal BBP, like the configuration's min_payout (the
	// RPC amount parser would take "1/2", "0x10" or "-5").
	minPayoutAmt, err := config.ParseAmount(*minPayout)
	if err == nil && minPayoutAmt <= 0 {
		err = errors.New("must be above 0")
	}
	if err != nil {
		return usageError{fmt.Errorf("--min-payout: %w", err)}
	}
	minPayoutSat := int64(minPayoutAmt)
	target, err := parseEventStoreURL(*storeURL)
	if err != nil {
		return usageError{err}
	}
	var store events.Store
	var locker backend.Locker
	switch target.kind {
	case "postgres":
		s, err := postgres.Open(ctx, target.location)
		if err != nil {
			return err
		}
		store = s
		l, err := pglock.Open(ctx, target.location)
		if err != nil {
			store.Close()
			return err
		}
		defer l.Close()
		locker = l
	case "sqlite":
		s, err := sqlite.Open(ctx, target.location)
		if err != nil {
			return err
		}
		store = s
	}
	defer store.Close()
	// Share validation calls the node from every handler at once: keep a
	// connection per handler alive.
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * max(*consumers, 16), IdleConnTimeout: time.Minute}}
	node, err := rpcclient.New(rpcclient.Config{URL: *nodeURL, User: *nodeUser, Password: *nodePassword, Network: network, HTTPClient: hc})
	if err != nil {
		return usageError{err}
	}
	b, err := backend.New(store, backend.Config{
		Networks: []backend.NetworkConfig{{
			Name: network.Name, PoolAddress: *poolAddress, Node: node, Scheme: *scheme, PPLNSWindow: *pplnsWindow,
			FeeBps: *feeBps, Maturity: *maturity, FollowFrom: *followFrom, StaleTolerance: *staleTolerance,
			MinPayoutSat: minPayoutSat, MaxRecipients: *maxRecipients, PayoutInterval: *payoutInterval,
			PayoutConfirmations: *payoutConfirmations, VardiffWindow: *vardiffWindow, DefaultTarget: *defaultTarget,
			Vardiff: aggregates.VardiffPolicy{SharesPerMinute: *vardiffRate, MinDifficulty: *vardiffMin, Tolerance: 2, MaxStep: 4},
		}},
		WorkWait: *workWait, ResendGrace: *resendGrace, ConflictWatch: *conflictWatch, PollInterval: *pollInterval, Locker: locker, Logger: log,
	})
	if err != nil {
		return usageError{err}
	}
	var consumer commands.Consumer
	if *amqpURL != "" {
		topo := rabbitmq.DefaultTopology()
		topo.Queue = *queue
		c, err := rabbitmq.NewConsumer(rabbitmq.Config{URL: *amqpURL, Topology: topo, Name: "purepool-backend", Workers: *consumers, Prefetch: 2 * *consumers, Logger: log})
		if err != nil {
			return usageError{err}
		}
		consumer = c
	} else {
		log.Warn("no --amqp-url: running the jobs only, no command is consumed")
	}
	if *metricsListen != "" {
		srv := &http.Server{Addr: *metricsListen, Handler: promhttp.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics server", "err", err)
			}
		}()
		defer srv.Close()
	}
	fmt.Fprintf(stdout, "backend running on %s (pool %s)\n", network.Name, *poolAddress)
	return b.Run(ctx, backend.RunOptions{Consumer: consumer, Consumers: 1})
}
