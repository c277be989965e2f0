package rehearse

// Making the rehearsal's databases safe to write: created fresh and marked
// as a rehearsal's, reset only when marked, never a ledger in use.

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands/rabbitmq"
)

// markerTable marks a PostgreSQL database as made by `purepool rehearse`:
// only such a database is ever dropped (--reset).
const markerTable = "public.purepool_rehearsal"

// pgURLWithDB is the admin URL connected to database db.
func pgURLWithDB(admin, db string) (string, error) {
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("--pg-admin: want postgres://superuser@host:port/postgres")
	}
	u.Path = "/" + db
	u.RawPath = ""
	return u.String(), nil
}

// preparePostgres makes sure the rehearsal database db exists, is empty
// or an earlier rehearsal's (dropped and made again with reset), and is
// marked. own is true when db is the operator's own database (empty
// suffix, --i-know): it is never dropped, and used only without events.
func preparePostgres(ctx context.Context, admin, db string, own, reset bool) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("PostgreSQL as --pg-admin: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", db).Scan(&exists); err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	dbURL, err := pgURLWithDB(admin, db)
	if err != nil {
		return err
	}
	if exists {
		marked, events, err := inspectPostgres(ctx, dbURL)
		if err != nil {
			return err
		}
		switch {
		case marked && !own && reset:
			if _, err := conn.Exec(ctx, "DROP DATABASE "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("PostgreSQL: drop the earlier rehearsal's database %s: %w", db, err)
			}
			exists = false
		case marked && !own:
			return fmt.Errorf("database %s holds an earlier rehearsal (%d events): --reset drops it (and the rehearsal's queues and MariaDB database) and starts afresh", db, events)
		case own && reset:
			return fmt.Errorf("--reset never drops your own database %s (it only drops a rehearsal's, made with a --suffix)", db)
		case events > 0:
			return fmt.Errorf("database %s holds %d events: a rehearsal never writes simulated blocks into a ledger that may be real; choose another --suffix", db, events)
		case !own:
			return fmt.Errorf("database %s exists and was not made by purepool rehearse (it is never dropped): choose another --suffix, or drop it yourself", db)
		}
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
			return fmt.Errorf("PostgreSQL: create the rehearsal's database %s: %w", db, err)
		}
	}
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("PostgreSQL database %s: %w", db, err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+markerTable+" (created_at timestamptz NOT NULL DEFAULT now(), note text NOT NULL);"+
		" INSERT INTO "+markerTable+" (note) VALUES ('made by purepool rehearse; --reset may drop this database')"); err != nil {
		return fmt.Errorf("PostgreSQL database %s: mark it as a rehearsal's: %w", db, err)
	}
	return nil
}

// inspectPostgres says whether the database is a rehearsal's and how many
// events its event store holds.
func inspectPostgres(ctx context.Context, dbURL string) (marked bool, events int64, err error) {
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return false, 0, fmt.Errorf("PostgreSQL: %w", err)
	}
	defer c.Close(context.WithoutCancel(ctx))
	var hasEvents bool
	if err := c.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL, to_regclass('eventstore.events') IS NOT NULL", markerTable).Scan(&marked, &hasEvents); err != nil {
		return false, 0, fmt.Errorf("PostgreSQL: %w", err)
	}
	if hasEvents {
		if err := c.QueryRow(ctx, "SELECT count(*) FROM eventstore.events").Scan(&events); err != nil {
			return false, 0, fmt.Errorf("PostgreSQL: %w", err)
		}
	}
	return marked, events, nil
}

// prepareMySQL drops a rehearsal's read-model database left by an earlier
// rehearsal (reset), and refuses one with tables otherwise: its views would
// not match the fresh event store. `purepool setup` creates it.
func prepareMySQL(ctx context.Context, adminDSN, db string, own, reset bool) error {
	cfg, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return fmt.Errorf("--mysql-admin: want user:password@tcp(host:3306)/: %w", err)
	}
	cfg.DBName = ""
	h, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return err
	}
	defer h.Close()
	var tables int
	if err := h.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = ?", db).Scan(&tables); err != nil {
		return fmt.Errorf("MariaDB as --mysql-admin: %w", err)
	}
	switch {
	case tables == 0:
		return nil
	case reset && !own:
		_, err := h.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+strings.ReplaceAll(db, "`", "``")+"`")
		if err != nil {
			return fmt.Errorf("MariaDB: drop the earlier rehearsal's database %s: %w", db, err)
		}
		return nil
	default:
		return fmt.Errorf("MariaDB database %s holds %d tables (an earlier rehearsal's read model?): --reset drops it with a --suffix; your own is never dropped", db, tables)
	}
}

// purgeQueues empties the rehearsal vhost's command queues: commands left
// by an earlier rehearsal would name work the fresh ledger never issued.
func purgeQueues(ctx context.Context, adminURL, vhost string, top rabbitmq.Topology) error {
	uri, err := amqp.ParseURI(adminURL)
	if err != nil {
		return fmt.Errorf("--amqp-admin: %w", err)
	}
	uri.Vhost = vhost
	conn, err := amqp.DialConfig(uri.String(), amqp.Config{Dial: amqp.DefaultDial(defaultDialTimeout)})
	if err != nil {
		return fmt.Errorf("RabbitMQ vhost %s as the admin: %w", vhost, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	for _, q := range []string{top.Queue, top.DeadLetterQueue} {
		if _, err := ch.QueuePurge(q, false); err != nil {
			return fmt.Errorf("RabbitMQ: purge %s in vhost %s: %w", q, vhost, err)
		}
	}
	_ = ctx // amqp091 dials and purges without a context
	return nil
}
