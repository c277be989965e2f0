// Package testenv gives integration tests fresh, isolated resources on the
// real services this machine runs (PostgreSQL, MariaDB, RabbitMQ), so tests
// in different packages can run at the same time without sharing state.
//
// A test that cannot reach a service is skipped, unless
// PUREPOOL_REQUIRE_SERVICES=1 (set by .ci/run), where it fails: CI must
// never pass by skipping.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// Environment variables naming the services' admin endpoints.
const (
	EnvPostgres = "PUREPOOL_TEST_PG"    // default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
	EnvMySQL    = "PUREPOOL_TEST_MYSQL" // default root@tcp(127.0.0.1:3306)/
	EnvAMQP     = "PUREPOOL_TEST_AMQP"  // default amqp://guest:guest@127.0.0.1:5672/
	EnvRequire  = "PUREPOOL_REQUIRE_SERVICES"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// PostgresAdminURL is the URL of a PostgreSQL superuser connection.
func PostgresAdminURL() string {
	return env(EnvPostgres, "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// MySQLAdminDSN is the go-sql-driver DSN of a MariaDB root connection, without a database.
func MySQLAdminDSN() string { return env(EnvMySQL, "root@tcp(127.0.0.1:3306)/") }

// AMQPURL is the URL of the RabbitMQ broker's admin user.
func AMQPURL() string { return env(EnvAMQP, "amqp://guest:guest@127.0.0.1:5672/") }

// Unavailable skips or fails the test because a service cannot be reached.
func Unavailable(tb testing.TB, service string, err error) {
	tb.Helper()
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatalf("%s is required (%s=1) but unavailable: %v", service, EnvRequire, err)
	}
	tb.Skipf("%s unavailable (set %s=1 to fail instead): %v", service, EnvRequire, err)
}

// UniqueName returns prefix followed by a random suffix, usable as a
// database, queue or exchange name.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}

// NewPostgresDB creates a fresh database and returns its URL (as the admin
// user). The database is dropped when the test ends.
func NewPostgresDB(tb testing.TB) string {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Unavailable(tb, "PostgreSQL", err)
	}
	defer conn.Close(ctx)
	name := UniqueName("pp_test")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			tb.Logf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvPostgres, err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewMySQLDB creates a fresh MariaDB database and returns a DSN for it (as
// the admin user, with parseTime). It is dropped when the test ends.
func NewMySQLDB(tb testing.TB) string {
	tb.Helper()
	admin := MySQLAdminDSN()
	db, err := sql.Open("mysql", admin)
	if err != nil {
		tb.Fatalf("open mysql: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		Unavailable(tb, "MariaDB", err)
	}
	name := UniqueName("pp_test")
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		tb.Fatalf("create database %s: %v", name, err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", admin)
		if err != nil {
			return
		}
		defer db.Close()
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name); err != nil {
			tb.Logf("drop database %s: %v", name, err)
		}
	})
	dsn := strings.TrimSuffix(admin, "/") + "/" + name
	if strings.Contains(dsn, "?") {
		return dsn + "&parseTime=true"
	}
	return dsn + "?parseTime=true"
}

// RequireAMQP returns the broker URL after checking that the broker accepts
// TCP connections; callers isolate themselves with UniqueName for exchanges
// and queues.
func RequireAMQP(tb testing.TB) string {
	tb.Helper()
	u, err := url.Parse(AMQPURL())
	if err != nil {
		tb.Fatalf("parse %s: %v", EnvAMQP, err)
	}
	host := u.Host
	if !strings.Contains(host, ":") {
		host += ":5672"
	}
	c, err := net.DialTimeout("tcp", host, 5*time.Second)
	if err != nil {
		Unavailable(tb, "RabbitMQ", fmt.Errorf("dial %s: %w", host, err))
	}
	c.Close()
	return AMQPURL()
}
