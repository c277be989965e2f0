package provision

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// MySQLConfig names the MariaDB read-model database and its users.
type MySQLConfig struct {
	Database  string // "purepool_readmodel"
	Frontend  string // user with SELECT only
	Projector string // user with all privileges on Database
	// Host is the users' host part ("%": any; narrow it to the frontend's
	// and projector's addresses in production).
	Host string
	// Passwords; empty leaves an existing user's password unchanged, and
	// is refused for a user that does not exist yet.
	FrontendPassword, ProjectorPassword string
}

// DefaultMySQL returns the production names (no passwords).
func DefaultMySQL() MySQLConfig {
	return MySQLConfig{Database: "purepool_readmodel", Frontend: "purepool_frontend", Projector: "purepool_projector", Host: "%"}
}

var mysqlHost = regexp.MustCompile(`^[A-Za-z0-9_.%:-]{1,255}$`)

func (c MySQLConfig) validate() error {
	if err := checkNames("MariaDB", map[string]string{"database": c.Database, "frontend user": c.Frontend, "projector user": c.Projector}); err != nil {
		return err
	}
	if c.Frontend == c.Projector {
		return errors.New("provision: the MariaDB frontend and projector users must differ")
	}
	if !mysqlHost.MatchString(c.Host) {
		return fmt.Errorf("provision: MariaDB host %q", c.Host)
	}
	return nil
}

// MySQL creates the read-model database and its two users and grants them
// their privileges. adminDSN is a go-sql-driver DSN of a user allowed to
// create users and grant (root).
func MySQL(ctx context.Context, adminDSN string, cfg MySQLConfig) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	dsn, err := mysql.ParseDSN(adminDSN)
	if err != nil {
		return fmt.Errorf("provision: MariaDB DSN: %w", err)
	}
	// Passwords are bound as parameters; interpolating them client side
	// (with the driver's escaping) lets them reach ALTER USER, which the
	// server would not accept as a prepared statement.
	dsn.InterpolateParams = true
	connector, err := mysql.NewConnector(dsn)
	if err != nil {
		return fmt.Errorf("provision: MariaDB: %w", err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return fmt.Errorf("provision: connect to MariaDB: %w", err)
	}

	users := []struct{ name, password string }{{cfg.Frontend, cfg.FrontendPassword}, {cfg.Projector, cfg.ProjectorPassword}}
	for _, u := range users {
		if u.password != "" {
			continue
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?", u.name, cfg.Host).Scan(&n); err != nil {
			return fmt.Errorf("provision: MariaDB: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("provision: MariaDB user %s does not exist yet: a password is required", u.name)
		}
	}
	script, err := render("mysql.sql", cfg)
	if err != nil {
		return err
	}
	for _, q := range splitSQL(script) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("provision: MariaDB: %s: %w", firstLine(q), err)
		}
	}
	for _, u := range users {
		if u.password == "" {
			continue
		}
		q := "ALTER USER " + mysqlString(u.name) + "@" + mysqlString(cfg.Host) + " IDENTIFIED BY ?"
		if _, err := db.ExecContext(ctx, q, u.password); err != nil {
			return fmt.Errorf("provision: MariaDB: set the password of %s: %w", u.name, err)
		}
	}
	return nil
}

// splitSQL cuts a script at each ';' that ends a line (the driver runs one
// statement per call), dropping comment-only pieces.
func splitSQL(script string) []string {
	var out []string
	for _, part := range strings.Split(script, ";\n") {
		meaningful := false
		for _, l := range strings.Split(part, "\n") {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "--") {
				meaningful = true
			}
		}
		if meaningful {
			out = append(out, strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(part), ";")))
		}
	}
	return out
}

func firstLine(q string) string {
	for _, l := range strings.Split(q, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--") {
			return l
		}
	}
	return q
}
