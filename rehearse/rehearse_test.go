package rehearse

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

func rename(s string) string { return s + "_rehearsal" }

func TestWithPostgresDBKeepsReferences(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://${PUREPOOL_PG_USER}:${PUREPOOL_PG_PASSWORD}@data.internal:5432/purepool?sslmode=verify-full": "postgres://${PUREPOOL_PG_USER}:${PUREPOOL_PG_PASSWORD}@data.internal:5432/purepool_rehearsal?sslmode=verify-full",
		"postgresql://u:p%40ss@127.0.0.1/pool":                  "postgresql://u:p%40ss@127.0.0.1/pool_rehearsal",
		"postgres://$USER@127.0.0.1:5432/${DB}?sslmode=disable": "postgres://$USER@127.0.0.1:5432/${DB}_rehearsal?sslmode=disable",
	} {
		got, err := withPostgresDB(in, rename)
		if err != nil || got != want {
			t.Errorf("%s:\n got %s, %v\nwant %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"postgres://host:5432", "postgres://host:5432/", "postgres:///nohost"} {
		if got, err := withPostgresDB(bad, rename); err == nil {
			t.Errorf("%s: %s, want an error", bad, got)
		}
	}
}

func TestWithVHostAndMySQL(t *testing.T) {
	for in, want := range map[string]string{
		"amqps://${PUREPOOL_AMQP_USER}:${PUREPOOL_AMQP_PASSWORD}@data.internal:5671/purepool": "amqps://${PUREPOOL_AMQP_USER}:${PUREPOOL_AMQP_PASSWORD}@data.internal:5671/purepool_rehearsal",
		"amqp://guest:guest@127.0.0.1:5672/":                                                  "amqp://guest:guest@127.0.0.1:5672/purepool_rehearsal", // "/" has no name to extend
		"amqp://guest:guest@127.0.0.1:5672/%2F":                                               "amqp://guest:guest@127.0.0.1:5672/purepool_rehearsal",
	} {
		got, err := withVHost(in, rename)
		if err != nil || got != want {
			t.Errorf("%s:\n got %s, %v\nwant %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"mysql://${PUREPOOL_MARIADB_USER}:${PUREPOOL_MARIADB_PASSWORD}@tcp(data.internal:3306)/purepool_readmodel?tls=true": "mysql://${PUREPOOL_MARIADB_USER}:${PUREPOOL_MARIADB_PASSWORD}@tcp(data.internal:3306)/purepool_readmodel_rehearsal?tls=true",
		"mysql://u:pa/ss@tcp(127.0.0.1:3306)/rm": "mysql://u:pa/ss@tcp(127.0.0.1:3306)/rm_rehearsal",
	} {
		got, err := withMySQLDB(in, rename)
		if err != nil || got != want {
			t.Errorf("%s:\n got %s, %v\nwant %s", in, got, err, want)
		}
	}
	if got, err := withMySQLDB("mysql://u@tcp(127.0.0.1:3306)/", rename); err == nil {
		t.Errorf("no database: %s, want an error", got)
	}
}

func TestReadEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backend.env")
	text := "# comment\n\nPUREPOOL_PG_USER=purepool_backend\nexport PUREPOOL_PG_PASSWORD=\"a b=c\"\nEMPTY=\nQUOTED='x'\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	env, err := ReadEnvFile(Env{"PUREPOOL_PG_USER": "other", "KEPT": "1"}, path)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"PUREPOOL_PG_USER": "purepool_backend", "PUREPOOL_PG_PASSWORD": "a b=c", "EMPTY": "", "QUOTED": "x", "KEPT": "1"} {
		if got, ok := env[k]; !ok || got != want {
			t.Errorf("%s = %q (%v), want %q", k, got, ok, want)
		}
	}
	if s, err := env.Expand("postgres://${PUREPOOL_PG_USER}:$EMPTY@h/db"); err != nil || s != "postgres://purepool_backend:@h/db" {
		t.Errorf("expand: %q %v", s, err)
	}
	if _, err := env.Expand("${MISSING}"); err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("missing variable: %v", err)
	}
	if err := os.WriteFile(path, []byte("NOT A LINE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadEnvFile(Env{}, path); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v", err)
	}
}

