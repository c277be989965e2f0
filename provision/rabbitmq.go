package provision

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands/rabbitmq"
)

// RabbitMQConfig names the vhost, users and topology.
//
// Setup runs on the data server, next to the broker: vhost, users and
// permissions are imported with one `rabbitmqctl import_definitions` (no
// management plugin needed; the definitions, with salted password hashes,
// go through its standard input, never its command line); the topology is
// then declared over AMQP by the admin user, which setup grants full
// permissions on the vhost.
type RabbitMQConfig struct {
	// Ctl is the rabbitmqctl program (default "rabbitmqctl"; as root it
	// re-executes itself as the rabbitmq user).
	Ctl string
	// AdminURL is an AMQP URL of an administrator; its vhost is ignored.
	AdminURL                       string
	VHost                          string // "purepool"
	FrontendUser, FrontendPassword string // "purepool-frontend"
	BackendUser, BackendPassword   string // "purepool-backend"
	Topology                       rabbitmq.Topology
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

// RabbitMQ creates the vhost and the two users, sets their permissions and
// declares the topology. Idempotent: existing users get the given password
// (an empty one leaves it unchanged).
func RabbitMQ(ctx context.Context, cfg RabbitMQConfig) error {
	for what, n := range map[string]string{"vhost": cfg.VHost, "frontend user": cfg.FrontendUser, "backend user": cfg.BackendUser} {
		if !rabbitName.MatchString(n) {
			return fmt.Errorf("provision: RabbitMQ %s %q must match %s", what, n, rabbitName)
		}
	}
	if cfg.FrontendUser == cfg.BackendUser {
		return errors.New("provision: the RabbitMQ frontend and backend users must differ")
	}
	uri, err := amqp.ParseURI(cfg.AdminURL)
	if err != nil {
		return fmt.Errorf("provision: RabbitMQ admin URL: %w", err)
	}
	if cfg.Ctl == "" {
		cfg.Ctl = "rabbitmqctl"
	}
	defs, err := cfg.definitions(uri.Username, func(user string) (bool, error) {
		out, err := runCtl(ctx, cfg.Ctl, "", "list_users", "--quiet", "--no-table-headers")
		return hasUser(out, user), err
	})
	if err != nil {
		return err
	}
	// One rabbitmqctl call (each boots an Erlang VM: about a second on a
	// busy machine): vhost, users and permissions as definitions, read from
	// standard input. Import adds or updates what it lists and leaves
	// everything else alone.
	if _, err := runCtl(ctx, cfg.Ctl, string(defs), "import_definitions"); err != nil {
		return err
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

// definitions is the JSON the broker imports. Passwords are stored as
// the broker's default hash (rabbit_password_hashing_sha256: base64 of a
// 4-byte salt followed by SHA-256(salt ‖ password)); an empty password
// leaves an existing user untouched.
func (c RabbitMQConfig) definitions(admin string, exists func(user string) (bool, error)) ([]byte, error) {
	type user struct {
		Name      string   `json:"name"`
		Hash      string   `json:"password_hash"`
		Algorithm string   `json:"hashing_algorithm"`
		Tags      []string `json:"tags"`
	}
	type permission struct {
		User      string `json:"user"`
		VHost     string `json:"vhost"`
		Configure string `json:"configure"`
		Write     string `json:"write"`
		Read      string `json:"read"`
	}
	var users []user
	for _, u := range []struct{ name, password string }{{c.FrontendUser, c.FrontendPassword}, {c.BackendUser, c.BackendPassword}} {
		if u.password == "" {
			ok, err := exists(u.name)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("provision: RabbitMQ user %s does not exist yet: a password is required", u.name)
			}
			continue
		}
		var salt [4]byte
		if _, err := rand.Read(salt[:]); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append(salt[:], u.password...))
		users = append(users, user{Name: u.name, Hash: base64.StdEncoding.EncodeToString(append(salt[:], sum[:]...)),
			Algorithm: "rabbit_password_hashing_sha256", Tags: []string{}})
	}
	fe, be := c.Permissions()
	return json.Marshal(map[string]any{
		"users":  users,
		"vhosts": []map[string]string{{"name": c.VHost}},
		"permissions": []permission{
			{c.FrontendUser, c.VHost, fe[0], fe[1], fe[2]},
			{c.BackendUser, c.VHost, be[0], be[1], be[2]},
			// The admin declares the topology in the new vhost.
			{admin, c.VHost, ".*", ".*", ".*"},
		},
	})
}

func runCtl(ctx context.Context, ctl, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, ctl, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("provision: rabbitmqctl %s: %w: %s", args[0], err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

func hasUser(listing, name string) bool {
	for _, line := range strings.Split(listing, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}
