package provision_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/provision"
	"github.com/purepool/purepool/schema"
)

// uniqueRoles gives a test its own cluster-global role names, dropped when
// it ends (before testenv drops the databases).
func uniqueRoles(t *testing.T, dbURLs ...string) provision.PostgresConfig {
	t.Helper()
	p := testenv.UniqueName("pp_t")
	cfg := provision.DefaultPostgres()
	cfg.Backend, cfg.Projector, cfg.Frontend = p+"_backend", p+"_projector", p+"_frontend"
	cfg.BackendPassword, cfg.ProjectorPassword, cfg.FrontendPassword = "b'ack\\end pw", "proj pw", "front pw"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// One role per DROP OWNED: several at once trips over the default
		// ACL entries they share ("could not find tuple for default ACL").
		names := []string{cfg.Frontend, cfg.Backend, cfg.Projector}
		for _, u := range dbURLs {
			c, err := pgx.Connect(ctx, u)
			if err != nil {
				t.Logf("drop roles: %v", err)
				return
			}
			for _, n := range names {
				if _, err := c.Exec(ctx, "DROP OWNED BY "+pgx.Identifier{n}.Sanitize()); err != nil {
					t.Logf("drop owned by %s: %v", n, err)
				}
			}
			c.Close(ctx)
		}
		roles := pgx.Identifier{cfg.Backend}.Sanitize() + ", " + pgx.Identifier{cfg.Projector}.Sanitize() + ", " + pgx.Identifier{cfg.Frontend}.Sanitize()
		c, err := pgx.Connect(ctx, testenv.PostgresAdminURL())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+roles); err != nil {
			t.Logf("drop roles: %v", err)
		}
	})
	return cfg
}

