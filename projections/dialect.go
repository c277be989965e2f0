package projections

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Dialect is a read-model database flavour.
type Dialect string

// The three targets.
const (
	Postgres Dialect = "postgres"
	MySQL    Dialect = "mysql"
	SQLite   Dialect = "sqlite"
)

// sqliteTime is how times are stored in SQLite: fixed width, so text order is
// time order (MIN/MAX merges compare text), and parsed back by the driver
// because the columns are declared TIMESTAMP.
const sqliteTime = "2006-01-02 15:04:05.000000"

// ph is the n-th (1-based) placeholder.
func (d Dialect) ph(n int) string {
	if d == Postgres {
		return "$" + strconv.Itoa(n)
	}
	return "?"
}

// placeholders rewrites a query written with ? placeholders for d.
func (d Dialect) q(query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (d Dialect) colType(c column) string {
	key := c.merge == mKey
	switch d {
	case Postgres:
		switch c.kind {
		case kText, kLong:
			return "text NOT NULL DEFAULT ''"
		case kInt:
			return "bigint NOT NULL DEFAULT 0"
		case kUUID:
			if key {
				return "uuid NOT NULL"
			}
			return "uuid"
		case kTime:
			return "timestamptz"
		case kDate:
			return "date NOT NULL"
		}
	case MySQL:
		switch c.kind {
		case kText:
			if key {
				return "VARCHAR(128) NOT NULL"
			}
			return "VARCHAR(255) NOT NULL DEFAULT ''"
		case kLong:
			return "TEXT NOT NULL DEFAULT ''"
		case kInt:
			return "BIGINT NOT NULL DEFAULT 0"
		case kUUID:
			if key {
				return "CHAR(36) NOT NULL"
			}
			return "CHAR(36) NULL"
		case kTime:
			return "DATETIME(6) NULL"
		case kDate:
			return "DATE NOT NULL"
		}
	case SQLite:
		switch c.kind {
		case kText, kLong:
			return "TEXT NOT NULL DEFAULT ''"
		case kInt:
			return "INTEGER NOT NULL DEFAULT 0"
		case kUUID:
			if key {
				return "TEXT NOT NULL"
			}
			return "TEXT"
		case kTime:
			return "TIMESTAMP"
		case kDate:
			return "DATE NOT NULL"
		}
	}
	panic("projections: no column type")
}

// createTable is the DDL of t named name (without secondary indexes).
func (d Dialect) createTable(t *table, name string) string {
	var b strings.Builder
	b.WriteString("CREATE TABLE " + name + " (\n")
	for _, c := range t.cols {
		b.WriteString("  " + d.ident(c.name) + " " + d.colType(c) + ",\n")
	}
	b.WriteString("  PRIMARY KEY (" + d.idents(t.keys()) + ")\n)")
	if d == MySQL {
		b.WriteString(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	return b.String()
}

// createIndexes is the DDL of t's secondary indexes; tag makes SQLite index
// names unique across blue/green generations.
func (d Dialect) createIndexes(t *table, name, tag string) []string {
	var out []string
	for _, ix := range t.indexes {
		ixName := t.name + "_" + ix.name
		if d == SQLite {
			ixName += "_" + tag
		}
		out = append(out, "CREATE INDEX "+ixName+" ON "+name+" ("+d.idents(ix.cols)+")")
	}
	return out
}

// ident quotes a column name that is a reserved word somewhere.
func (d Dialect) ident(s string) string {
	switch s {
	case "position", "count", "at", "day", "kind", "status", "name":
		if d == MySQL {
			return "`" + s + "`"
		}
		return `"` + s + `"`
	}
	return s
}

func (d Dialect) idents(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = d.ident(s)
	}
	return strings.Join(q, ", ")
}

// upsert is the statement that merges one change row into table name.
func (d Dialect) upsert(t *table, name string) string {
	var b strings.Builder
	cols := make([]string, len(t.cols))
	phs := make([]string, len(t.cols))
	for i, c := range t.cols {
		cols[i] = d.ident(c.name)
		phs[i] = d.ph(i + 1)
	}
	if d == MySQL {
		b.WriteString("INSERT INTO " + name + " (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(phs, ", ") + ")")
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		if t.insertOnly {
			k := d.ident(t.keys()[0])
			b.WriteString(k + " = " + k)
			return b.String()
		}
		var sets []string
		for _, c := range t.cols {
			if c.merge == mKey {
				continue
			}
			sets = append(sets, d.ident(c.name)+" = "+d.mergeExpr(c, d.ident(c.name), "VALUES("+d.ident(c.name)+")", "VALUES("+d.ident(c.ifCol)+")"))
		}
		b.WriteString(strings.Join(sets, ", "))
		return b.String()
	}
	b.WriteString("INSERT INTO " + name + " AS cur (" + strings.Join(cols, ", ") + ") VALUES (" + strings.Join(phs, ", ") + ")")
	b.WriteString(" ON CONFLICT (" + d.idents(t.keys()) + ") DO ")
	if t.insertOnly {
		b.WriteString("NOTHING")
		return b.String()
	}
	b.WriteString("UPDATE SET ")
	var sets []string
	for _, c := range t.cols {
		if c.merge == mKey {
			continue
		}
		col := d.ident(c.name)
		sets = append(sets, col+" = "+d.mergeExpr(c, "cur."+col, "excluded."+col, "excluded."+d.ident(c.ifCol)))
	}
	b.WriteString(strings.Join(sets, ", "))
	return b.String()
}

func (d Dialect) mergeExpr(c column, cur, in, ifIn string) string {
	switch c.merge {
	case mAdd:
		return cur + " + " + in
	case mNonEmpty:
		return "CASE WHEN " + in + " <> '' THEN " + in + " ELSE " + cur + " END"
	case mNonZero:
		return "CASE WHEN " + in + " <> 0 THEN " + in + " ELSE " + cur + " END"
	case mCoalesce:
		return "COALESCE(" + in + ", " + cur + ")"
	case mMin, mMax:
		fn := map[bool]string{true: "LEAST", false: "GREATEST"}[c.merge == mMin]
		if d == SQLite {
			fn = map[bool]string{true: "min", false: "max"}[c.merge == mMin]
		}
		return fn + "(COALESCE(" + cur + ", " + in + "), COALESCE(" + in + ", " + cur + "))"
	case mSetIf:
		return "CASE WHEN " + ifIn + " <> '' THEN " + in + " ELSE " + cur + " END"
	default:
		return in
	}
}

// insertMany is a multi-row INSERT of n rows into an empty table.
func (d Dialect) insertMany(t *table, name string, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + name + " (")
	for i, c := range t.cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.ident(c.name))
	}
	b.WriteString(") VALUES ")
	p := 0
	for r := 0; r < n; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for i := range t.cols {
			if i > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString(d.ph(p))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// bind converts a row's Go values into driver arguments for d.
func (d Dialect) bind(t *table, r row, out []any) []any {
	for i, c := range t.cols {
		out = append(out, d.arg(c.kind, r[i]))
	}
	return out
}

func (d Dialect) arg(k kind, v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		if x == uuid.Nil {
			return nil
		}
		if d == Postgres {
			return x
		}
		return x.String()
	case time.Time:
		if x.IsZero() {
			return nil
		}
		x = x.UTC()
		if d == SQLite {
			if k == kDate {
				return x.Format(time.DateOnly)
			}
			return x.Format(sqliteTime)
		}
		return x
	}
	return v
}

// Arg converts a Go query argument (time, uuid) for d; readers use it.
func (d Dialect) Arg(v any) any {
	if t, ok := v.(time.Time); ok && d == SQLite {
		return t.UTC().Format(sqliteTime)
	}
	if u, ok := v.(uuid.UUID); ok {
		return u.String()
	}
	return v
}

// DayArg converts a day for comparison with a DATE column.
func (d Dialect) DayArg(t time.Time) any {
	if d == SQLite {
		return Day(t).Format(time.DateOnly)
	}
	return Day(t)
}

func (d Dialect) String() string { return string(d) }

func (d Dialect) validate() error {
	switch d {
	case Postgres, MySQL, SQLite:
		return nil
	}
	return fmt.Errorf("projections: unknown dialect %q", string(d))
}
