// Package grants holds the SQL that provisions Purepool's least-privilege
// database roles and users (run by `purepool setup` through package
// provision). The files are text/template: role, schema and database names
// are configurable, so they are inserted as quoted identifiers with the
// template functions ident (PostgreSQL "…") and mident (MariaDB `…`);
// passwords never appear in the templates (see package provision).
package grants

import "embed"

// FS holds postgres_roles.sql, postgres_grants.sql and mysql.sql.
//
//go:embed *.sql
var FS embed.FS
