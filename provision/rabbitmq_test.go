package provision_test

import (
	"context"
	"errors"
	"net/url"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/provision"
)

// vhostURL is the broker URL for user on vhost.
func vhostURL(t *testing.T, user, password, vhost string) string {
	t.Helper()
	u, err := url.Parse(testenv.RequireAMQP(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	u.Path = "/" + vhost
	return u.String()
}

func TestRabbitMQLeastPrivilege(t *testing.T) {
	t.Parallel()
	adminURL := testenv.RequireAMQP(t)
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl", err)
	}
	p := testenv.UniqueName("pp_t")
	cfg := provision.DefaultRabbitMQ()
	cfg.Ctl, cfg.AdminURL = ctl, adminURL
	cfg.VHost, cfg.FrontendUser, cfg.BackendUser = p, p+"-frontend", p+"-backend"
	cfg.FrontendPassword, cfg.BackendPassword = "fe pw", "be pw"
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, args := range [][]string{{"delete_vhost", cfg.VHost}, {"delete_user", cfg.FrontendUser}, {"delete_user", cfg.BackendUser}} {
			wg.Go(func() {
				if out, err := exec.Command(ctl, args...).CombinedOutput(); err != nil {
					t.Logf("rabbitmqctl %v: %v %s", args, err, out)
				}
			})
		}
		wg.Wait()
	})
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	first := cfg
	first.FrontendPassword = "to be changed"
	if err := provision.RabbitMQ(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := provision.RabbitMQ(ctx, cfg); err != nil { // idempotent; updates the password
		t.Fatal(err)
	}

	feURL := vhostURL(t, cfg.FrontendUser, cfg.FrontendPassword, cfg.VHost)
	beURL := vhostURL(t, cfg.BackendUser, cfg.BackendPassword, cfg.VHost)
	// The old password no longer works (rabbitmqctl: a failed AMQP login
	// is answered only after the broker's 3 s close delay).
	if out, err := exec.CommandContext(ctx, ctl, "authenticate_user", cfg.FrontendUser, first.FrontendPassword).CombinedOutput(); err == nil {
		t.Errorf("the frontend's old password still authenticates: %s", out)
	}
	// The frontend publishes commands (confirmed and routed) ...
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: feURL, Topology: cfg.Topology, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	if err := pub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	msg := commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: []byte(`{}`)}
	if err := pub.Publish(ctx, msg); err != nil {
		t.Fatalf("frontend publish to %s: %v", cfg.Topology.Exchange, err)
	}
	// ... and nothing else.
	toDLX := cfg.Topology
	toDLX.Exchange = cfg.Topology.DeadLetterExchange
	dlxPub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: feURL, Topology: toDLX, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer dlxPub.Close()
	if err := dlxPub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dlxPub.Publish(ctx, msg); !isAccessRefused(err) {
		t.Errorf("frontend publish to the dead-letter exchange: %v, want 403", err)
	}
	fe, err := amqp.Dial(feURL)
	if err != nil {
		t.Fatal(err)
	}
	defer fe.Close()
	q := cfg.Topology.Queue
	for name, op := range map[string]func(*amqp.Channel) error{
		"basic.consume": func(ch *amqp.Channel) error { _, err := ch.Consume(q, "", false, false, false, false, nil); return err },
		"basic.get":     func(ch *amqp.Channel) error { _, _, err := ch.Get(q, false); return err },
		"queue.declare": func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(p+".mine", false, true, false, false, nil)
			return err
		},
		"queue.purge": func(ch *amqp.Channel) error { _, err := ch.QueuePurge(q, false); return err },
		"exchange.declare": func(ch *amqp.Channel) error {
			return ch.ExchangeDeclare(cfg.Topology.Exchange, amqp.ExchangeTopic, true, false, false, false, nil)
		},
		"queue.bind": func(ch *amqp.Channel) error { return ch.QueueBind(q, "x", cfg.Topology.DeadLetterExchange, false, nil) },
	} {
		ch, err := fe.Channel() // a refused operation closes its channel
		if err != nil {
			t.Fatal(err)
		}
		if err := op(ch); !isAccessRefused(err) {
			t.Errorf("frontend %s: %v, want ACCESS_REFUSED (403)", name, err)
		}
	}

	// The backend consumes the command and may dead-letter it; it may not
	// publish commands.
	con, err := rabbitmq.NewConsumer(rabbitmq.Config{URL: beURL, Topology: cfg.Topology})
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	got := make(chan commands.Message, 1)
	done := make(chan error, 1)
	go func() {
		done <- con.Consume(cctx, func(_ context.Context, m commands.Message) error {
			got <- m
			return commands.Permanent(errors.New("unusable"))
		})
	}()
	select {
	case m := <-got:
		if m.ID != msg.ID {
			t.Errorf("backend got %s, want %s", m.ID, msg.ID)
		}
	case err := <-done:
		t.Fatalf("backend Consume: %v", err)
	case <-ctx.Done():
		t.Fatal("backend never received the command")
	}
	au, err := amqp.ParseURI(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	au.Vhost = cfg.VHost
	admin, err := amqp.Dial(au.String())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ach, err := admin.Channel()
	if err != nil {
		t.Fatal(err)
	}
	for {
		d, ok, err := ach.Get(cfg.Topology.DeadLetterQueue, true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if d.MessageId != msg.ID.String() || d.Headers[rabbitmq.HeaderReason] == nil {
				t.Errorf("dead letter %s headers %v", d.MessageId, d.Headers)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the backend's dead letter never arrived")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	bePub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: beURL, Topology: cfg.Topology, Channels: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer bePub.Close()
	if err := bePub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bePub.Publish(ctx, msg); !isAccessRefused(err) {
		t.Errorf("backend publishing a command: %v, want 403", err)
	}
}

func isAccessRefused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused
}
