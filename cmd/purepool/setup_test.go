package main

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

func TestSetup_NothingToDo(t *testing.T) {
	code, _, stderr := runMain(t, "setup")
	if code != 2 || !strings.Contains(stderr, "nothing to set up") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}

// TestSetup_Postgres wires the flags and environment through to package
// provision (which has the full least-privilege tests).
func TestSetup_Postgres(t *testing.T) {
	dbURL := testenv.NewPostgresDB(t)
	p := testenv.UniqueName("pp_t")
	be, pr, fe := p+"_be", p+"_pr", p+"_fe"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, dbURL); err == nil {
			for _, r := range []string{fe, be, pr} {
				c.Exec(ctx, "DROP OWNED BY "+r)
			}
			c.Close(ctx)
		}
		if c, err := pgx.Connect(ctx, testenv.PostgresAdminURL()); err == nil {
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+be+", "+pr+", "+fe); err != nil {
				t.Logf("drop roles: %v", err)
			}
			c.Close(ctx)
		}
	})
	if code, _, stderr := runMain(t, "migrate", "--store", dbURL); code != 0 {
		t.Fatalf("migrate: %s", stderr)
	}
	t.Setenv(envPGFrontendPassword, "front pw")
	code, stdout, stderr := runMain(t, "setup", "-pg", dbURL, "-pg-backend-role", be, "-pg-projector-role", pr, "-pg-frontend-role", fe)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, fe) {
		t.Errorf("stdout %q does not name the roles", stdout)
	}
	u, _ := url.Parse(dbURL)
	u.User = url.UserPassword(fe, "front pw")
	c, err := pgx.Connect(t.Context(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var ro string
	if err := c.QueryRow(t.Context(), "SHOW default_transaction_read_only").Scan(&ro); err != nil || ro != "on" {
		t.Errorf("frontend default_transaction_read_only %q, %v", ro, err)
	}
	var pe *pgconn.PgError
	if _, err := c.Exec(t.Context(), "SELECT 1 FROM eventstore.events"); !errors.As(err, &pe) || pe.Code != "42501" {
		t.Errorf("frontend reading the event store: %v, want SQLSTATE 42501", err)
	}
}

// TestSetup_AMQP runs setup over the management API of the local broker
// (no fallback), the administrator's password from the environment, then
// checks over AMQP what the two users can and cannot do. Package
// provision has the full least-privilege tests.
func TestSetup_AMQP(t *testing.T) {
	custom := rabbitmq.Topology{Exchange: "pp.cmds", Queue: "pp.cmds.work", DeadLetterExchange: "pp.cmds.dlx",
		DeadLetterQueue: "pp.cmds.dead", DeliveryLimit: rabbitmq.DefaultDeliveryLimit}
	for _, tc := range []struct {
		name string
		args []string
		topo rabbitmq.Topology
	}{
		{"default names", nil, rabbitmq.DefaultTopology()},
		// An operator's own exchange and queue names (broker.exchange,
		// broker.queue): the permissions follow them, and the dead-letter
		// names derive from the exchange as the configuration derives them.
		{"the operator's names", []string{"-amqp-exchange", custom.Exchange, "-amqp-queue", custom.Queue}, custom},
	} {
		t.Run(tc.name, func(t *testing.T) { testSetupAMQP(t, tc.args, tc.topo) })
	}
}

func testSetupAMQP(t *testing.T, extra []string, topo rabbitmq.Topology) {
	adminURL := testenv.RequireAMQP(t)
	au, err := amqp.ParseURI(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	api, err := rabbithole.NewClient("http://"+net.JoinHostPort(au.Host, "15672"), au.Username, au.Password)
	if err != nil {
		t.Fatal(err)
	}
	api.SetTimeout(30 * time.Second)
	if _, err := api.Whoami(); err != nil {
		testenv.Unavailable(t, "RabbitMQ management API", err)
	}
	p := testenv.UniqueName("pp_t")
	vhost, fe, be := p, p+"-frontend", p+"-backend"
	t.Cleanup(func() {
		for _, del := range []func() error{
			func() error { _, err := api.DeleteVhost(vhost); return err },
			func() error { _, err := api.DeleteUser(fe); return err },
			func() error { _, err := api.DeleteUser(be); return err },
		} {
			if err := del(); err != nil {
				t.Logf("cleanup: %v", err)
			}
		}
	})
	u, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(au.Username)
	t.Setenv(envAMQPAdminPassword, au.Password)
	t.Setenv(envAMQPFrontendPassword, "fe pw")
	t.Setenv(envAMQPBackendPassword, "be pw")
	code, stdout, stderr := runMain(t, append([]string{"setup", "-amqp", u.String(), "-amqp-vhost", vhost,
		"-amqp-frontend-user", fe, "-amqp-backend-user", be, "-rabbitmqctl", ""}, extra...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, vhost) || !strings.Contains(stderr, "over the management API") {
		t.Errorf("stdout %q, stderr %q: want the vhost named and the management API path logged", stdout, stderr)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	userURL := func(user, password string) string {
		u.User, u.Path = url.UserPassword(user, password), "/"+vhost
		return u.String()
	}
	publish := func(url string) error {
		pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: url, Topology: topo, Channels: 1})
		if err != nil {
			return err
		}
		defer pub.Close()
		if err := pub.WaitReady(ctx); err != nil {
			return err
		}
		return pub.Publish(ctx, commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{}`)})
	}
	get := func(url string) (bool, error) {
		c, err := amqp.Dial(url)
		if err != nil {
			return false, err
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			return false, err
		}
		_, ok, err := ch.Get(topo.Queue, true)
		return ok, err
	}
	if err := publish(userURL(fe, "fe pw")); err != nil {
		t.Fatalf("frontend publishing a command: %v", err)
	}
	if _, err := get(userURL(fe, "fe pw")); !isAccessRefused(err) {
		t.Errorf("frontend reading the command queue: %v, want ACCESS_REFUSED", err)
	}
	if err := publish(userURL(be, "be pw")); !isAccessRefused(err) {
		t.Errorf("backend publishing a command: %v, want ACCESS_REFUSED", err)
	}
	if ok, err := get(userURL(be, "be pw")); err != nil || !ok {
		t.Errorf("backend reading the command queue: got a message %v, %v", ok, err)
	}
}

// TestSetup_AMQPErrors: mistakes in the administrator's URL are usage
// errors; an unreachable management API without a usable fallback says
// how to fix it. Neither needs a broker.
func TestSetup_AMQPErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	for _, tc := range []struct {
		name, adminPassword string
		args                []string
		code                int
		want                []string
	}{
		{"password twice", "pw", []string{"-amqp", "amqp://admin:pw@127.0.0.1:5672/"}, 2, []string{"give it once"}},
		{"password without user", "pw", []string{"-amqp", "amqp://127.0.0.1:5672/"}, 2, []string{"name the administrator"}},
		{"no management API, no rabbitmqctl", "", []string{"-amqp", "amqp://admin:pw@127.0.0.1:5672/", "-amqp-management", closed,
			"-rabbitmqctl", "/nonexistent/rabbitmqctl"}, 1, []string{"rabbitmq-plugins enable rabbitmq_management", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envAMQPAdminPassword, tc.adminPassword)
			t.Setenv(envAMQPFrontendPassword, "fe pw")
			t.Setenv(envAMQPBackendPassword, "be pw")
			code, _, stderr := runMain(t, append([]string{"setup"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d: %s", code, tc.code, stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr %q does not say %q", stderr, w)
				}
			}
		})
	}
}

func isAccessRefused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused
}
