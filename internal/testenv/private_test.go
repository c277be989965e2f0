package testenv_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/internal/testenv"
)

// The private server is really stopped by Stop and Crash (connections are
// refused), keeps its port and its committed data across both, and is
// independent of the shared server.
func TestPrivatePostgres_StopCrashRestartKeepCommittedData(t *testing.T) {
	pg := testenv.NewPrivatePostgres(t)
	if pg.Port() == 5432 {
		t.Fatal("the private server must not be the shared one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	exec := func(sql string, args ...any) error {
		conn, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql, args...)
		return err
	}
	count := func() int {
		t.Helper()
		conn, err := pgx.Connect(ctx, pg.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM kept").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	if err := exec("CREATE TABLE kept (n int)"); err != nil {
		t.Fatal(err)
	}
	if err := exec("INSERT INTO kept VALUES (1)"); err != nil {
		t.Fatal(err)
	}

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 1 {
		t.Fatalf("after stop/start: %d rows, want 1", got)
	}

	// A committed row survives a kill without checkpoint (crash recovery).
	if err := exec("INSERT INTO kept VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	pg.Crash()
	if err := exec("SELECT 1"); err == nil {
		t.Fatal("connected to a crashed server")
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 2 {
		t.Fatalf("after crash/start: %d rows, want 2", got)
	}

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := count(); got != 2 {
		t.Fatalf("after restart: %d rows, want 2", got)
	}
	if err := pg.Start(); err == nil {
		t.Fatal("Start of a running server succeeded")
	}
}

// The private node is really stopped by Stop and Crash, keeps its port and
// durable queues across both, and its rabbitmqctl reaches it (not the shared
// node). A node boots in several seconds, so this runs with PUREPOOL_STRESS.
func TestPrivateRabbitMQ_StopCrashRestartKeepDurableQueue(t *testing.T) {
	if os.Getenv("PUREPOOL_STRESS") == "" {
		t.Skip("boots a private RabbitMQ node three times; set PUREPOOL_STRESS=1")
	}
	began := time.Now()
	rmq := testenv.NewPrivateRabbitMQ(t)
	t.Logf("first start: %s", time.Since(began).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	queue := testenv.UniqueName("pp_private")

	withChannel := func(f func(*amqp.Channel) error) error {
		conn, err := amqp.Dial(rmq.URL())
		if err != nil {
			return err
		}
		defer conn.Close()
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		return f(ch)
	}
	depth := func() int {
		t.Helper()
		var n int
		err := withChannel(func(ch *amqp.Channel) error {
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
			n = q.Messages
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	publish := func() {
		t.Helper()
		err := withChannel(func(ch *amqp.Channel) error {
			if err := ch.Confirm(false); err != nil {
				return err
			}
			dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false,
				amqp.Publishing{DeliveryMode: amqp.Persistent, Body: []byte("kept")})
			if err != nil {
				return err
			}
			if ok, err := dc.WaitContext(ctx); err != nil || !ok {
				return fmt.Errorf("not confirmed: %v", err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	if err := withChannel(func(ch *amqp.Channel) error {
		_, err := ch.QueueDeclare(queue, true, false, false, false, amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	publish()
	out, err := rmq.Ctl(ctx, "list_queues", "name")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, queue) {
		t.Fatalf("rabbitmqctl of the private node does not list %s:\n%s", queue, out)
	}

	for _, kind := range []string{"stop", "crash"} {
		began := time.Now()
		if kind == "stop" {
			if err := rmq.Stop(); err != nil {
				t.Fatal(err)
			}
		} else {
			rmq.Crash()
		}
		down := time.Since(began)
		if _, err := amqp.Dial(rmq.URL()); err == nil {
			t.Fatalf("connected to a node after %s", kind)
		}
		began = time.Now()
		if err := rmq.Start(); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %s, start again: %s", kind, down.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
		if got := depth(); got != 1 {
			t.Fatalf("after %s: %d messages in the quorum queue, want 1", kind, got)
		}
	}
	began = time.Now()
	if err := rmq.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart: %s", time.Since(began).Round(time.Millisecond))
	publish()
	if got := depth(); got != 2 {
		t.Fatalf("after restart: %d messages, want 2", got)
	}
}