func TestMakePlanRefusals(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := `
[store]
events = "postgres://${U}@127.0.0.1:5432/purepool"
readmodel = "postgres://${U}@127.0.0.1:5432/purepool"
[broker]
url = "amqp://${A}:pw@127.0.0.1:5672/purepool"
[[network]]
name = "main"
pool_address = "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"
`
	envs := map[Role]string{
		Backend:   write("backend.env", "U=be\nA=abe\n"),
		Projector: write("projector.env", "U=pr\nA=\n"),
		Frontend:  write("frontend.env", "U=fe\nA=afe\n"),
	}
	file := write("good.toml", good)
	p, err := makePlan(Options{ConfigFile: file, Suffix: DefaultSuffix, EnvFiles: envs})
	if err != nil {
		t.Fatal(err)
	}
	if p.pgDB != "purepool_rehearsal" || p.vhost != "purepool_rehearsal" || p.pgBackend.user != "be" || p.pgProjector.user != "pr" ||
		p.pgFrontend.user != "fe" || p.amqpBackend.user != "abe" || p.amqpFrontend.user != "afe" || p.network.Name != "main" {
		t.Errorf("plan: %+v", p)
	}
	if p.pgAdmin != "postgres://postgres@127.0.0.1:5432/postgres" || p.amqpAdmin != "amqp://guest:guest@127.0.0.1:5672/" {
		t.Errorf("default administrators: %s %s", p.pgAdmin, p.amqpAdmin)
	}
	if p.topology != rabbitmq.DefaultTopology() {
		t.Errorf("a file without broker names: topology %+v, want the defaults", p.topology)
	}
	// The operator's own exchange and queue: setup provisions those, the
	// dead-letter names derived from the exchange as the configuration does.
	named, err := makePlan(Options{ConfigFile: write("topo.toml", strings.Replace(good, "[broker]\n", "[broker]\nexchange = \"ops.cmds\"\nqueue = \"ops.q\"\n", 1)),
		Suffix: "_r", EnvFiles: envs})
	if err != nil {
		t.Fatal(err)
	}
	if tp := named.topology; tp.Exchange != "ops.cmds" || tp.Queue != "ops.q" || tp.DeadLetterExchange != "ops.cmds.dlx" || tp.DeadLetterQueue != "ops.cmds.dead" {
		t.Errorf("the operator's names: topology %+v", tp)
	}
	for name, c := range map[string]struct {
		opt  Options
		want string
	}{
		"own databases":   {Options{ConfigFile: file, EnvFiles: envs}, "needs --i-know"},
		"bad suffix":      {Options{ConfigFile: file, Suffix: "-x;", EnvFiles: envs}, "letters, digits and _"},
		"shared user":     {Options{ConfigFile: file, Suffix: "_r", EnvFiles: map[Role]string{Backend: envs[Backend], Projector: envs[Backend], Frontend: envs[Frontend]}}, "each role needs its own user"},
		"missing env":     {Options{ConfigFile: file, Suffix: "_r"}, "environment variable U is not set"},
		"admin is a role": {Options{ConfigFile: file, Suffix: "_r", EnvFiles: envs, PGAdmin: "postgres://be@127.0.0.1/postgres"}, "is also a role's user"},
		"sqlite events":   {Options{ConfigFile: write("sqlite.toml", strings.Replace(good, `events = "postgres://${U}@127.0.0.1:5432/purepool"`, `events = "sqlite:///tmp/e.db"`, 1)), Suffix: "_r", EnvFiles: envs}, "store.events must be PostgreSQL"},
		"other database":  {Options{ConfigFile: write("rm.toml", strings.Replace(good, `readmodel = "postgres://${U}@127.0.0.1:5432/purepool"`, `readmodel = "postgres://${U}@127.0.0.1:5432/views"`, 1)), Suffix: "_r", EnvFiles: envs}, "must be the event store's database"},
	} {
		if _, err := makePlan(c.opt); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
	}
}

