package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigExampleAndCheck(t *testing.T) {
	ctx := context.Background()
	var out, errOut lockedBuffer
	if code := Main(ctx, []string{"config", "example"}, &out, &errOut); code != 0 || out.String() != config.Example {
		t.Fatalf("config example: exit %d, printed %d bytes of %d", code, len(out.String()), len(config.Example))
	}
	example := writeFile(t, "purepool.toml", out.String())
	t.Setenv("PUREPOOL_MAIN_RPC_PASSWORD", "secret")
	t.Setenv("PUREPOOL_TEST_RPC_PASSWORD", "secret")
	out, errOut = lockedBuffer{}, lockedBuffer{}
	if code := Main(ctx, []string{"config", "check", example}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "valid (2 network(s) main test)") {
		t.Fatalf("config check of the example: exit %d: %s %s", code, out.String(), errOut.String())
	}

	bad := strings.Replace(config.Example, "fee_bps = 100", "fee_bps = 20000", 1)
	for name, c := range map[string]struct {
		text, key string
	}{
		"fee out of range": {bad, "network[0].fee_bps"},
		"unknown key":      {config.Example + "\n[frontend2]\nlisten = \":1\"\n", "frontend2"},
		"bad pool url":     {strings.Replace(config.Example, `pool_url = "http://localhost"`, `pool_url = "http://localhost:8080/"`, 1), "pool_url"},
	} {
		var out, errOut lockedBuffer
		code := Main(ctx, []string{"config", "check", writeFile(t, "bad.toml", c.text)}, &out, &errOut)
		if code != 1 || !strings.Contains(errOut.String(), c.key) {
			t.Errorf("%s: exit %d, want 1 and an error naming %s: %q", name, code, c.key, errOut.String())
		}
	}
	os.Unsetenv("PUREPOOL_TEST_RPC_PASSWORD")
	errOut = lockedBuffer{}
	if code := Main(ctx, []string{"config", "check", example}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "network[1].node_url") {
		t.Errorf("missing environment variable: exit %d: %q", code, errOut.String())
	}
	for _, args := range [][]string{{"config"}, {"config", "check"}, {"config", "lint", example}} {
		if code := Main(ctx, args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// embeddedConfig is a configuration of the embedded default in dir, with
// a node at nodeURL.
func embeddedConfig(dir, pool, nodeURL string) string {
	return fmt.Sprintf(`pool_url = "http://127.0.0.1"
data_dir = %q
[frontend]
listen = "127.0.0.1:0"
[backend]
chain_poll = "100ms"
[[network]]
name = "test"
pool_address = %q
node_url = %q
default_target = %q
`, dir, pool, nodeURL, biblepay.TargetForDifficulty(20))
}

func TestRoleConfigRefusals(t *testing.T) {
	file := writeFile(t, "purepool.toml", embeddedConfig(t.TempDir(), "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", "http://u:p@127.0.0.1:1"))
	ctx := context.Background()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"frontend", "--config", file, "--listen", ":1"}, 2, "--listen cannot be combined with --config"},
		{[]string{"backend", "--config", file, "--fee-bps", "5"}, 2, "--fee-bps cannot be combined"},
		{[]string{"frontend", "--config", file}, 1, "broker.url"}, // the in-process bus cannot cross processes
		{[]string{"backend", "--config", file}, 1, "broker.url"},
		{[]string{"run"}, 2, "--config FILE is required"},
		{[]string{"run", "--config", filepath.Join(t.TempDir(), "missing.toml")}, 1, "no such file"},
	} {
		var out, errOut lockedBuffer
		if code := Main(ctx, c.args, &out, &errOut); code != c.code || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, errOut.String(), c.want)
		}
	}
}

// TestRunWithConfig runs every role from a configuration file against a
// node (the simulated one, reached over RPC like a real biblepayd), on the
// embedded default, and mines a share through it.
func TestRunWithConfig(t *testing.T) {
	srv, nodeURL := startNode(t)
	dir := t.TempDir()
	file := writeFile(t, "purepool.toml", embeddedConfig(dir, srv.Node.WalletAddress(), nodeURL))
	banner := runAndMine(t, srv, file)
	if !strings.Contains(banner, "frontend + backend + projector running (events SQLite "+dir+"/events.db, read model SQLite "+dir+"/readmodel.db, in-process bus)") {
		t.Errorf("banner: %q", banner)
	}
	for _, f := range []string{"events.db", "readmodel.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("embedded default: %v", err)
		}
	}
	// The audit subcommand agrees with what run wrote.
	var out, errOut lockedBuffer
	if code := Main(context.Background(), []string{"audit", "--quiet", "--store", "sqlite://" + filepath.Join(dir, "events.db")}, &out, &errOut); code != 0 {
		t.Errorf("audit after run: exit %d: %s %s", code, out.String(), errOut.String())
	}
}

