package schema_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/schema"
	_ "modernc.org/sqlite"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func openPostgres(t *testing.T) *sql.DB {
	db, err := sql.Open("pgx", testenv.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLite(t *testing.T) *sql.DB {
	dsn := "file:" + filepath.Join(t.TempDir(), "s.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openMySQL(t *testing.T) *sql.DB {
	db, err := sql.Open("mysql", testenv.NewMySQLDB(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestEmbeddedSets(t *testing.T) {
	for _, s := range []schema.Set{schema.EventStorePostgres, schema.EventStoreSQLite} {
		files, err := s.Files()
		if err != nil {
			t.Fatalf("%s: %v", s.Dir, err)
		}
		if len(files) == 0 || files[0].Name != "0001_eventstore.sql" || files[0].SQL == "" || len(files[0].Checksum) != 64 {
			t.Fatalf("%s: files %+v", s.Dir, files)
		}
	}
}

func TestApply_EventStore(t *testing.T) {
	tests := []struct {
		name  string
		open  func(*testing.T) *sql.DB
		set   schema.Set
		probe string
	}{
		{"postgres", openPostgres, schema.EventStorePostgres, "SELECT count(*) FROM eventstore.events"},
		{"sqlite", openSQLite, schema.EventStoreSQLite, "SELECT count(*) FROM events"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.open(t)
			applied, err := schema.Apply(ctx(t), db, tt.set)
			if err != nil {
				t.Fatalf("first Apply: %v", err)
			}
			if !reflect.DeepEqual(applied, []string{"0001_eventstore.sql"}) {
				t.Fatalf("first Apply applied %v", applied)
			}
			var n int
			if err := db.QueryRow(tt.probe).Scan(&n); err != nil || n != 0 {
				t.Fatalf("probe: %d, %v", n, err)
			}
			applied, err = schema.Apply(ctx(t), db, tt.set)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second Apply: applied %v, err %v; want nothing", applied, err)
			}
		})
	}
}

// A failing file leaves nothing behind and is not recorded; the files
// before it stay applied, and fixing it lets the next run continue.
func TestApply_FailingFileRollsBack(t *testing.T) {
	tests := []struct {
		name string
		open func(*testing.T) *sql.DB
		d    schema.Dialect
	}{
		{"postgres", openPostgres, schema.Postgres},
		{"sqlite", openSQLite, schema.SQLite},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := tt.open(t)
			fsys := fstest.MapFS{
				"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n")},
				"m/0002_b.sql": {Data: []byte("CREATE TABLE b (x int);\nINSERT INTO nosuch VALUES (1);\n")},
				"m/README.md":  {Data: []byte("not a migration")},
			}
			set := schema.Set{Dialect: tt.d, Dir: "m", Table: "test_migrations", FS: fsys}
			applied, err := schema.Apply(ctx(t), db, set)
			if err == nil {
				t.Fatal("a failing migration returned no error")
			}
			if !reflect.DeepEqual(applied, []string{"0001_a.sql"}) {
				t.Fatalf("applied %v before the failure, want [0001_a.sql]", applied)
			}
			if _, err := db.Exec("SELECT * FROM b"); err == nil {
				t.Fatal("table b of the failed migration exists")
			}
			fsys["m/0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE b (x int);\n")}
			applied, err = schema.Apply(ctx(t), db, set)
			if err != nil || !reflect.DeepEqual(applied, []string{"0002_b.sql"}) {
				t.Fatalf("after the fix: applied %v, err %v; want [0002_b.sql]", applied, err)
			}
			var n int
			if err := db.QueryRow("SELECT count(*) FROM a").Scan(&n); err != nil || n != 1 {
				t.Fatalf("table a has %d rows (%v): 0001 ran more than once?", n, err)
			}

			// Editing an applied file is refused.
			fsys["m/0001_a.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE a (x int, y int);\n")}
			if _, err := schema.Apply(ctx(t), db, set); !errors.Is(err, schema.ErrChanged) {
				t.Fatalf("Apply with an edited applied file: %v, want ErrChanged", err)
			}
		})
	}
}

// Several processes migrating at once apply each file once.
func TestApply_ConcurrentPostgres(t *testing.T) {
	db := openPostgres(t)
	fsys := fstest.MapFS{
		"m/0001.sql": {Data: []byte("CREATE TABLE t1 (x int); INSERT INTO t1 VALUES (1);")},
		"m/0002.sql": {Data: []byte("CREATE TABLE t2 (x int); SELECT pg_sleep(0.05);")},
	}
	set := schema.Set{Dialect: schema.Postgres, Dir: "m", Table: "migr.applied", FS: fsys}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	total := make(chan int, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied, err := schema.Apply(ctx(t), db, set)
			errs <- err
			total <- len(applied)
		}()
	}
	wg.Wait()
	close(errs)
	close(total)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Apply: %v", err)
		}
	}
	sum := 0
	for n := range total {
		sum += n
	}
	if sum != 2 {
		t.Fatalf("concurrent runs applied %d files in total, want 2", sum)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM migr.applied").Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d files recorded (%v), want 2", n, err)
	}
}

func TestApply_MySQL(t *testing.T) {
	db := openMySQL(t)
	fsys := fstest.MapFS{
		"mysql/0001_views.sql": {Data: []byte("-- two statements, one call each\nCREATE TABLE IF NOT EXISTS v1 (\n  id INT PRIMARY KEY\n);\nCREATE TABLE IF NOT EXISTS v2 (id INT PRIMARY KEY);\n")},
	}
	set := schema.Set{Dialect: schema.MySQL, Dir: "mysql", Table: "schema_migrations", FS: fsys}
	for i, want := range []int{1, 0} {
		applied, err := schema.Apply(ctx(t), db, set)
		if err != nil || len(applied) != want {
			t.Fatalf("run %d: applied %v, err %v", i+1, applied, err)
		}
	}
	for _, table := range []string{"v1", "v2"} {
		if _, err := db.Exec("SELECT id FROM " + table); err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
	}
}

func TestApply_RefusesBadSets(t *testing.T) {
	db := openSQLite(t)
	for _, set := range []schema.Set{
		{Dialect: schema.SQLite, Dir: "sqlite", Table: "x; DROP TABLE events"},
		{Dialect: "oracle", Dir: "sqlite", Table: "m"},
		{Dialect: schema.SQLite, Dir: "nosuchdir", Table: "m"},
	} {
		if _, err := schema.Apply(ctx(t), db, set); err == nil {
			t.Errorf("Apply(%+v) succeeded", set)
		}
	}
}
