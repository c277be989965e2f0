package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/rehearse"
)

func init() {
	register("rehearse", "dress rehearsal of the three-server layout on one machine with a simulated node (--config FILE)", runRehearse)
}

func runRehearse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rehearse", stderr)
	file := fs.String("config", "", "your configuration file (TOML): its servers and role credentials are rehearsed")
	dir := fs.String("dir", "purepool-rehearsal", "rehearsal folder: the derived configuration and every process's log")
	network := fs.String("network", "", "the [[network]] rehearsed (default the file's first)")
	suffix := fs.String("suffix", rehearse.DefaultSuffix, "appended to your PostgreSQL and MariaDB databases and RabbitMQ vhost; the rehearsal writes only there")
	iKnow := fs.Bool("i-know", false, "allow an empty --suffix: rehearse in your own databases and vhost (refused anyway if they hold events)")
	reset := fs.Bool("reset", false, "drop the databases an earlier rehearsal made (marked as such) and purge its queues, then start afresh")
	pgAdmin := fs.String("pg-admin", "", "PostgreSQL superuser URL, as purepool setup takes it (default postgres://postgres@<store.events host>/postgres)")
	amqpAdmin := fs.String("amqp-admin", "", "RabbitMQ administrator URL (default amqp://guest:guest@<broker.url host>/)")
	mysqlAdmin := fs.String("mysql-admin", "", "MariaDB administrator DSN, read model on MariaDB only (default root@tcp(<store.readmodel host>)/)")
	mysqlHost := fs.String("mysql-host", "%", "host part of the MariaDB users setup makes")
	envFrontend := fs.String("env-frontend", "", "the frontend's environment file (e.g. /etc/purepool/frontend.env), added to this environment")
	envBackend := fs.String("env-backend", "", "the backend's environment file (e.g. /etc/purepool/backend.env)")
	envProjector := fs.String("env-projector", "", "the projector's environment file (e.g. /etc/purepool/projector.env)")
	addr := fs.String("addr", "127.0.0.1:0", "the rehearsal frontend's listen address (website and Action.aspx)")
	miners := fs.Int("miners", 4, "simulated miners (processes)")
	blockTime := fs.Duration("block-time", 2*time.Second, "the simulated network's block interval")
	maturity := fs.Int64("maturity", 10, "confirmations before a pool block is credited, on the pool and the simulated node alike")
	payoutInterval := fs.Duration("payout-interval", 5*time.Second, "payout schedule of the rehearsal")
	minPayout := fs.String("min-payout", "1", "minimum payout of the rehearsal, in BBP")
	duration := fs.Duration("duration", 0, "stop after this long (0: on Ctrl-C)")
	payoutTimeout := fs.Duration("payout-timeout", 10*time.Minute, "fail when no payout shows on the website by then")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return usageError{errors.New("--config FILE is required")}
	}
	mp, err := config.ParseAmount(*minPayout)
	if err == nil && mp <= 0 {
		err = errors.New("must be above 0")
	}
	if err != nil {
		return usageError{fmt.Errorf("--min-payout: %w", err)}
	}
	if *miners < 1 || *maturity < 1 || *blockTime <= 0 || *payoutInterval <= 0 {
		return usageError{errors.New("--miners, --maturity, --block-time and --payout-interval must be positive")}
	}
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("rehearse: this binary: %w", err)
	}
	_, err = rehearse.Run(ctx, rehearse.Options{
		ConfigFile: *file, Binary: bin, Dir: *dir, Network: *network, Suffix: *suffix, IKnow: *iKnow, Reset: *reset,
		PGAdmin: *pgAdmin, AMQPAdmin: *amqpAdmin, MySQLAdmin: *mysqlAdmin, MySQLHost: *mysqlHost,
		EnvFiles: map[rehearse.Role]string{rehearse.Frontend: *envFrontend, rehearse.Backend: *envBackend, rehearse.Projector: *envProjector},
		Addr:     *addr, Miners: *miners, BlockTime: *blockTime, Maturity: *maturity, PayoutInterval: *payoutInterval,
		MinPayoutSat: mp.Sat(), Duration: *duration, PayoutTimeout: *payoutTimeout, Stdout: stdout,
	})
	if err != nil && ctx.Err() != nil {
		// Ctrl-C is how a rehearsal ends: only a failure may exit non-zero,
		// never the interruption itself (Main reads a bare Canceled as 0).
		return statusError{err, 1}
	}
	return err
}
