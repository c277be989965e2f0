package provision_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/provision"
)

func mysqlAs(t *testing.T, admin *mysql.Config, user, password, database string) *sql.DB {
	t.Helper()
	c := admin.Clone()
	c.User, c.Passwd, c.DBName = user, password, database
	db, err := sql.Open("mysql", c.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	return db
}

func mysqlErrNo(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func TestMySQLLeastPrivilege(t *testing.T) {
	t.Parallel()
	dsn := testenv.NewMySQLDB(t) // a fresh database; setup adopts it
	admin, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.UniqueName("pp_t")
	cfg := provision.DefaultMySQL()
	cfg.Database, cfg.Frontend, cfg.Projector = admin.DBName, p+"_fe", p+"_proj"
	cfg.FrontendPassword, cfg.ProjectorPassword = `fe pw with ' and \ and ?`, "proj pw"
	t.Cleanup(func() {
		db, err := sql.Open("mysql", testenv.MySQLAdminDSN())
		if err != nil {
			return
		}
		defer db.Close()
		for _, u := range []string{cfg.Frontend, cfg.Projector} {
			if _, err := db.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", u)); err != nil {
				t.Logf("drop user %s: %v", u, err)
			}
		}
	})
	missing := cfg
	missing.FrontendPassword = ""
	if err := provision.MySQL(t.Context(), testenv.MySQLAdminDSN(), missing); err == nil {
		t.Fatal("setup created a MariaDB user without a password")
	}
	for range 2 { // idempotent
		if err := provision.MySQL(t.Context(), testenv.MySQLAdminDSN(), cfg); err != nil {
			t.Fatal(err)
		}
	}

	proj := mysqlAs(t, admin, cfg.Projector, cfg.ProjectorPassword, cfg.Database)
	for _, q := range []string{
		"CREATE TABLE balances (miner VARCHAR(64) PRIMARY KEY, sat BIGINT NOT NULL)",
		"INSERT INTO balances VALUES ('B5tWpb', 150000000)",
		"RENAME TABLE balances TO balances_old, balances_old TO balances",
	} {
		if _, err := proj.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("projector %q: %v", q, err)
		}
	}
	if _, err := proj.ExecContext(t.Context(), "SELECT * FROM mysql.user"); mysqlErrNo(err) != 1142 {
		t.Errorf("projector reading mysql.user: %v, want error 1142", err)
	}

	fe := mysqlAs(t, admin, cfg.Frontend, cfg.FrontendPassword, cfg.Database)
	wrong := admin.Clone()
	wrong.User, wrong.Passwd, wrong.DBName = cfg.Frontend, "wrong", cfg.Database
	if db, err := sql.Open("mysql", wrong.FormatDSN()); err == nil {
		if err := db.PingContext(t.Context()); mysqlErrNo(err) != 1045 {
			t.Errorf("frontend with a wrong password: %v, want error 1045", err)
		}
		db.Close()
	}
	var sat int64
	if err := fe.QueryRowContext(t.Context(), "SELECT sat FROM balances").Scan(&sat); err != nil || sat != 150000000 {
		t.Fatalf("frontend reading a table created after setup: %d, %v", sat, err)
	}
	for _, q := range []string{
		"INSERT INTO balances VALUES ('x', 1)",
		"UPDATE balances SET sat = 0",
		"DELETE FROM balances",
		"TRUNCATE TABLE balances",
		"CREATE TABLE mine (x INT)",
		"DROP TABLE balances",
		"ALTER TABLE balances ADD COLUMN y INT",
		"SELECT * FROM mysql.user",
	} {
		if _, err := fe.ExecContext(t.Context(), q); mysqlErrNo(err) != 1142 {
			t.Errorf("frontend %q: %v, want error 1142", q, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n int
	if err := fe.QueryRowContext(ctx, "SELECT COUNT(*) FROM balances").Scan(&n); err != nil || n != 1 {
		t.Errorf("the frontend's failed writes changed something: %d rows, %v", n, err)
	}
}