// TestRunWithConfigOnServers is TestRunWithConfig with the configuration
// naming PostgreSQL (events and read model) and RabbitMQ.
func TestRunWithConfigOnServers(t *testing.T) {
	pg := testenv.NewPostgresDB(t)
	amqpURL := testenv.RequireAMQP(t)
	name := testenv.UniqueName("pp_run")
	top := rabbitmq.Topology{Exchange: name, Queue: name + ".q", DeadLetterExchange: name + ".dlx", DeadLetterQueue: name + ".dead", DeliveryLimit: 5}
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	defer rabbitmq.DeleteTopology(ch, top)
	var out, errOut lockedBuffer
	if code := Main(context.Background(), []string{"migrate", "--store", pg}, &out, &errOut); code != 0 {
		t.Fatalf("migrate: %s", errOut.String())
	}

	srv, nodeURL := startNode(t)
	text := embeddedConfig(t.TempDir(), srv.Node.WalletAddress(), nodeURL) + fmt.Sprintf(`
[store]
events = %q
readmodel = %q
[broker]
url = %q
exchange = %q
queue = %q
`, pg, pg, amqpURL, top.Exchange, top.Queue)
	file := writeFile(t, "purepool.toml", text)
	banner := runAndMine(t, srv, file)
	if !strings.Contains(banner, "(events postgres, read model postgres, RabbitMQ)") {
		t.Errorf("banner: %q", banner)
	}
	// The three roles as separate services, as the systemd units run them.
	banner = runAndMine(t, srv, file, "frontend", "backend", "projector")
	for _, want := range []string{"purepool frontend running (read model postgres, RabbitMQ), listening on",
		"purepool backend running (events postgres, RabbitMQ)", "purepool projector running (events postgres, read model postgres)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q: %q", want, banner)
		}
	}
	out, errOut = lockedBuffer{}, lockedBuffer{}
	if code := Main(context.Background(), []string{"audit", "--quiet", "--store", pg, "--readmodel", pg}, &out, &errOut); code != 0 {
		t.Errorf("audit after run: exit %d: %s %s", code, out.String(), errOut.String())
	}
}

// startNode starts a simulated node with RPC credentials and returns it
// and its node_url, whose password comes from the environment.
func startNode(t *testing.T) (*simnode.Server, string) {
	t.Helper()
	srv, err := simnode.Start(simnode.Config{Network: biblepay.Networks["test"], User: "rpc", Password: "pw", Seed: 3}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Setenv("TEST_NODE_PASSWORD", "pw")
	return srv, strings.Replace(srv.URL, "http://", "http://rpc:${TEST_NODE_PASSWORD}@", 1)
}

// runAndMine runs `purepool run --config file`, mines one share through
// its frontend, waits for the website to show it and stops the process
// as a signal would. It returns the banner run printed.
func runAndMine(t *testing.T, srv *simnode.Server, file string, roles ...string) string {
	t.Helper()
	net := biblepay.Networks["test"]
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if len(roles) == 0 {
		roles = []string{"run"}
	}
	// The first role prints the listen address (run or frontend).
	var out, errOut lockedBuffer
	done := make(chan int, len(roles))
	for _, role := range roles {
		go func() { done <- Main(ctx, []string{role, "--config", file, "--log-format", "text"}, &out, &errOut) }()
	}
	re := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	var addr string
	for deadline := time.Now().Add(15 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d: %s %s", code, out.String(), errOut.String())
		default:
		}
	}
	if addr == "" {
		t.Fatalf("no address printed: %q %q", out.String(), errOut.String())
	}

	client, err := rpcclient.New(rpcclient.Config{URL: srv.URL, User: "rpc", Password: "pw", Network: net})
	if err != nil {
		t.Fatal(err)
	}
	miner := net.Address([20]byte{7, 7})
	m, err := simminer.New(simminer.Config{Pool: "http://" + addr, Worker: miner + "/rig", Network: net, Node: client})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh block: a share mined on the same template as an earlier
	// test's would be the same share, a duplicate.
	if _, err := srv.Node.Generate(1); err != nil {
		t.Fatal(err)
	}
	// Until the frontend's broker connection is up it answers HEALTH_DOWN,
	// and a wallet asks again later.
	var w simminer.Work
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if w, err = m.RequestWork(ctx, 1); err == nil || !strings.Contains(err.Error(), "HEALTH_DOWN") || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("readytomine2: %v", err)
	}
	s, err := m.Mine(ctx, w, 1)
	if err != nil {
		t.Fatal(err)
	}
	var before, pool struct {
		Shares, Rejected, Miners int64
	}
	getPool := func(v any) {
		resp, err := http.Get("http://" + addr + "/test/api/pool")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	getPool(&before)
	if reply, err := m.Submit(ctx, 1, s); err != nil {
		t.Fatalf("solution: %v (%+v)", err, reply)
	}
	for deadline := time.Now().Add(20 * time.Second); pool.Shares <= before.Shares; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the share never reached the website: %+v\n%s", pool, errOut.String())
		}
		getPool(&pool)
	}
	if pool.Shares != before.Shares+1 || pool.Rejected != before.Rejected || pool.Miners != 1 {
		t.Errorf("website shows %+v after %+v, want one more accepted share of the one miner", pool, before)
	}
	cancel()
	for range roles {
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("%v: exit %d after the signal: %s", roles, code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%v did not stop", roles)
		}
	}
	return out.String()
}

