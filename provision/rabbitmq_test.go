package provision_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
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

// managementAPI is a client of the local broker's management API as the
// test broker's administrator (skips, or fails in CI, when it is off).
func managementAPI(t *testing.T) *rabbithole.Client {
	t.Helper()
	u, err := amqp.ParseURI(testenv.RequireAMQP(t))
	if err != nil {
		t.Fatal(err)
	}
	api, err := rabbithole.NewClient("http://"+net.JoinHostPort(u.Host, "15672"), u.Username, u.Password)
	if err != nil {
		t.Fatal(err)
	}
	api.SetTimeout(30 * time.Second)
	if _, err := api.Whoami(); err != nil {
		testenv.Unavailable(t, "RabbitMQ management API (rabbitmq-plugins enable rabbitmq_management)", err)
	}
	return api
}

// closedPort is a management URL nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// newConfig names a fresh vhost and users, removed when the test ends.
func newConfig(t *testing.T, api *rabbithole.Client) provision.RabbitMQConfig {
	t.Helper()
	p := testenv.UniqueName("pp_t")
	cfg := provision.DefaultRabbitMQ()
	cfg.AdminURL = testenv.RequireAMQP(t)
	cfg.VHost, cfg.FrontendUser, cfg.BackendUser = p, p+"-frontend", p+"-backend"
	cfg.FrontendPassword, cfg.BackendPassword = "fe pw", "be pw"
	t.Cleanup(func() {
		for _, del := range []func() (*http.Response, error){
			func() (*http.Response, error) { return api.DeleteVhost(cfg.VHost) },
			func() (*http.Response, error) { return api.DeleteUser(cfg.FrontendUser) },
			func() (*http.Response, error) { return api.DeleteUser(cfg.BackendUser) },
		} {
			if res, err := del(); err != nil {
				t.Logf("cleanup: %v", err)
			} else {
				res.Body.Close()
			}
		}
	})
	return cfg
}

func isStatus(err error, code int) bool {
	var e rabbithole.ErrorResponse
	return errors.As(err, &e) && e.StatusCode == code
}

// TestRabbitMQ_ManagementAPI provisions over HTTP only (no fallback):
// pre-existing users get exactly the pool's tags and permissions, an
// existing vhost keeps its settings, a second run changes the password
// and an empty one keeps it.
func TestRabbitMQ_ManagementAPI(t *testing.T) {
	t.Parallel()
	api := managementAPI(t)
	cfg := newConfig(t, api)
	cfg.Ctl = "" // no fallback: the management API or an error
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))

	// Drift to correct, and the operator's vhost settings to keep.
	must := func(res *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	must(api.PutVhost(cfg.VHost, rabbithole.VhostSettings{Description: "the operator's", Tracing: true}))
	must(api.PutUser(cfg.FrontendUser, rabbithole.UserSettings{Password: "old", Tags: rabbithole.UserTags{"management"}}))
	must(api.UpdatePermissionsIn(cfg.VHost, cfg.FrontendUser, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}))

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
	kept := cfg
	kept.FrontendPassword, kept.BackendPassword = "", ""
	if err := provision.RabbitMQ(ctx, kept); err != nil { // keeps both passwords
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "over the management API") || strings.Contains(logs.String(), "rabbitmqctl") {
		t.Errorf("log does not say the management API was used:\n%s", logs.String())
	}

	vh, err := api.GetVhost(cfg.VHost)
	if err != nil {
		t.Fatal(err)
	}
	if vh.Description != "the operator's" || !vh.Tracing {
		t.Errorf("vhost changed: description %q, tracing %v", vh.Description, vh.Tracing)
	}
	fe, be := cfg.Permissions()
	au, _ := amqp.ParseURI(cfg.AdminURL)
	for user, want := range map[string][3]string{cfg.FrontendUser: fe, cfg.BackendUser: be, au.Username: {".*", ".*", ".*"}} {
		p, err := api.GetPermissionsIn(cfg.VHost, user)
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]string{p.Configure, p.Write, p.Read}; got != want {
			t.Errorf("%s's permissions %q, want %q", user, got, want)
		}
		if user == au.Username {
			continue
		}
		u, err := api.GetUser(user)
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Tags) != 0 && !(len(u.Tags) == 1 && u.Tags[0] == "") {
			t.Errorf("%s has tags %q, want none", user, u.Tags)
		}
	}
	// The frontend's first password no longer works; the current one
	// survived the run without passwords.
	if c, err := amqp.Dial(vhostURL(t, cfg.FrontendUser, first.FrontendPassword, cfg.VHost)); err == nil {
		c.Close()
		t.Error("the frontend's old password still logs in")
	}
	checkLeastPrivilege(ctx, t, cfg)
}