// A child that dies is a failure with its log's end; one stopped by us
// that exits 0 is none.
func TestProcFailure(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	dies, err := start("/bin/sh", dir, "dies", ProcessEnv(), "-c", "echo ready; echo broken pipe >&2; exit 3")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dies.await(ctx, regexp.MustCompile(`ready`), time.Minute); err != nil {
		t.Fatal(err)
	}
	<-dies.done
	if err := failures([]*proc{dies}); err == nil || !strings.Contains(err.Error(), "dies exited by itself (exit status 3)") || !strings.Contains(err.Error(), "broken pipe") {
		t.Errorf("failure: %v", err)
	}
	// Reported once: not again when the rest stop.
	if err := errors.Join(failures([]*proc{dies}), dies.stop(time.Minute)); err != nil {
		t.Errorf("reported twice: %v", err)
	}
	// A child that exits 0 on SIGTERM, as the purepool roles do.
	clean, err := start("/bin/sh", dir, "clean", ProcessEnv(), "-c", `trap 'exit 0' TERM; echo up; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clean.await(ctx, regexp.MustCompile(`up`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := clean.stop(time.Minute); err != nil {
		t.Errorf("clean stop: %v", err)
	}
	if err := failures([]*proc{clean}); err != nil {
		t.Errorf("after a clean stop: %v", err)
	}
	// One that exits non-zero when stopped did not stop cleanly.
	bad, err := start("/bin/sh", dir, "bad", ProcessEnv(), "-c", `trap 'exit 1' TERM; echo up; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.await(ctx, regexp.MustCompile(`up`), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := bad.stop(time.Minute); err == nil || !strings.Contains(err.Error(), "did not stop cleanly") {
		t.Errorf("unclean stop: %v", err)
	}
	// await fails when the child exits without its banner.
	quiet, err := start("/bin/sh", dir, "quiet", ProcessEnv(), "-c", "exit 0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := quiet.await(ctx, regexp.MustCompile(`never`), time.Minute); err == nil || !strings.Contains(err.Error(), "exited before it was ready") {
		t.Errorf("await: %v", err)
	}
}

// The safety rules of the rehearsal's PostgreSQL database: made fresh and
// marked; an earlier rehearsal's is dropped only with reset; a database it
// did not make is never dropped, nor written when it holds events.
func TestPreparePostgresSafety(t *testing.T) {
	ctx := context.Background()
	admin := testenv.PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL", err)
	}
	name := testenv.UniqueName("pp_reh_safety")
	t.Cleanup(func() {
		defer conn.Close(context.Background())
		if _, err := conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop %s: %v", name, err)
		}
	})
	// Someone else's database (testenv made it, no marker).
	foreign := dbOf(testenv.NewPostgresDB(t))
	if err := preparePostgres(ctx, admin, foreign, false, true); err == nil || !strings.Contains(err.Error(), "was not made by purepool rehearse") {
		t.Errorf("a database rehearse did not make, with reset: %v", err)
	}
	if err := preparePostgres(ctx, admin, name, false, false); err != nil {
		t.Fatalf("fresh: %v", err)
	}
	dbURL, _ := pgURLWithDB(admin, name)
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec(ctx, "CREATE SCHEMA eventstore; CREATE TABLE eventstore.events (n int); INSERT INTO eventstore.events VALUES (1), (2)")
	c.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := preparePostgres(ctx, admin, name, false, false); err == nil || !strings.Contains(err.Error(), "holds an earlier rehearsal (2 events)") {
		t.Errorf("again without reset: %v", err)
	}
	if err := preparePostgres(ctx, admin, name, true, true); err == nil || !strings.Contains(err.Error(), "never drops your own database") {
		t.Errorf("own database with reset: %v", err)
	}
	if err := preparePostgres(ctx, admin, name, false, true); err != nil {
		t.Fatalf("reset: %v", err)
	}
	if marked, events, err := inspectPostgres(ctx, dbURL); err != nil || !marked || events != 0 {
		t.Errorf("after reset: marked %v, %d events, %v", marked, events, err)
	}
	// --i-know on the operator's own database: used only while it holds no
	// event.
	c, err = pgx.Connect(ctx, testenv.NewPostgresDB(t))
	if err != nil {
		t.Fatal(err)
	}
	own := c.Config().Database
	_, err = c.Exec(ctx, "CREATE SCHEMA eventstore; CREATE TABLE eventstore.events (n int)")
	if err != nil {
		t.Fatal(err)
	}
	if err := preparePostgres(ctx, admin, own, true, false); err != nil {
		t.Errorf("own empty database with --i-know: %v", err)
	}
	if _, err := c.Exec(ctx, "INSERT INTO eventstore.events VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	c.Close(ctx)
	if err := preparePostgres(ctx, admin, own, true, false); err == nil || !strings.Contains(err.Error(), "holds 1 events") {
		t.Errorf("own database with events: %v", err)
	}
}
