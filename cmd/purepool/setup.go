package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"

	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/provision"
)

// Passwords come from the environment, not flags (flags show in ps).
const (
	envPGBackendPassword      = "PUREPOOL_PG_BACKEND_PASSWORD"
	envPGProjectorPassword    = "PUREPOOL_PG_PROJECTOR_PASSWORD"
	envPGFrontendPassword     = "PUREPOOL_PG_FRONTEND_PASSWORD"
	envMySQLFrontendPassword  = "PUREPOOL_MYSQL_FRONTEND_PASSWORD"
	envMySQLProjectorPassword = "PUREPOOL_MYSQL_PROJECTOR_PASSWORD"
	envAMQPFrontendPassword   = "PUREPOOL_AMQP_FRONTEND_PASSWORD"
	envAMQPBackendPassword    = "PUREPOOL_AMQP_BACKEND_PASSWORD"
	envAMQPAdminPassword      = "PUREPOOL_AMQP_ADMIN_PASSWORD"
)

func init() {
	register("setup", "provision least-privilege roles, users and the command topology (data server; idempotent)", runSetup)
}

func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("setup", stderr)
	pgURL := fs.String("pg", "", "PostgreSQL superuser URL of the pool's database (roles, grants); empty skips PostgreSQL")
	pg := provision.DefaultPostgres()
	fs.StringVar(&pg.Backend, "pg-backend-role", pg.Backend, "PostgreSQL role that writes events")
	fs.StringVar(&pg.Projector, "pg-projector-role", pg.Projector, "PostgreSQL role that reads events and owns the read model")
	fs.StringVar(&pg.Frontend, "pg-frontend-role", pg.Frontend, "PostgreSQL read-only role of the website")
	mysqlDSN := fs.String("mysql", "", "MariaDB admin DSN, e.g. root@tcp(127.0.0.1:3306)/; empty skips MariaDB")
	my := provision.DefaultMySQL()
	fs.StringVar(&my.Database, "mysql-database", my.Database, "MariaDB read-model database")
	fs.StringVar(&my.Frontend, "mysql-frontend-user", my.Frontend, "MariaDB read-only user")
	fs.StringVar(&my.Projector, "mysql-projector-user", my.Projector, "MariaDB user of the projector")
	fs.StringVar(&my.Host, "mysql-host", my.Host, "host part of the MariaDB users")
	amqpURL := fs.String("amqp", "", "RabbitMQ administrator's AMQP URL, e.g. amqp://admin@broker:5672/ (password here or in "+
		envAMQPAdminPassword+"; the user needs the administrator tag); empty skips RabbitMQ")
	rb := provision.DefaultRabbitMQ()
	fs.StringVar(&rb.ManagementURL, "amqp-management", "", "RabbitMQ management API, e.g. https://broker:15671 (default http://<-amqp host>:15672, https://<host>:15671 for amqps)")
	fs.StringVar(&rb.Ctl, "rabbitmqctl", rb.Ctl, "local rabbitmqctl, used only if the management API is unreachable (root on the broker's host); empty: no fallback")
	fs.StringVar(&rb.VHost, "amqp-vhost", rb.VHost, "RabbitMQ vhost")
	fs.StringVar(&rb.FrontendUser, "amqp-frontend-user", rb.FrontendUser, "RabbitMQ publish-only user")
	fs.StringVar(&rb.BackendUser, "amqp-backend-user", rb.BackendUser, "RabbitMQ consumer user")
	fs.StringVar(&rb.Topology.Exchange, "amqp-exchange", rb.Topology.Exchange, "command exchange the frontend user may publish to (broker.exchange)")
	fs.StringVar(&rb.Topology.Queue, "amqp-queue", rb.Topology.Queue, "command queue the backend user consumes (broker.queue)")
	dlExchange := fs.String("amqp-dead-letter-exchange", "", "dead-letter exchange (broker.dead_letter_exchange; empty: -amqp-exchange + \".dlx\")")
	dlQueue := fs.String("amqp-dead-letter-queue", "", "dead-letter queue (broker.dead_letter_queue; empty: -amqp-exchange + \".dead\")")
	fs.IntVar(&rb.Topology.DeliveryLimit, "amqp-delivery-limit", rb.Topology.DeliveryLimit, "redeliveries before a command is dead-lettered")
	fs.IntVar(&rb.Topology.MaxLength, "amqp-max-length", rb.Topology.MaxLength, "command queue length limit (0: none); beyond it publishes are refused")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: purepool setup [-pg URL] [-mysql DSN] [-amqp URL] [flags]")
		fmt.Fprintln(stderr, "\nPasswords are read from the environment:")
		for _, e := range []string{envPGBackendPassword, envPGProjectorPassword, envPGFrontendPassword,
			envMySQLFrontendPassword, envMySQLProjectorPassword, envAMQPFrontendPassword, envAMQPBackendPassword, envAMQPAdminPassword} {
			fmt.Fprintln(stderr, "  "+e)
		}
		fmt.Fprintln(stderr, "(empty: an existing role keeps its password; a new MariaDB or RabbitMQ user needs one)")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	// The dead-letter names follow the exchange's as the configuration
	// derives them, so a file that names only the exchange matches.
	rb.Topology.DeadLetterExchange, rb.Topology.DeadLetterQueue = config.Broker{
		Exchange: rb.Topology.Exchange, DeadLetterExchange: *dlExchange, DeadLetterQueue: *dlQueue}.DeadLetterNames()
	if *pgURL == "" && *mysqlDSN == "" && *amqpURL == "" {
		return usageError{fmt.Errorf("nothing to set up: give -pg, -mysql and/or -amqp")}
	}
	if *pgURL != "" {
		pg.BackendPassword = os.Getenv(envPGBackendPassword)
		pg.ProjectorPassword = os.Getenv(envPGProjectorPassword)
		pg.FrontendPassword = os.Getenv(envPGFrontendPassword)
		if err := provision.Postgres(ctx, *pgURL, pg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "PostgreSQL: roles %s, %s, %s provisioned\n", pg.Backend, pg.Projector, pg.Frontend)
	}
	if *mysqlDSN != "" {
		my.FrontendPassword = os.Getenv(envMySQLFrontendPassword)
		my.ProjectorPassword = os.Getenv(envMySQLProjectorPassword)
		if err := provision.MySQL(ctx, *mysqlDSN, my); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "MariaDB: database %s, users %s (SELECT) and %s (ALL) provisioned\n", my.Database, my.Frontend, my.Projector)
	}
	if *amqpURL != "" {
		admin, err := adminAMQPURL(*amqpURL, os.Getenv(envAMQPAdminPassword))
		if err != nil {
			return usageError{err}
		}
		rb.AdminURL = admin
		rb.Logger = slog.New(slog.NewTextHandler(stderr, nil))
		rb.FrontendPassword = os.Getenv(envAMQPFrontendPassword)
		rb.BackendPassword = os.Getenv(envAMQPBackendPassword)
		if err := provision.RabbitMQ(ctx, rb); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "RabbitMQ: vhost %s, users %s and %s, topology %s -> %s provisioned\n",
			rb.VHost, rb.FrontendUser, rb.BackendUser, rb.Topology.Exchange, rb.Topology.Queue)
	}
	return nil
}

// adminAMQPURL puts the administrator's password from the environment into
// the URL, so that it need not show in ps. The password is given once:
// in the URL or in the environment.
func adminAMQPURL(raw, envPassword string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("-amqp: %w", err)
	}
	if envPassword == "" {
		return raw, nil
	}
	if u.User == nil || u.User.Username() == "" {
		return "", fmt.Errorf("-amqp %s: name the administrator (amqp://admin@host:5672/) whose password is in %s", u.Redacted(), envAMQPAdminPassword)
	}
	if _, set := u.User.Password(); set {
		return "", fmt.Errorf("-amqp %s: the administrator's password is both in the URL and in %s; give it once", u.Redacted(), envAMQPAdminPassword)
	}
	u.User = url.UserPassword(u.User.Username(), envPassword)
	return u.String(), nil
}
