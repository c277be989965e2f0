package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/purepool/purepool/internal/testenv"
)

func TestSetup_NothingToDo(t *testing.T) {
	code, _, stderr := runMain(t, "setup")
	if code != 2 || !strings.Contains(stderr, "nothing to set up") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestSetup_Postgres wires the flags and environment through to package
// provision (which has the full least-privilege tests).
func TestSetup_Postgres(t *testing.T) {
	dbURL := testenv.NewPostgresDB(t)
	p := testenv.UniqueName("pp_t")
	be, pr, fe := p+"_be", p+"_pr", p+"_fe"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dbURL); err == nil {
			for _, r := range []string{fe, be, pr} {
				c.Exec(ctx, "DROP OWNED BY "+r)
			}
			c.Close(ctx)
		}
		if c, err := pgx.Connect(ctx, testenv.PostgresAdminURL()); err == nil {
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+be+", "+pr+", "+fe); err != nil {
				t.Logf("drop roles: %v", err)
			}
			c.Close(ctx)
		}
	})
	if code, _, stderr := runMain(t, "migrate", "--store", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	t.Setenv(envPGFrontendPassword, "front pw")
	code, stdout, stderr := runMain(t, "setup", "-pg", dbURL, "-pg-backend-role", be, "-pg-projector-role", pr, "-pg-frontend-role", fe)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, fe) {
		t.Errorf("stdout %q does not name the roles", stdout)
	}
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(fe, "front pw")
	c, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var ro string
	if err := c.QueryRow(t.Context(), "SHOW default_transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("frontend default_transaction_read_only %q, %v", ro, err)
	}
	var pe *pgconn.PgError
	if _, err := c.Exec(t.Context(), "SELECT 1 FROM eventstore.events"); !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("frontend reading the event store: %v, want SQLSTATE 42501", err)
	}
}
