package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config says how to reach the broker and which topology to use.
type Config struct {
	URL      string // amqp://user:password@host:port/vhost
	Topology Topology
	// Name is shown by the broker as the connection name (rabbitmqctl
	// list_connections client_properties), e.g. "purepool-frontend".
	Name string
	// Channels is the number of confirm-mode channels a Publisher spreads
	// publishes over (default 4). Each channel pipelines any number of
	// unconfirmed publishes (up to MaxInFlight), so this is about using the
	// broker's per-channel processes in parallel, not about concurrency.
	Channels int
	// MaxInFlight bounds unconfirmed publishes per channel (default 1024);
	// a Publish beyond it waits for a slot.
	MaxInFlight int
	// Prefetch is the consumer's per-consumer QoS (default 32).
	Prefetch int
	// Workers is how many handlers a Consumer runs at once (default 1).
	Workers int
	// RedeliveryDelay is how long a Consumer holds a failed message before
	// requeueing it, doubled for each earlier delivery and capped at 30 s
	// (default 100 ms; negative: requeue at once). Without it a node outage
	// would burn through the delivery limit in milliseconds and
	// dead-letter every command.
	RedeliveryDelay time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// connection attempts (defaults 100 ms and 10 s).
	ReconnectMin, ReconnectMax time.Duration
	// RefusedGrace is how long a Consumer that has consumed before keeps
	// retrying a broker that refuses its login or permissions (403) before
	// Consume gives up (default 2 minutes). A restarting RabbitMQ refuses
	// logins for a moment while its user database loads; a revoked
	// permission stays. The first connection gives up at once: a refusal
	// there is a configuration error to report, not to wait out.
	RefusedGrace time.Duration
	// Dial overrides how TCP connections are made (tests cut them with it).
	Dial   func(network, addr string) (net.Conn, error)
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Topology == (Topology{}) {
		c.Topology = DefaultTopology()
	}
	if c.Channels <= 0 {
		c.Channels = 4
	}
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.Prefetch <= 0 {
		c.Prefetch = 32
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.RedeliveryDelay == 0 {
		c.RedeliveryDelay = 100 * time.Millisecond
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 100 * time.Millisecond
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(10*time.Second, c.ReconnectMin)
	}
	if c.RefusedGrace <= 0 {
		c.RefusedGrace = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Name == "" {
		c.Name = "purepool"
	}
	return c
}

func (c Config) dial() (*amqp.Connection, error) {
	dial := c.Dial
	if dial == nil {
		dial = amqp.DefaultDial(5 * time.Second)
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.Name)
	conn, err := amqp.DialConfig(c.URL, amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Dial:       dial,
		Properties: props,
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", redact(c.URL), err)
	}
	return conn, nil
}

// redact drops the password from an AMQP URL for messages and logs.
func redact(u string) string {
	uri, err := amqp.ParseURI(u)
	if err != nil {
		return "(invalid URL)"
	}
	uri.Password = ""
	return uri.String()
}

// backoff is a capped exponential backoff with full jitter.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) reset() { b.cur = 0 }

// wait sleeps for the next interval or until ctx ends.
func (b *backoff) wait(ctx context.Context) error {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	d := b.cur/2 + rand.N(b.cur/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// isAccessRefused reports a broker 403: the user's login or permissions
// are refused (or, for a moment, a restarting broker cannot check them).
func isAccessRefused(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.AccessRefused || errors.Is(err, amqp.ErrCredentials)
}