// TestRabbitMQ_Fallback: with the management API unreachable, setup uses
// the local rabbitmqctl (root on the broker's host) and says so.
func TestRabbitMQ_Fallback(t *testing.T) {
	t.Parallel()
	api := managementAPI(t) // for the cleanup only
	ctl, err := exec.LookPath("rabbitmqctl")
	if err != nil {
		testenv.Unavailable(t, "rabbitmqctl", err)
	}
	cfg := newConfig(t, api)
	cfg.Ctl, cfg.ManagementURL = ctl, closedPort(t)
	var logs bytes.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
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
	if !strings.Contains(logs.String(), "falling back to the local rabbitmqctl") {
		t.Errorf("log does not say rabbitmqctl was used:\n%s", logs.String())
	}
	// The old password no longer works (rabbitmqctl: a failed AMQP login
	// is answered only after the broker's 3 s close delay).
	if out, err := exec.CommandContext(ctx, ctl, "authenticate_user", cfg.FrontendUser, first.FrontendPassword).CombinedOutput(); err == nil {
		t.Errorf("the frontend's old password still authenticates: %s", out)
	}
	checkLeastPrivilege(ctx, t, cfg)
}

// TestRabbitMQ_Refused: refused administrators and an unusable fallback
// are clear errors, and nothing is created. A refusal over HTTP never
// falls back to rabbitmqctl.
func TestRabbitMQ_Refused(t *testing.T) {
	t.Parallel()
	api := managementAPI(t)
	ctl, ctlErr := exec.LookPath("rabbitmqctl")
	admin, err := url.Parse(testenv.RequireAMQP(t))
	if err != nil {
		t.Fatal(err)
	}
	// A user with every permission on "/" and the management tag, but
	// not the administrator tag.
	mgmtUser := testenv.UniqueName("pp_t") + "-mgmt"
	if res, err := api.PutUser(mgmtUser, rabbithole.UserSettings{Password: "pw", Tags: rabbithole.UserTags{"management"}}); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	t.Cleanup(func() {
		if res, err := api.DeleteUser(mgmtUser); err == nil {
			res.Body.Close()
		}
	})
	if res, err := api.UpdatePermissionsIn("/", mgmtUser, rabbithole.Permissions{Configure: ".*", Write: ".*", Read: ".*"}); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	withUser := func(user, password string) string {
		u := *admin
		u.User = url.UserPassword(user, password)
		return u.String()
	}
	for _, tc := range []struct {
		name, adminURL, mgmtURL, ctl string
		needCtl                      bool
		want                         []string
	}{
		{"wrong password", withUser(admin.User.Username(), "wrong"), "", ctl, false, []string{"401"}},
		{"management tag only", withUser(mgmtUser, "pw"), "", ctl, false, []string{"administrator tag"}},
		{"wrong password, fallback", withUser(admin.User.Username(), "wrong"), closedPort(t), ctl, true, []string{"username or password not allowed", "connection refused"}},
		{"no rabbitmqctl", admin.String(), closedPort(t), "/nonexistent/rabbitmqctl", false, []string{"rabbitmq_management", "/nonexistent/rabbitmqctl", "connection refused"}},
		{"no fallback", admin.String(), closedPort(t), "", false, []string{"rabbitmq_management", "connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needCtl && ctlErr != nil {
				testenv.Unavailable(t, "rabbitmqctl", ctlErr)
			}
			cfg := newConfig(t, api)
			cfg.AdminURL, cfg.ManagementURL, cfg.Ctl = tc.adminURL, tc.mgmtURL, tc.ctl
			cfg.Logger = slog.New(slog.DiscardHandler)
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			err := provision.RabbitMQ(ctx, cfg)
			if err == nil {
				t.Fatal("setup succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := api.GetVhost(cfg.VHost); !isStatus(err, http.StatusNotFound) {
				t.Errorf("vhost %s: %v, want 404", cfg.VHost, err)
			}
			for _, u := range []string{cfg.FrontendUser, cfg.BackendUser} {
				if _, err := api.GetUser(u); !isStatus(err, http.StatusNotFound) {
					t.Errorf("user %s: %v, want 404", u, err)
				}
			}
		})
	}
}

