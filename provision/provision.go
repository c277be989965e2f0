// Package provision sets up the data server for least privilege, as
// `purepool setup` does at deploy time: PostgreSQL roles and grants for the
// event store and read model, the MariaDB read-model database and users,
// and the RabbitMQ vhost, users, permissions and command topology.
//
// Every function is idempotent (re-running corrects drift and updates
// passwords) and safe to run concurrently, including from parallel tests
// that share the cluster-global PostgreSQL roles.
//
// What each role may do:
//
//	PostgreSQL  purepool_backend    SELECT, INSERT on every table of eventstore
//	            purepool_projector  SELECT on eventstore; owns readmodel; CREATE on
//	                                the database (its generation schemas)
//	            purepool_frontend   USAGE on readmodel, SELECT on its tables and views
//	                                (also those the projector creates later);
//	                                nothing on eventstore; read-only transactions
//	MariaDB     purepool_frontend   SELECT on purepool_readmodel.*
//	            purepool_projector  ALL PRIVILEGES on purepool_readmodel.*
//	RabbitMQ    purepool-frontend   vhost purepool: configure ^$, write ^purepool\.commands$, read ^$
//	            purepool-backend    configure ^$, write ^purepool\.commands\.dlx$, read ^purepool\.commands\.q$
//
// The topology is declared by setup with the admin connection, never by
// the frontend or backend.
package provision

import (
	"fmt"
	"regexp"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"

	"github.com/purepool/purepool/schema/grants"
)

// sqlName restricts database, schema, role and user names to plain
// identifiers: they are quoted anyway, but plain names keep every tool
// (psql, mariadb, ops scripts) simple.
var sqlName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

func checkNames(kind string, names map[string]string) error {
	for what, n := range names {
		if !sqlName.MatchString(n) {
			return fmt.Errorf("provision: %s %s name %q must match %s", kind, what, n, sqlName)
		}
	}
	return nil
}

func pgLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func mysqlString(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"ident":  func(s string) string { return pgx.Identifier{s}.Sanitize() },
	"lit":    pgLiteral,
	"mident": func(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" },
	"mstr":   mysqlString,
}).ParseFS(grants.FS, "*.sql"))

func render(name string, data any) (string, error) {
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("provision: render %s: %w", name, err)
	}
	return b.String(), nil
}