// connectAs opens a connection to the database of dbURL as role.
func connectAs(t *testing.T, dbURL, role, password string) *pgx.Conn {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(role, password)
	c, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatalf("connect as %s: %v", role, err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func adminConn(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func mustExec(t *testing.T, c *pgx.Conn, q string) {
	t.Helper()
	if _, err := c.Exec(t.Context(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// sqlState runs q (in a READ WRITE transaction when rw) and returns the
// SQLSTATE of its error, "" on success. The transaction is rolled back.
func sqlState(t *testing.T, c *pgx.Conn, rw bool, q string) string {
	t.Helper()
	opts := pgx.TxOptions{}
	if rw {
		opts.AccessMode = pgx.ReadWrite
	}
	tx, err := c.BeginTx(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	rows, err := tx.Query(t.Context(), q)
	if err == nil {
		for rows.Next() {
		}
		rows.Close()
		err = rows.Err()
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return ""
}

func migrateEventStore(t *testing.T, dbURL string) {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := schema.Apply(t.Context(), db, schema.EventStorePostgres); err != nil {
		t.Fatal(err)
	}
}

var _ = stdlib.GetDefaultDriver // registers "pgx" for database/sql

func TestPostgresLeastPrivilege(t *testing.T) {
	t.Parallel()
	dbURL := testenv.NewPostgresDB(t)
	cfg := uniqueRoles(t, dbURL)
	admin := adminConn(t, dbURL)
	ctx := t.Context()

	// A table that exists before setup (granted by "ALL TABLES") ...
	mustExec(t, admin, "CREATE SCHEMA eventstore; CREATE TABLE eventstore.before_setup (x int)")
	for range 2 { // idempotent
		if err := provision.Postgres(ctx, dbURL, cfg); err != nil {
			t.Fatal(err)
		}
	}
	// ... and the real event-store migrations after it (default privileges).
	migrateEventStore(t, dbURL)

	var withPassword int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_authid WHERE rolname = ANY($1) AND rolpassword IS NOT NULL AND rolcanlogin AND NOT rolsuper",
		[]string{cfg.Backend, cfg.Projector, cfg.Frontend}).Scan(&withPassword); err != nil {
		t.Fatal(err)
	}
	if withPassword != 3 {
		t.Errorf("%d of 3 roles are non-superuser logins with a password", withPassword)
	}

	projector := connectAs(t, dbURL, cfg.Projector, cfg.ProjectorPassword)
	mustExec(t, projector, "CREATE TABLE readmodel.balances (miner text PRIMARY KEY, sat bigint NOT NULL)")
	mustExec(t, projector, "INSERT INTO readmodel.balances VALUES ('B5tWpb', 150000000)")
	mustExec(t, projector, "CREATE SCHEMA readmodel_v1; CREATE TABLE readmodel_v1.t (x int); CREATE VIEW readmodel.v AS SELECT * FROM readmodel_v1.t")
	if got := sqlState(t, projector, false, "SELECT count(*) FROM eventstore.events"); got != "" {
		t.Errorf("projector reading eventstore.events: %s", got)
	}
	if got := sqlState(t, projector, true, "INSERT INTO eventstore.before_setup VALUES (1)"); got != "42501" {
		t.Errorf("projector writing the event store: SQLSTATE %q, want 42501", got)
	}

	backend := connectAs(t, dbURL, cfg.Backend, cfg.BackendPassword)
	for _, q := range []string{
		"INSERT INTO eventstore.before_setup VALUES (1)",
		"SELECT * FROM eventstore.events",
		"SELECT * FROM eventstore.schema_migrations",
	} {
		if got := sqlState(t, backend, true, q); got != "" {
			t.Errorf("backend %q: SQLSTATE %s, want success", q, got)
		}
	}
	for _, q := range []string{
		"UPDATE eventstore.events SET type = 'x'",
		"DELETE FROM eventstore.events",
		"TRUNCATE eventstore.events",
		"SELECT * FROM readmodel.balances",
		"CREATE TABLE eventstore.mine (x int)",
	} {
		if got := sqlState(t, backend, true, q); got != "42501" {
			t.Errorf("backend %q: SQLSTATE %q, want 42501", q, got)
		}
	}

	frontend := connectAs(t, dbURL, cfg.Frontend, cfg.FrontendPassword)
	var sat int64
	if err := frontend.QueryRow(ctx, "SELECT sat FROM readmodel.balances").Scan(&sat); err != nil || sat != 150000000 {
		t.Fatalf("frontend reading a table the projector created after setup: %d, %v", sat, err)
	}
	if got := sqlState(t, frontend, false, "SELECT * FROM readmodel.v"); got != "" {
		t.Errorf("frontend reading a projector view: SQLSTATE %s", got)
	}
	// Default transactions are read only ...
	if got := sqlState(t, frontend, false, "INSERT INTO readmodel.balances VALUES ('x', 1)"); got != "25006" {
		t.Errorf("frontend INSERT in a default transaction: SQLSTATE %q, want 25006 (read only)", got)
	}
	// ... but that is only a default the role can override: the grants are
	// the boundary, so every write is checked in a READ WRITE transaction.
	for _, q := range []string{
		"INSERT INTO readmodel.balances VALUES ('x', 1)",
		"UPDATE readmodel.balances SET sat = 0",
		"DELETE FROM readmodel.balances",
		"TRUNCATE readmodel.balances",
		"CREATE TABLE readmodel.mine (x int)",
		"CREATE TABLE public.mine (x int)",
		"CREATE SCHEMA mine",
		"SELECT * FROM eventstore.events",
		"SELECT * FROM eventstore.before_setup",
		"SELECT * FROM readmodel_v1.t",
	} {
		if got := sqlState(t, frontend, true, q); got != "42501" {
			t.Errorf("frontend %q: SQLSTATE %q, want 42501", q, got)
		}
	}
	// Catalog sweep: the frontend holds no write privilege on any table.
	var writable []string
	rows, err := admin.Query(ctx, `SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r','p','v','m') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		AND has_table_privilege($1, c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')`, cfg.Frontend)
	if err != nil {
		t.Fatal(err)
	}
	writable, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(writable) > 0 {
		t.Errorf("frontend may write %v", writable)
	}

	// A table made in readmodel by another role (here the superuser) is
	// not covered by the projector's default privileges; re-running setup
	// hands it to the projector and grants it.
	mustExec(t, admin, "CREATE TABLE readmodel.made_by_admin (x int)")
	if got := sqlState(t, frontend, false, "SELECT * FROM readmodel.made_by_admin"); got != "42501" {
		t.Errorf("frontend reading a superuser's table before re-running setup: %q, want 42501", got)
	}
	if err := provision.Postgres(ctx, dbURL, cfg); err != nil {
		t.Fatal(err)
	}
	if got := sqlState(t, frontend, false, "SELECT * FROM readmodel.made_by_admin"); got != "" {
		t.Errorf("frontend reading it after setup: %s", got)
	}
	var owner string
	if err := admin.QueryRow(ctx, "SELECT tableowner FROM pg_tables WHERE schemaname = 'readmodel' AND tablename = 'made_by_admin'").Scan(&owner); err != nil || owner != cfg.Projector {
		t.Errorf("owner of readmodel.made_by_admin = %q (%v), want %s", owner, err, cfg.Projector)
	}
}

// TestPostgresConcurrentSetup: roles are cluster-global, so setups of
// different databases (parallel tests, or two operators) race on them.
func TestPostgresConcurrentSetup(t *testing.T) {
	t.Parallel()
	dbs := []string{testenv.NewPostgresDB(t), testenv.NewPostgresDB(t), testenv.NewPostgresDB(t)}
	cfg := uniqueRoles(t, dbs...)
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(dbs))
	for _, db := range dbs {
		for range 2 {
			wg.Go(func() { errs <- provision.Postgres(t.Context(), db, cfg) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	for _, db := range dbs {
		fe := connectAs(t, db, cfg.Frontend, cfg.FrontendPassword)
		var ro string
		if err := fe.QueryRow(t.Context(), "SHOW default_transaction_read_only").Scan(&ro); err != nil || ro != "on" {
			t.Errorf("frontend default_transaction_read_only = %q, %v", ro, err)
		}
	}
}

func TestPostgresRejectsBadNames(t *testing.T) {
	t.Parallel()
	cfg := provision.DefaultPostgres()
	cfg.Frontend = `x"; DROP TABLE y; --`
	err := provision.Postgres(t.Context(), "postgres://127.0.0.1:1/none", cfg)
	if err == nil || !strings.Contains(err.Error(), "must match") {
		t.Fatalf("got %v, want a name error before connecting", err)
	}
}
