package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
)

func init() {
	register("backend", "consume commands, validate shares, follow the chain, credit and pay (the only event writer)", runBackend)
}

func runBackend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runRole(ctx, "backend", app.Roles{Backend: true}, backendFlags, args, stdout, stderr)
}

// backendFlags defines the backend's flags, each setting the configuration
// key its usage ends with. The defaults are the flags' own (older than the
// file's, and kept for the units that rely on them).
func backendFlags(fs *flag.FlagSet) func() (config.Config, error) {
	cfg := config.Defaults()
	var n config.Network
	fs.StringVar(&cfg.Store.Events, "store", "", storeURLHelp+" [key store.events]")
	fs.StringVar(&cfg.Broker.URL, "amqp-url", "", "RabbitMQ URL of the backend user, e.g. amqp://purepool-backend:…@127.0.0.1:5672/purepool (empty: run the jobs only, consume no command) [key broker.url]")
	fs.StringVar(&cfg.Broker.Exchange, "amqp-exchange", cfg.Broker.Exchange, "commands exchange; the dead-letter names derive from it [key broker.exchange]")
	fs.StringVar(&cfg.Broker.Queue, "amqp-queue", cfg.Broker.Queue, "commands queue [key broker.queue]")
	fs.StringVar(&cfg.Broker.DeadLetterExchange, "amqp-dead-letter-exchange", "", "where a command given up on goes (empty: the exchange's name + .dlx) [key broker.dead_letter_exchange]")
	fs.StringVar(&cfg.Broker.DeadLetterQueue, "amqp-dead-letter-queue", "", "the dead letters' queue (empty: the exchange's name + .dead) [key broker.dead_letter_queue]")
	fs.IntVar(&cfg.Broker.Prefetch, "consumers", 64, "command handlers running at once (shares are stored in group commits of up to this many) [key broker.prefetch]")
	fs.DurationVar(&cfg.Backend.LeaseTTL.Duration, "lease-ttl", 30*time.Second, "on EventStoreDB: the job and payout leases' length; a survivor takes over at most this plus one job period after a backend dies [key backend.lease_ttl]")
	fs.BoolVar(&cfg.Backend.JobsOnly, "jobs-only", false, "follow the chain, close rounds and pay, but consume no command (implied without --amqp-url) [key backend.jobs_only]")
	fs.StringVar(&n.Name, "network", "main", "network: main, test or regtest [key network.name]")
	fs.StringVar(&n.PoolAddress, "pool-address", "", "the pool's address (coinbases of shares and pool blocks pay it) [key network.pool_address]")
	nodeURL := fs.String("node-url", "", "biblepayd RPC URL, e.g. http://127.0.0.1:39000 [key network.node_url]")
	nodeUser := fs.String("node-user", "", "biblepayd RPC user (the user of node_url) [key network.node_url]")
	nodePassword := fs.String("node-password", "", "biblepayd RPC password (the password of node_url) [key network.node_url]")
	fs.StringVar(&n.Scheme, "scheme", events.SchemePROP, "payment scheme: PROP, PPLNS or SOLO [key network.scheme]")
	fs.Int64Var(&n.PPLNSWindow, "pplns-window", aggregates.DefaultPPLNSWindow, "shares counted by PPLNS [key network.pplns_window]")
	fs.Int64Var(&n.FeeBps, "fee-bps", 0, "pool fee in basis points (100 = 1%) [key network.fee_bps]")
	fs.Int64Var(&n.Maturity, "maturity", 0, "confirmations before a pool block is credited (0: the network's, 101) [key network.maturity]")
	fs.Int64Var(&n.FollowFrom, "follow-from", 0, "first height recorded on an empty ledger (0: the node's tip) [key network.follow_from]")
	fs.Int64Var(&n.StaleTolerance, "stale-tolerance", 0, "blocks a share's previous height may differ from the tip [key network.stale_tolerance]")
	minPayout := fs.String("min-payout", "10", "minimum payout in BBP [key network.min_payout]")
	fs.IntVar(&n.MaxRecipients, "max-recipients", 50, "recipients per payout transaction [key network.max_recipients]")
	fs.DurationVar(&n.PayoutInterval.Duration, "payout-interval", time.Hour, "payout schedule (0: only on TriggerPayout) [key network.payout_interval]")
	fs.Int64Var(&n.MinConfirmations, "payout-confirmations", 6, "confirmations after which a payout is confirmed [key network.payout_confirmations]")
	fs.StringVar(&n.DefaultTarget, "default-target", biblepay.DefaultTarget, "share target of miners without their own: the frontend's -default-target for this network, so vardiff starts from it [key network.default_target]")
	fs.Int64Var(&n.SharesPerMinute, "vardiff-shares-per-minute", 2, "vardiff aim per miner [key network.vardiff_shares_per_minute]")
	fs.Int64Var(&n.MinDifficulty, "vardiff-min-difficulty", 1, "lowest share difficulty [key network.vardiff_min_difficulty]")
	fs.DurationVar(&cfg.Backend.VardiffInterval.Duration, "vardiff-window", 0, "miner evaluation period (0: fixed share target) [key backend.vardiff_interval]")
	fs.DurationVar(&cfg.Backend.ChainPoll.Duration, "poll-interval", 5*time.Second, "chain follower period [key backend.chain_poll]")
	fs.DurationVar(&cfg.Backend.SolutionRetry.Duration, "work-wait", time.Minute, "how long a share waits for its work to be recorded [key backend.solution_retry_deadline]")
	fs.DurationVar(&cfg.Backend.FinderShareWait.Duration, "finder-share-wait", 0, "ignored (kept so that old unit files start): rounds are made by height at maturity, nothing waits for a winning share [key backend.finder_share_wait]")
	fs.DurationVar(&cfg.Backend.ConflictWatch.Duration, "payout-conflict-watch", 24*time.Hour, "how long after its confirmation a payout is still watched for a double spend by a deep reorganisation [key backend.payout_conflict_watch]")
	fs.DurationVar(&cfg.Backend.ResendGrace.Duration, "payout-resend-grace", 10*time.Second, "how long a payout an earlier (crashed) process planned is left alone before it is sent, in case its send is still executing [key backend.payout_resend_grace]")
	fs.DurationVar(&cfg.Backend.FundingCheck.Duration, "funding-check", time.Minute, "how often the wallet's balance is checked against what miners are owed [key backend.funding_check]")
	fs.StringVar(&cfg.Backend.MetricsListen, "metrics-listen", "", "Prometheus /metrics listen address (empty: none) [key backend.metrics_listen]")
	return func() (config.Config, error) {
		if cfg.Store.Events == "" || *nodeURL == "" || n.PoolAddress == "" {
			return cfg, errors.New("--store, --node-url and --pool-address are required")
		}
		network, ok := biblepay.LookupNetwork(n.Name)
		if !ok {
			return cfg, fmt.Errorf("unknown network %q", n.Name)
		}
		// A person's decimal BBP, as min_payout in the file (the RPC
		// amount parser would take "1/2", "0x10" or "-5").
		amt, err := config.ParseAmount(*minPayout)
		if err == nil && amt <= 0 {
			err = errors.New("must be above 0")
		}
		if err != nil {
			return cfg, fmt.Errorf("--min-payout: %w", err)
		}
		n.MinPayout = amt
		if n.Maturity == 0 {
			n.Maturity = network.Maturity
		}
		// node_url carries the RPC credentials as its user info.
		u, err := url.Parse(*nodeURL)
		if err != nil {
			return cfg, fmt.Errorf("--node-url: %w", err)
		}
		if *nodeUser != "" || *nodePassword != "" {
			u.User = url.UserPassword(*nodeUser, *nodePassword)
		}
		n.NodeURL = u.String()
		if cfg.Broker.URL == "" {
			cfg.Backend.JobsOnly = true
		}
		cfg.Networks = []config.Network{n}
		return cfg, nil
	}
}
