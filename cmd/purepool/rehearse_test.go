package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/purepool/purepool/internal/testenv"
)

func TestRehearse_Refusals(t *testing.T) {
	dir := t.TempDir()
	noBroker := writeFile(t, "nobroker.toml", `
[store]
events = "postgres://be@127.0.0.1:5432/purepool"
readmodel = "postgres://fe@127.0.0.1:5432/purepool"
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
`)
	sharedUser := writeFile(t, "shared.toml", `
[store]
events = "postgres://postgres@127.0.0.1:5432/purepool"
readmodel = "postgres://postgres@127.0.0.1:5432/purepool"
[broker]
url = "amqp://guest:guest@127.0.0.1:5672/purepool"
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
`)
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rehearse"}, 2, "--config FILE is required"},
		{[]string{"rehearse", "--config", noBroker, "--min-payout", "-1"}, 2, "--min-payout"},
		{[]string{"rehearse", "--config", noBroker, "--dir", dir}, 1, "broker.url must be RabbitMQ"},
		{[]string{"rehearse", "--config", noBroker, "--dir", dir, "--suffix", ""}, 1, "needs --i-know"},
		{[]string{"rehearse", "--config", noBroker, "--dir", dir, "--network", "main"}, 1, "no such [[network]]"},
		{[]string{"rehearse", "--config", sharedUser, "--dir", dir}, 1, "each role needs its own user"},
	} {
		code, _, stderr := runMain(t, c.args...)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", c.args, code, c.code, stderr, c.want)
		}
	}
}

