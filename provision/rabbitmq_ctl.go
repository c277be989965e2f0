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
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"
)

// overCtl is the fallback when the management API cannot be reached: vhost,
// users and permissions imported by the local rabbitmqctl, so it runs on
// the broker's host as root or the rabbitmq user. The definitions, with
// salted password hashes, go through its standard input, never its command
// line.
func (c RabbitMQConfig) overCtl(ctx context.Context, admin amqp.URI) error {
	ctl, err := exec.LookPath(c.Ctl)
	if err != nil {
		return fmt.Errorf("provision: RabbitMQ fallback: %w: run setup on the broker's host, or enable the management plugin (rabbitmq-plugins enable rabbitmq_management)", err)
	}
	// rabbitmqctl trusts its caller: check the administrator's
	// credentials first, so refused ones change nothing here either.
	if err := checkLogin(admin, c.VHost); err != nil {
		return err
	}
	defs, err := c.definitions(admin.Username, func(user string) (bool, error) {
		out, err := runCtl(ctx, ctl, "", "list_users", "--quiet", "--no-table-headers")
		return hasUser(out, user), err
	})
	if err != nil {
		return err
	}
	// One rabbitmqctl call (each boots an Erlang VM: about a second on a
	// busy machine): vhost, users and permissions as definitions, read from
	// standard input. Import adds or updates what it lists and leaves
	// everything else alone.
	_, err = runCtl(ctx, ctl, string(defs), "import_definitions")
	return err
}

// checkLogin fails if the broker refuses the credentials of u. Being
// refused the vhost (530, NOT_ALLOWED: it may not exist yet) means the
// login itself was accepted.
func checkLogin(u amqp.URI, vhost string) error {
	u.Vhost = vhost
	conn, err := amqp.Dial(u.String())
	if err == nil {
		return conn.Close()
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotAllowed {
		return nil
	}
	return fmt.Errorf("provision: RabbitMQ login as %s: %w", u.Username, err)
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
			{admin, c.VHost, adminPermissions[0], adminPermissions[1], adminPermissions[2]},
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
