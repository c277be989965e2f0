package rabbitmq_test

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

// A broker that refuses the consumer's login: at once a configuration
// error on the first connection; after consuming has worked, a restarting
// broker's moment (retried), until the refusal outlasts RefusedGrace.
func TestConsumerRefusedLogin(t *testing.T) {
	admin := testenv.RequireAMQP(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl", err)
	}
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
			t.Fatalf("rabbitmqctl %s: %v %s", strings.Join(args, " "), err, out)
		}
	}
	user := testenv.UniqueName("pp_refused")
	run("add_user", user, "right")
	t.Cleanup(func() { exec.Command(ctl, "delete_user", user).Run() }) //nolint:errcheck
	run("set_permissions", "-p", "/", user, ".*", ".*", ".*")
	top := newTopology(t, admin, 3)
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, "right")
	userURL := u.String()
	pub := newPublisher(t, rabbitmq.Config{URL: admin, Topology: top})

	t.Run("first connection", func(t *testing.T) {
		bad := *u
		bad.User = url.UserPassword(user, "wrong")
		c := newConsumer(t, rabbitmq.Config{URL: bad.String(), Topology: top, ReconnectMin: 10 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		err := c.Consume(ctx, func(context.Context, commands.Message) error { return nil })
		if !refused(err) {
			t.Fatalf("Consume with a wrong password: %v, want the refusal at once", err)
		}
	})

	// consumeThenRefuse consumes one message, then changes the password and
	// cuts the connection: the consumer's reconnects are refused.
	consumeThenRefuse := func(t *testing.T, grace time.Duration) (*cutter, chan error, chan commands.Message) {
		t.Helper()
		var cut cutter
		c := newConsumer(t, rabbitmq.Config{URL: userURL, Topology: top, Dial: cut.dial, RefusedGrace: grace,
			ReconnectMin: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond})
		got := make(chan commands.Message, 10)
		done := make(chan error, 1)
		go func() {
			done <- c.Consume(t.Context(), func(_ context.Context, m commands.Message) error { got <- m; return nil })
		}()
		if err := pub.Publish(t.Context(), testMessage()); err != nil {
			t.Fatal(err)
		}
		select {
		case <-got:
		case err := <-done:
			t.Fatalf("Consume ended: %v", err)
		case <-time.After(20 * time.Second):
			t.Fatal("the first message never arrived")
		}
		run("change_password", user, "changed")
		t.Cleanup(func() { run("change_password", user, "right") })
		cut.cut()
		return &cut, done, got
	}

	t.Run("after consuming, within the grace", func(t *testing.T) {
		cut, done, got := consumeThenRefuse(t, time.Minute)
		// Refused again and again, and still consuming.
		for deadline := time.Now().Add(20 * time.Second); cut.dials.Load() < 4; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d dials after the refusal", cut.dials.Load())
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Consume gave up on a refusal within the grace: %v", err)
		default:
		}
		// The broker takes the login again: consuming resumes by itself.
		run("change_password", user, "right")
		second := testMessage()
		if err := pub.Publish(t.Context(), second); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-got:
			if m.ID != second.ID {
				t.Fatalf("got %s, want %s", m.ID, second.ID)
			}
		case err := <-done:
			t.Fatalf("Consume ended: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("consuming did not resume once the login was accepted")
		}
	})

	t.Run("after consuming, past the grace", func(t *testing.T) {
		_, done, _ := consumeThenRefuse(t, 300*time.Millisecond)
		select {
		case err := <-done:
			if !refused(err) {
				t.Fatalf("Consume: %v, want the refusal", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Consume kept retrying a refusal past its grace")
		}
	})
}

func refused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused || errors.Is(err, amqp.ErrCredentials)
}
