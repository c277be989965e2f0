package provision

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	rabbithole "github.com/michaelklishin/rabbit-hole/v2"
)

// overHTTP sets the vhost, the users and the permissions through the
// management plugin's HTTP API. It reads everything it needs first, so
// refused credentials, a user without the administrator tag or a missing
// password change nothing.
//
// Every call it makes (users, vhosts, permissions) is administrator-only
// in the management API: the management, policymaker and monitoring tags
// are answered 401 "Not administrator user", even with full permissions
// on the vhost.
func (c RabbitMQConfig) overHTTP(ctx context.Context, base, admin, password string) error {
	// A filtered port or a stuck broker must not hang setup; a dial that
	// times out counts as unreachable, like a refused one.
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
	}
	api, err := rabbithole.NewTLSClient(base, admin, password, ctxTransport{ctx, tr})
	if err != nil {
		return fmt.Errorf("provision: RabbitMQ management URL: %w", err)
	}
	fail := func(what string, err error) error {
		return fmt.Errorf("provision: RabbitMQ management API %s: %s: %w", base, what, err)
	}

	me, err := api.Whoami()
	if err != nil {
		err = fail("log in as "+admin, err)
		// Only the first call may lead to the fallback: once the API has
		// answered, a lost connection is an error to retry, not a reason
		// to switch to rabbitmqctl halfway.
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
			return errUnreachable{err}
		}
		// 401: a wrong user or password, or a user without any
		// management tag (rabbit-hole's error does not say which).
		return fmt.Errorf("%w (check the administrator's name and password in the AMQP URL; the user needs the administrator tag)", err)
	}
	if !slices.Contains(me.Tags, "administrator") {
		return fmt.Errorf("provision: RabbitMQ user %s has tags %q: setup needs the administrator tag "+
			"(creating users, vhosts and permissions is administrator-only in the management API)", admin, me.Tags)
	}
	type want struct {
		name, password string
		settings       rabbithole.UserSettings
	}
	fe, be := c.Permissions()
	users := []*want{{name: c.FrontendUser, password: c.FrontendPassword}, {name: c.BackendUser, password: c.BackendPassword}}
	for _, u := range users {
		// No tags: neither role has any business with the management API.
		u.settings = rabbithole.UserSettings{Name: u.name, Password: u.password, Tags: rabbithole.UserTags{}}
		if u.password != "" {
			continue
		}
		old, err := api.GetUser(u.name)
		if isStatus(err, http.StatusNotFound) {
			return fmt.Errorf("provision: RabbitMQ user %s does not exist yet: a password is required", u.name)
		}
		if err != nil {
			return fail("read user "+u.name, err)
		}
		// Writing a user without a password would clear it: keep its hash.
		u.settings.PasswordHash, u.settings.HashingAlgorithm = old.PasswordHash, old.HashingAlgorithm
	}
	// The users first: a password the broker's policy refuses stops setup
	// before the vhost exists.
	for _, u := range users {
		if err := done(api.PutUser(u.name, u.settings)); err != nil {
			return fail("write user "+u.name, err)
		}
	}
	_, err = api.GetVhost(c.VHost)
	switch {
	case isStatus(err, http.StatusNotFound):
		// Only a missing vhost is written: a PUT on an existing one would
		// reset its tracing flag, which is the operator's.
		if err := done(api.PutVhost(c.VHost, rabbithole.VhostSettings{Description: "Purepool commands"})); err != nil {
			return fail("create vhost "+c.VHost, err)
		}
	case err != nil:
		return fail("read vhost "+c.VHost, err)
	}
	for _, p := range []struct {
		user string
		perm [3]string
	}{{c.FrontendUser, fe}, {c.BackendUser, be}, {admin, adminPermissions}} {
		perm := rabbithole.Permissions{Configure: p.perm[0], Write: p.perm[1], Read: p.perm[2]}
		if err := done(api.UpdatePermissionsIn(c.VHost, p.user, perm)); err != nil {
			return fail(fmt.Sprintf("set the permissions of %s on vhost %s", p.user, c.VHost), err)
		}
	}
	return nil
}

// done closes the body rabbit-hole leaves open on success.
func done(res *http.Response, err error) error {
	if res != nil && res.Body != nil {
		res.Body.Close()
	}
	return err
}

func isStatus(err error, code int) bool {
	var e rabbithole.ErrorResponse
	return errors.As(err, &e) && e.StatusCode == code
}

// ctxTransport gives every request the setup's context: rabbit-hole's
// calls take none, and a cancelled setup must not wait on the broker.
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(r.WithContext(t.ctx))
}
