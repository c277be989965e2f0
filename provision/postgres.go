package provision

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresConfig names the roles and schemas and carries the passwords.
type PostgresConfig struct {
	Backend, Projector, Frontend string // role names
	// Passwords; an empty one leaves that role's password as it is (a
	// re-run of setup need not know them all).
	BackendPassword, ProjectorPassword, FrontendPassword string
	EventSchema                                          string // "eventstore"
	ReadModelSchema                                      string // "readmodel"
	// FrontendStatementTimeout is the frontend role's statement_timeout
	// (PostgreSQL syntax, e.g. "5s").
	FrontendStatementTimeout string
	// FrontendConnectionLimit caps the frontend's connections (-1: none).
	FrontendConnectionLimit int
}

// DefaultPostgres returns the production names (no passwords).
func DefaultPostgres() PostgresConfig {
	return PostgresConfig{
		Backend:                  "purepool_backend",
		Projector:                "purepool_projector",
		Frontend:                 "purepool_frontend",
		EventSchema:              "eventstore",
		ReadModelSchema:          "readmodel",
		FrontendStatementTimeout: "5s",
		FrontendConnectionLimit:  -1,
	}
}

var pgDuration = regexp.MustCompile(`^[0-9]+(us|ms|s|min|h)?$`)

func (c PostgresConfig) validate() error {
	if err := checkNames("PostgreSQL", map[string]string{
		"backend role": c.Backend, "projector role": c.Projector, "frontend role": c.Frontend,
		"event schema": c.EventSchema, "read-model schema": c.ReadModelSchema,
	}); err != nil {
		return err
	}
	if c.Backend == c.Projector || c.Backend == c.Frontend || c.Projector == c.Frontend {
		return errors.New("provision: the three PostgreSQL roles must be distinct")
	}
	if !pgDuration.MatchString(c.FrontendStatementTimeout) {
		return fmt.Errorf("provision: frontend statement timeout %q is not a PostgreSQL duration", c.FrontendStatementTimeout)
	}
	if c.FrontendConnectionLimit < -1 {
		return fmt.Errorf("provision: frontend connection limit %d", c.FrontendConnectionLimit)
	}
	for _, pw := range []string{c.BackendPassword, c.ProjectorPassword, c.FrontendPassword} {
		if strings.ContainsRune(pw, 0) {
			return errors.New("provision: a password contains a NUL byte")
		}
	}
	return nil
}

// Postgres creates the roles (cluster-wide) and grants their privileges in
// the database adminURL names. adminURL must be a superuser connection (it
// sets default privileges for the projector role); the same role should
// run the event-store migrations, since eventstore's default privileges
// attach to it. Running it before or after the migrations gives the same
// result.
func Postgres(ctx context.Context, adminURL string, cfg PostgresConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("provision: connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var database string
	if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&database); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	if err := checkNames("PostgreSQL", map[string]string{"database": database}); err != nil {
		return err
	}
	data := struct {
		PostgresConfig
		Database string
	}{cfg, database}
	roles, err := render("postgres_roles.sql", data)
	if err != nil {
		return err
	}
	grantsSQL, err := render("postgres_grants.sql", data)
	if err != nil {
		return err
	}
	settings := map[string]string{
		"purepool.backend_password":   cfg.BackendPassword,
		"purepool.projector_password": cfg.ProjectorPassword,
		"purepool.frontend_password":  cfg.FrontendPassword,
	}
	if err := retryRaces(ctx, func() error { return runTx(ctx, conn, settings, roles) }); err != nil {
		return fmt.Errorf("provision: PostgreSQL roles: %w", err)
	}
	if err := retryRaces(ctx, func() error { return runTx(ctx, conn, nil, grantsSQL) }); err != nil {
		return fmt.Errorf("provision: PostgreSQL grants in %s: %w", database, err)
	}
	return nil
}

// runTx runs script in one transaction, after setting the given
// transaction-local settings (how passwords reach the script without
// being written into SQL text or server logs).
func runTx(ctx context.Context, conn *pgx.Conn, settings map[string]string, script string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for k, v := range settings {
			if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", k, v); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, script) // no arguments: simple protocol, many statements
		return err
	})
}

// retryRaces re-runs fn when it lost a race with a concurrent setup: roles
// and their settings are cluster-wide rows that parallel sessions update.
func retryRaces(ctx context.Context, fn func() error) error {
	var err error
	for attempt := range 20 {
		if err = fn(); err == nil || !isRace(err) {
			return err
		}
		d := time.Duration(10+rand.IntN(40*(attempt+1))) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
	return err
}

func isRace(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "42710", "23505", "40001", "40P01": // duplicate_object, unique_violation, serialization, deadlock
		return true
	case "XX000":
		return strings.Contains(pe.Message, "tuple concurrently")
	}
	return false
}