// TestRehearse_EndToEnd builds the binary and rehearses the three-server
// layout on the local PostgreSQL and RabbitMQ, with an operator's file and
// the roles' environment files, until the first payout shows on the
// website; Ctrl-C then stops every process and the audit must be clean.
func TestRehearse_EndToEnd(t *testing.T) {
	ctx := context.Background()
	admin := testenv.PostgresAdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Unavailable(t, "PostgreSQL", err)
	}
	conn.Close(ctx)
	amqpAdmin := testenv.RequireAMQP(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl (purepool setup runs on the broker's host)", err)
	}

	// The operator's names; the rehearsal works in <name>_rehearsal.
	base := testenv.UniqueName("pp_reh")
	db, vhost := base+"_rehearsal", base+"_rehearsal"
	be, pr, fe := base+"_be", base+"_pr", base+"_fe"
	amqpFE, amqpBE := strings.ReplaceAll(base, "_", "-")+"-fe", strings.ReplaceAll(base, "_", "-")+"-be"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, admin); err == nil {
			if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
				t.Logf("drop database: %v", err)
			}
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+be+", "+pr+", "+fe); err != nil {
				t.Logf("drop roles: %v", err)
			}
			c.Close(ctx)
		}
		// At once: each rabbitmqctl boots an Erlang VM.
		var wg sync.WaitGroup
		for _, args := range [][]string{{"delete_vhost", vhost}, {"delete_user", amqpFE}, {"delete_user", amqpBE}} {
			wg.Go(func() {
				if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
					t.Logf("rabbitmqctl %v: %v %s", args, err, out)
				}
			})
		}
		wg.Wait()
	})

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "purepool")
	began := time.Now()
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %s", time.Since(began).Round(100*time.Millisecond))
	began = time.Now()
	// As docs/operations.md 4.3: one file, the credentials in each role's
	// environment. The node is the operator's, unused by the rehearsal.
	cfg := writeFile(t, "purepool.toml", fmt.Sprintf(`pool_url = "http://127.0.0.1"
[store]
events    = "postgres://${PUREPOOL_PG_USER}:${PUREPOOL_PG_PASSWORD}@127.0.0.1:5432/%[1]s?sslmode=disable"
readmodel = "postgres://${PUREPOOL_PG_USER}:${PUREPOOL_PG_PASSWORD}@127.0.0.1:5432/%[1]s?sslmode=disable"
[broker]
url = "amqp://${PUREPOOL_AMQP_USER}:${PUREPOOL_AMQP_PASSWORD}@127.0.0.1:5672/%[1]s"
# The operator's own names: setup must scope the users' permissions to them.
exchange = "ops.commands"
queue = "ops.commands.work"
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
node_url = "http://purepool:${PUREPOOL_TEST_RPC_PASSWORD}@127.0.0.1:39001"
fee_bps = 100
`, base))
	envFile := func(role, pgUser, amqpUser string) string {
		amqpPassword := ""
		if amqpUser != "" {
			amqpPassword = amqpUser + "-pw"
		}
		return writeFile(t, role+".env", fmt.Sprintf("# the %s's\nPUREPOOL_PG_USER=%s\nPUREPOOL_PG_PASSWORD=\"%s-pw\"\n"+
			"PUREPOOL_AMQP_USER=%s\nPUREPOOL_AMQP_PASSWORD='%s'\nPUREPOOL_TEST_RPC_PASSWORD=\n", role, pgUser, pgUser, amqpUser, amqpPassword))
	}
	out := &lockedBuffer{}
	cmd := exec.Command(bin, "rehearse", "--config", cfg, "--dir", filepath.Join(tmp, "rehearsal"),
		"--pg-admin", admin, "--amqp-admin", amqpAdmin, "--payout-timeout", "5m",
		"--env-frontend", envFile("frontend", fe, amqpFE), "--env-backend", envFile("backend", be, amqpBE),
		"--env-projector", envFile("projector", pr, ""))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default: // a failed test: stop it all the same
			_ = cmd.Process.Signal(syscall.SIGINT)
			<-exited
		}
	}()
	await := func(re *regexp.Regexp, what string) []string {
		t.Helper()
		for deadline := time.Now().Add(6 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			if m := re.FindStringSubmatch(out.String()); m != nil {
				return m
			}
			select {
			case <-exited:
				t.Fatalf("rehearse exited (%v) before %s:\n%s", waitErr, what, out.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s:\n%s", what, out.String())
			}
		}
	}
	site := await(regexp.MustCompile(`website +(http://\S+/test/) `), "website URL")[1]
	node := await(regexp.MustCompile(`simulated node: (http://\S+),`), "simulated node")[1]
	m := await(regexp.MustCompile(`first payout on the website (\S+) after setup began: .* payout (\S+) `), "first payout")
	t.Logf("setup → first payout on the website: %s (rehearse started %s before)", m[1], time.Since(began).Round(100*time.Millisecond))

	// The payout is on the website, as a wallet's owner would see it.
	var page struct {
		Items []struct {
			ID       string `json:"payout_id"`
			Status   string `json:"status"`
			TotalSat int64  `json:"total_sat"`
			TxID     string `json:"txid"`
		} `json:"items"`
	}
	resp, err := http.Get(site + "api/payouts/" + m[2])
	if err != nil {
		t.Fatal(err)
	}
	var one struct {
		ID       string `json:"payout_id"`
		Status   string `json:"status"`
		TotalSat int64  `json:"total_sat"`
		TxID     string `json:"txid"`
	}
	err = json.NewDecoder(resp.Body).Decode(&one)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || one.ID != m[2] || one.TotalSat <= 0 || one.TxID == "" || (one.Status != "sent" && one.Status != "confirmed") {
		t.Fatalf("payout %s on the website: %d %+v %v", m[2], resp.StatusCode, one, err)
	}
	if resp, err = http.Get(site + "api/payouts"); err == nil {
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
	}
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("payouts list: %+v %v", page, err)
	}

	// Ctrl-C: every process stops, the audit runs, the exit status is 0.
	began = time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("rehearse exit: %v\n%s", waitErr, out.String())
		}
	case <-time.After(3 * time.Minute):
		t.Fatalf("rehearse did not stop:\n%s", out.String())
	}
	t.Logf("Ctrl-C → exit: %s", time.Since(began).Round(100*time.Millisecond))
	for _, want := range []string{"stopped: 8 processes, each exited cleanly", "audit: clean", "rehearsal passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	// Nothing is left listening: the website and the simulated node are gone.
	for _, u := range []string{site, node} {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after the rehearsal stopped", u)
		}
	}
	// The derived file kept the operator's ${NAME} references, so each
	// role expanded them in its own environment.
	derived, err := os.ReadFile(filepath.Join(tmp, "rehearsal", "purepool.toml"))
	if err != nil || !strings.Contains(string(derived), "${PUREPOOL_PG_USER}") || !strings.Contains(string(derived), "/"+db+"?") {
		t.Errorf("derived configuration: %v\n%s", err, derived)
	}
}