// TestDemoSubcommand runs `purepool demo` for a few seconds with a very
// fast chain and checks the summary and the audit verdict it prints.
func TestDemoSubcommand(t *testing.T) {
	dir := t.TempDir()
	var out, errOut lockedBuffer
	args := []string{"demo", "--addr", "127.0.0.1:0", "--data", dir, "--miners", "2", "--block-time", "150ms",
		"--maturity", "3", "--payout-interval", "300ms", "--duration", "4s"}
	if code := Main(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out.String(), errOut.String())
	}
	text := out.String()
	for _, want := range []string{"purepool demo: website http://127.0.0.1:", "shares ", "summary after", "(exact)", "audit: clean"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if m := regexp.MustCompile(`shares: +(\d+) accepted`).FindStringSubmatch(text); m == nil || m[1] == "0" {
		t.Errorf("no accepted share in the summary:\n%s", text)
	}
	if _, err := os.Stat(filepath.Join(dir, "simnode.json")); err != nil {
		t.Errorf("the simulated node's state is not in the data folder: %v", err)
	}
	if code := Main(context.Background(), []string{"demo", "--miners", "0"}, &out, &errOut); code != 2 {
		t.Errorf("--miners 0: exit %d, want 2", code)
	}
}

// documentedVariables are the environment variables docs/operations.md
// §4.3 names.
func documentedVariables(t *testing.T) []string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	start := strings.Index(text, "### 4.3 ")
	end := strings.Index(text, "### 4.4 ")
	if start < 0 || end < start {
		t.Fatal("docs/operations.md has no §4.3")
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range regexp.MustCompile(`PUREPOOL_[A-Z0-9_]+`).FindAllString(text[start:end], -1) {
		if !seen[m] {
			seen[m] = true
			names = append(names, m)
		}
	}
	return names
}

// Issue 17: the example passes `config check` with exactly the variables
// the operations guide lists, and the guide's MariaDB read model is a URL
// the configuration takes.
func TestConfigExampleChecksWithTheDocumentedVariables(t *testing.T) {
	ctx := context.Background()
	names := documentedVariables(t)
	for _, env := range os.Environ() {
		if k, _, _ := strings.Cut(env, "="); strings.HasPrefix(k, "PUREPOOL_") && !slices.Contains(names, k) {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	for _, n := range names {
		t.Setenv(n, "x"+strings.ToLower(n))
	}
	var out, errOut lockedBuffer
	if code := Main(ctx, []string{"config", "example"}, &out, &errOut); code != 0 {
		t.Fatalf("config example: exit %d", code)
	}
	example := writeFile(t, "purepool.toml", out.String())
	out, errOut = lockedBuffer{}, lockedBuffer{}
	if code := Main(ctx, []string{"config", "check", example}, &out, &errOut); code != 0 {
		t.Fatalf("config check of the example with the variables of §4.3 %v: exit %d: %s %s", names, code, out.String(), errOut.String())
	}
	mariadb := strings.Replace(config.Example, `readmodel = ""`,
		`readmodel = "mysql://${PUREPOOL_MARIADB_USER}:${PUREPOOL_MARIADB_PASSWORD}@tcp(data.internal:3306)/purepool_readmodel?tls=true"`, 1)
	if mariadb == config.Example {
		t.Fatal(`the example has no readmodel = "" line to put the guide's MariaDB read model on`)
	}
	out, errOut = lockedBuffer{}, lockedBuffer{}
	if code := Main(ctx, []string{"config", "check", writeFile(t, "mariadb.toml", mariadb)}, &out, &errOut); code != 0 {
		t.Fatalf("config check with the guide's MariaDB read model: exit %d: %s %s", code, out.String(), errOut.String())
	}
}
