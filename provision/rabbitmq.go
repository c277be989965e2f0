package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands/rabbitmq"
)

// RabbitMQConfig names the broker, the administrator, the vhost, the users
// and the topology.
//
// Setup works from any host: vhost, users and permissions go through the
// management plugin's HTTP API with the administrator's credentials (the
// user of AdminURL, which needs the administrator tag); the topology is
// then declared over AMQP by the same administrator, which setup grants
// full permissions on the vhost. Only when the management API cannot be
// reached at all does setup fall back to a local `rabbitmqctl
// import_definitions`, which needs root (or the rabbitmq user) on the
// broker's host.
type RabbitMQConfig struct {
	// AdminURL is an AMQP URL of an administrator; its vhost is ignored.
	// Its user and password are also those of the management API.
	AdminURL string
	// ManagementURL is the base of the management HTTP API, without
	// credentials (default: http://<AdminURL host>:15672, or
	// https://<host>:15671 for amqps).
	ManagementURL string
	// Ctl is the rabbitmqctl program of the fallback (DefaultRabbitMQ:
	// "rabbitmqctl"; as root it re-executes itself as the rabbitmq user).
	// Empty: no fallback, an unreachable management API is an error.
	Ctl                            string
	VHost                          string // "purepool"
	FrontendUser, FrontendPassword string // "purepool-frontend"
	BackendUser, BackendPassword   string // "purepool-backend"
	Topology                       rabbitmq.Topology
	// Logger says which path setup took (nil: slog.Default()).
	Logger *slog.Logger
}

// DefaultRabbitMQ returns the production names (no passwords).
func DefaultRabbitMQ() RabbitMQConfig {
	return RabbitMQConfig{
		Ctl:          "rabbitmqctl",
		VHost:        "purepool",
		FrontendUser: "purepool-frontend",
		BackendUser:  "purepool-backend",
		Topology:     rabbitmq.DefaultTopology(),
	}
}

var rabbitName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// Permissions returns the (configure, write, read) regexes of the two users.
func (c RabbitMQConfig) Permissions() (frontend, backend [3]string) {
	only := func(name string) string { return "^" + regexp.QuoteMeta(name) + "$" }
	frontend = [3]string{"^$", only(c.Topology.Exchange), "^$"}
	backend = [3]string{"^$", only(c.Topology.DeadLetterExchange), only(c.Topology.Queue)}
	return frontend, backend
}

// checkTopologyNames refuses names that would widen or cross the users'
// permissions, which are scoped to them: an empty exchange is AMQP's
// default exchange (a frontend allowed to write to it could route to any
// queue by name, the dead letters included), amq.* belongs to the broker,
// and a dead-letter exchange or queue that is the command one would let the
// backend publish commands or read dead letters as commands.
func checkTopologyNames(t rabbitmq.Topology) error {
	names := []struct{ what, name string }{
		{"exchange", t.Exchange}, {"queue", t.Queue},
		{"dead-letter exchange", t.DeadLetterExchange}, {"dead-letter queue", t.DeadLetterQueue},
	}
	seen := map[string]string{}
	for _, n := range names {
		if !rabbitName.MatchString(n.name) {
			return fmt.Errorf("provision: RabbitMQ %s %q must match %s", n.what, n.name, rabbitName)
		}
		if strings.HasPrefix(n.name, "amq.") {
			return fmt.Errorf("provision: RabbitMQ %s %q: amq.* names belong to the broker", n.what, n.name)
		}
		if other, ok := seen[n.name]; ok {
			return fmt.Errorf("provision: RabbitMQ %s and %s are both %q: the four names must differ", other, n.what, n.name)
		}
		seen[n.name] = n.what
	}
	return nil
}

// adminPermissions are the administrator's on the vhost: it declares the
// topology over AMQP, where RabbitMQ checks vhost permissions whatever the
// user's tags. Narrower ones would buy nothing: an administrator may grant
// itself any permission through the management API.
var adminPermissions = [3]string{".*", ".*", ".*"}

