package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// Config says how to reach the broker and which topology to use.
type Config struct {
	// URL is amqp://user:password@host:port/vhost, or several such URLs
	// separated by commas, one per node of a RabbitMQ cluster
	// (amqp://u:p@h1:5672/v,amqp://u:p@h2:5672/v). Every connection, first
	// or again after a loss, tries the nodes in turn until one answers: the
	// first connection in the listed order, a reconnection starting at the
	// node after the one it lost. A comma inside a password must be written
	// %2C.
	URL      string
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
	// BatchSize and BatchDelay: group-commit publishing (see batch.go).
	// BatchSize caps the commands per broker message (0: default; 1: no
	// batching, one message per command). BatchDelay is how long a batch
	// may wait for more commands (0: default; negative: none).
	BatchSize  int
	BatchDelay time.Duration
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

	// nodes is URL parsed, shared by the copies of one Publisher's or
	// Consumer's Config so that its reconnections rotate; set by
	// withDefaults.
	nodes *nodeList
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
	if nodes, err := parseURLs(c.URL); err == nil {
		// Each Publisher or Consumer gets its own list, hence its own
		// rotation. A bad URL is reported by NewPublisher and NewConsumer
		// (parseURLs); dial reports it again should it get that far.
		c.nodes = nodes
	}
	return c
}

// dial connects to the first node of the list that answers, starting at
// the node the rotation points to; it fails only if every node failed, with
// every node's error (for the Consumer's 403 check, errors.As sees them all).
func (c Config) dial() (*amqp.Connection, error) {
	nodes := c.nodes
	if nodes == nil {
		var err error
		if nodes, err = parseURLs(c.URL); err != nil {
			return nil, fmt.Errorf("rabbitmq: %w", err)
		}
	}
	n := len(nodes.urls)
	start := int(nodes.next.Load()) % n
	var errs []error
	for i := range n {
		k := (start + i) % n
		conn, err := c.dialNode(nodes.urls[k])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// The next connection, after this one is lost, starts at the next
		// node: the one that was lost is the likeliest to be down.
		nodes.next.Store(int64(k + 1))
		if i > 0 && c.Logger != nil {
			c.Logger.Info("rabbitmq: connected to another broker node", "conn", c.Name,
				"node", nodes.urls[k].safe, "unreachable", i)
		}
		return conn, nil
	}
	if n == 1 {
		return nil, errs[0]
	}
	// The next attempt starts one node further, so that a node slow to
	// fail (a dial timeout) is not always the first one tried.
	nodes.next.Store(int64(start + 1))
	return nil, fmt.Errorf("rabbitmq: none of the %d broker nodes answered: %w", n, errors.Join(errs...))
}

func (c Config) dialNode(node nodeURL) (*amqp.Connection, error) {
	dial := c.Dial
	if dial == nil {
		dial = amqp.DefaultDial(5 * time.Second)
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.Name)
	conn, err := amqp.DialConfig(node.url, amqp.Config{
		Heartbeat:  10 * time.Second,
		Locale:     "en_US",
		Dial:       dial,
		Properties: props,
	})
	if err != nil {
		return nil, fmt.Errorf("rabbitmq: dial %s: %w", node.safe, err)
	}
	return conn, nil
}

// nodeList is the parsed Config.URL: one URL per broker node, and where the
// next connection attempt starts.
type nodeList struct {
	urls []nodeURL
	next atomic.Int64
}

// nodeURL is one node's URL, and the same without the password for
// messages and logs.
type nodeURL struct{ url, safe string }

// parseURLs splits a comma-separated list of AMQP URLs and checks each.
// Its errors never quote a URL: the password would be in them.
func parseURLs(list string) (*nodeList, error) {
	items := strings.Split(list, ",")
	nodes := &nodeList{urls: make([]nodeURL, 0, len(items))}
	for i, item := range items {
		item = strings.TrimSpace(item)
		which := "broker URL"
		if len(items) > 1 {
			which = fmt.Sprintf("broker URL %d of %d", i+1, len(items))
		}
		if item == "" {
			return nil, fmt.Errorf("%s is empty (a list separates amqp:// URLs with single commas)", which)
		}
		if _, err := amqp.ParseURI(item); err != nil {
			// url.Parse's error quotes the URL, and even its reason may
			// quote a piece of the password ("invalid port" when the
			// password holds a slash): say only that it is not a URL.
			var ue *url.Error
			if errors.As(err, &ue) {
				err = errors.New("not a valid URL (a reserved character such as , @ : / ? # in a user name or password must be percent-encoded)")
			}
			return nil, fmt.Errorf("%s: %w", which, err)
		}
		nodes.urls = append(nodes.urls, nodeURL{url: item, safe: redact(item)})
	}
	return nodes, nil
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