// TestRabbitMQ_BadInput is refused before any connection.
func TestRabbitMQ_BadInput(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(*provision.RabbitMQConfig)
		want string
	}{
		{"vhost", func(c *provision.RabbitMQConfig) { c.VHost = "a/b" }, "vhost"},
		{"same users", func(c *provision.RabbitMQConfig) { c.BackendUser = c.FrontendUser }, "must differ"},
		{"admin is a pool user", func(c *provision.RabbitMQConfig) { c.AdminURL = "amqp://purepool-frontend:x@127.0.0.1:1/" }, "administrator"},
		{"admin URL", func(c *provision.RabbitMQConfig) { c.AdminURL = "http://x" }, "admin URL"},
		{"management scheme", func(c *provision.RabbitMQConfig) { c.ManagementURL = "amqp://127.0.0.1:1" }, "http(s)"},
		{"management credentials", func(c *provision.RabbitMQConfig) { c.ManagementURL = "http://a:secret@127.0.0.1:1" }, "no credentials"},
		// Topology names widen or cross the users' permissions when wrong:
		// an empty exchange is AMQP's default exchange, through which the
		// frontend could route to any queue by name (the dead letters
		// included); a dead-letter exchange that is the command exchange
		// would let the backend publish commands; amq.* is the broker's.
		{"empty exchange", func(c *provision.RabbitMQConfig) { c.Topology.Exchange = "" }, "exchange"},
		{"empty queue", func(c *provision.RabbitMQConfig) { c.Topology.Queue = "" }, "queue"},
		{"broker's exchange", func(c *provision.RabbitMQConfig) { c.Topology.Exchange = "amq.topic" }, "amq."},
		{"regex in a name", func(c *provision.RabbitMQConfig) { c.Topology.Exchange = "cmds|.*" }, "exchange"},
		{"dead letters through the command exchange", func(c *provision.RabbitMQConfig) { c.Topology.DeadLetterExchange = c.Topology.Exchange }, "differ"},
		{"dead letters in the command queue", func(c *provision.RabbitMQConfig) { c.Topology.DeadLetterQueue = c.Topology.Queue }, "differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := provision.DefaultRabbitMQ()
			cfg.AdminURL = "amqp://admin:pw@127.0.0.1:1/"
			cfg.FrontendPassword, cfg.BackendPassword = "a", "b"
			cfg.Ctl = "/nonexistent/rabbitmqctl"
			tc.edit(&cfg)
			err := provision.RabbitMQ(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one about %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
}

// checkLeastPrivilege proves over AMQP what each user can and cannot do.
func checkLeastPrivilege(ctx context.Context, t *testing.T, cfg provision.RabbitMQConfig) {
	t.Helper()
	p := cfg.VHost
	feURL := vhostURL(t, cfg.FrontendUser, cfg.FrontendPassword, cfg.VHost)
	beURL := vhostURL(t, cfg.BackendUser, cfg.BackendPassword, cfg.VHost)
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
	// publish commands, declare or bind.
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
	au, err := amqp.ParseURI(cfg.AdminURL)
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
	be, err := amqp.Dial(beURL)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	for name, op := range map[string]func(*amqp.Channel) error{
		"queue.declare": func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclare(p+".mine", false, true, false, false, nil)
			return err
		},
		"basic.get on the dead-letter queue": func(ch *amqp.Channel) error {
			_, _, err := ch.Get(cfg.Topology.DeadLetterQueue, false)
			return err
		},
		"queue.bind": func(ch *amqp.Channel) error { return ch.QueueBind(q, "x", cfg.Topology.DeadLetterExchange, false, nil) },
		"queue.delete": func(ch *amqp.Channel) error {
			_, err := ch.QueueDelete(q, false, false, false)
			return err
		},
		"queue.purge of the dead-letter queue": func(ch *amqp.Channel) error {
			_, err := ch.QueuePurge(cfg.Topology.DeadLetterQueue, false)
			return err
		},
	} {
		ch, err := be.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if err := op(ch); !isAccessRefused(err) {
			t.Errorf("backend %s: %v, want ACCESS_REFUSED (403)", name, err)
		}
	}
	checkBackendCanPurge(t, beURL, q)
}

// The limit docs/operations.md states: RabbitMQ grants queue.purge with
// read, so the consumer can empty its queue; nothing narrower exists.
func checkBackendCanPurge(t *testing.T, beURL, queue string) {
	t.Helper()
	be, err := amqp.Dial(beURL)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	ch, err := be.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueuePurge(queue, false); err != nil {
		t.Errorf("backend queue.purge of %s: %v; docs/operations.md says it is allowed", queue, err)
	}
}

func isAccessRefused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused
}