// RabbitMQ creates the vhost and the two users, sets their permissions and
// declares the topology. Idempotent: existing users get the given password
// (an empty one leaves it unchanged) and exactly the pool's permissions;
// nothing else of the broker is touched. Bad input or refused credentials
// fail before anything is changed.
func RabbitMQ(ctx context.Context, cfg RabbitMQConfig) error {
	for what, n := range map[string]string{"vhost": cfg.VHost, "frontend user": cfg.FrontendUser, "backend user": cfg.BackendUser} {
		if !rabbitName.MatchString(n) {
			return fmt.Errorf("provision: RabbitMQ %s %q must match %s", what, n, rabbitName)
		}
	}
	if cfg.FrontendUser == cfg.BackendUser {
		return errors.New("provision: the RabbitMQ frontend and backend users must differ")
	}
	if err := checkTopologyNames(cfg.Topology); err != nil {
		return err
	}
	uri, err := amqp.ParseURI(cfg.AdminURL)
	if err != nil {
		return fmt.Errorf("provision: RabbitMQ admin URL: %w", err)
	}
	if uri.Username == cfg.FrontendUser || uri.Username == cfg.BackendUser {
		return fmt.Errorf("provision: the RabbitMQ administrator %s cannot be one of the pool's users", uri.Username)
	}
	mgmt, err := managementURL(cfg.ManagementURL, uri)
	if err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}

	mgmtErr := cfg.overHTTP(ctx, mgmt, uri.Username, uri.Password)
	switch {
	case mgmtErr == nil:
		log.Info("RabbitMQ: vhost, users and permissions set over the management API", "url", mgmt, "admin", uri.Username)
	case !isUnreachable(mgmtErr):
		return mgmtErr
	case cfg.Ctl == "":
		return fmt.Errorf("%w; no rabbitmqctl fallback: enable the plugin (rabbitmq-plugins enable rabbitmq_management)", mgmtErr)
	default:
		log.Warn("RabbitMQ: management API unreachable, falling back to the local rabbitmqctl (root on the broker's host)",
			"url", mgmt, "error", mgmtErr, "rabbitmqctl", cfg.Ctl)
		if err := cfg.overCtl(ctx, uri); err != nil {
			return fmt.Errorf("%w (rabbitmqctl fallback, because %v)", err, mgmtErr)
		}
		log.Info("RabbitMQ: vhost, users and permissions set with the local rabbitmqctl", "rabbitmqctl", cfg.Ctl)
	}

	uri.Vhost = cfg.VHost
	conn, err := amqp.Dial(uri.String())
	if err != nil {
		return fmt.Errorf("provision: connect to RabbitMQ vhost %s as %s: %w", cfg.VHost, uri.Username, err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("provision: RabbitMQ: %w", err)
	}
	if err := rabbitmq.DeclareTopology(ch, cfg.Topology); err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

// managementURL is the management API's base URL: given, or derived from
// the AMQP URL's host with the plugin's default ports.
func managementURL(given string, amqpURI amqp.URI) (string, error) {
	if given == "" {
		u := url.URL{Scheme: "http", Host: net.JoinHostPort(amqpURI.Host, "15672")}
		if amqpURI.Scheme == "amqps" {
			u.Scheme, u.Host = "https", net.JoinHostPort(amqpURI.Host, "15671")
		}
		return u.String(), nil
	}
	u, err := url.Parse(given)
	switch {
	case err != nil:
		return "", fmt.Errorf("provision: RabbitMQ management URL: %w", err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return "", fmt.Errorf("provision: RabbitMQ management URL %q: want http(s)://host:port", given)
	case u.User != nil:
		// One administrator for both APIs: its credentials are checked
		// before anything changes, and it is the user granted the vhost.
		return "", fmt.Errorf("provision: RabbitMQ management URL %s: no credentials here, the administrator is the user of the AMQP URL", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("provision: RabbitMQ management URL %s: no query or fragment", given)
	}
	u.Path = trimSlash(u.Path)
	return u.String(), nil
}

func trimSlash(p string) string {
	for len(p) > 0 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

// errUnreachable marks a management API that could not be connected to:
// the plugin is off, the port closed or filtered, the name unknown. Any
// answer, even a refusal, is not that and never leads to the fallback:
// refused credentials must not turn into a rabbitmqctl run as root.
type errUnreachable struct{ err error }

func (e errUnreachable) Error() string { return e.err.Error() }
func (e errUnreachable) Unwrap() error { return e.err }

func isUnreachable(err error) bool {
	var u errUnreachable
	return errors.As(err, &u)
}
