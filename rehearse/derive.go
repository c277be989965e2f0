package rehearse

// Deriving the rehearsal's configuration from the operator's file: the same
// servers and credentials, other database and vhost names, the simulated
// node in place of biblepayd, and rehearsal-friendly timings.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/go-sql-driver/mysql"
)

// Role names a process of the three-server layout whose environment may
// differ (the systemd units' /etc/purepool/<role>.env).
type Role string

// The roles.
const (
	Frontend  Role = "frontend"
	Backend   Role = "backend"
	Projector Role = "projector"
)

// Roles in the order they are started.
var Roles = []Role{Backend, Projector, Frontend}

// envRef matches what os.Expand (and so the configuration's ${NAME})
// replaces.
var envRef = regexp.MustCompile(`\$\{[^}]*\}|\$[A-Za-z0-9_]+`)

// protect replaces every ${NAME} of s by a token a URL parser keeps as it
// is; restore puts them back. The operator's file keeps its references so
// that each role expands them with its own environment.
func protect(s string) (string, func(string) string) {
	var refs []string
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		refs = append(refs, m)
		return fmt.Sprintf("ppref%dx", len(refs)-1)
	})
	return out, func(t string) string {
		for i, r := range refs {
			t = strings.Replace(t, fmt.Sprintf("ppref%dx", i), r, 1)
		}
		return t
	}
}

// withPostgresDB returns a postgres:// URL with its database renamed by
// rename (the unexpanded form may hold ${NAME}).
func withPostgresDB(raw string, rename func(string) string) (string, error) {
	p, restore := protect(raw)
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a postgres://user:password@host:port/database URL", raw)
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return "", fmt.Errorf("%q names no database", raw)
	}
	u.Path = "/" + rename(db)
	u.RawPath = ""
	return restore(u.String()), nil
}

// withVHost returns an amqp:// URL with its vhost renamed.
func withVHost(raw string, rename func(string) string) (string, error) {
	p, restore := protect(raw)
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not an amqp://user:password@host:port/vhost URL", raw)
	}
	vhost, err := url.PathUnescape(strings.TrimPrefix(u.EscapedPath(), "/"))
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	if vhost == "" || vhost == "/" {
		vhost = "purepool" // the default vhost "/" has no name to extend
	}
	u.Path = "/" + rename(vhost)
	u.RawPath = ""
	return restore(u.String()), nil
}

// withMySQLDB returns a mysql://user:pw@tcp(host:port)/db?… DSN with its
// database renamed (the driver's DSN is no URL: it is cut by hand).
func withMySQLDB(raw string, rename func(string) string) (string, error) {
	dsn, ok := strings.CutPrefix(raw, "mysql://")
	if !ok {
		return "", fmt.Errorf("%q is not a mysql:// read model", raw)
	}
	// The database follows the last '/' before the parameters (a password
	// may hold '/', the address part ends with ')').
	params := ""
	if i := strings.LastIndex(dsn, "?"); i >= 0 && i > strings.LastIndex(dsn, ")") {
		dsn, params = dsn[:i], dsn[i:]
	}
	i := strings.LastIndex(dsn, "/")
	if i < 0 || i < strings.LastIndex(dsn, ")") || dsn[i+1:] == "" {
		return "", fmt.Errorf("%q names no database", raw)
	}
	return "mysql://" + dsn[:i+1] + rename(dsn[i+1:]) + params, nil
}

// Env is one process's environment.
type Env map[string]string

// Lookup is os.LookupEnv over the map.
func (e Env) Lookup(name string) (string, bool) { v, ok := e[name]; return v, ok }

// List is the environment as exec.Cmd takes it.
func (e Env) List() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	return out
}

// With returns a copy of e with the extra variables.
func (e Env) With(kv ...string) Env {
	out := make(Env, len(e)+len(kv)/2)
	for k, v := range e {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// Expand replaces ${NAME} as the configuration does; a variable the
// environment lacks is an error naming it.
func (e Env) Expand(s string) (string, error) {
	var missing string
	out := os.Expand(s, func(name string) string {
		v, ok := e[name]
		if !ok && missing == "" {
			missing = name
		}
		return v
	})
	if missing != "" {
		return "", fmt.Errorf("environment variable %s is not set", missing)
	}
	return out, nil
}

// ProcessEnv is this process's environment.
func ProcessEnv() Env {
	e := Env{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			e[k] = v
		}
	}
	return e
}

// ReadEnvFile adds the variables of a systemd EnvironmentFile (KEY=value
// lines, # comments, optional quotes) to a copy of base.
func ReadEnvFile(base Env, path string) (Env, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := base.With()
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("%s:%d: want KEY=value", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out, sc.Err()
}

// operatorFile is the operator's configuration as TOML tables, every key
// kept (keys this package does not know are written back unchanged).
type operatorFile map[string]any

func parseOperatorFile(text string) (operatorFile, error) {
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func (f operatorFile) table(name string) map[string]any {
	t, ok := f[name].(map[string]any)
	if !ok {
		t = map[string]any{}
		f[name] = t
	}
	return t
}

func (f operatorFile) str(table, key string) string {
	if t, ok := f[table].(map[string]any); ok {
		s, _ := t[key].(string)
		return s
	}
	return ""
}

// networks are the [[network]] tables.
func (f operatorFile) networks() []map[string]any {
	switch ns := f["network"].(type) {
	case []map[string]any:
		return ns
	case []any:
		var out []map[string]any
		for _, n := range ns {
			if t, ok := n.(map[string]any); ok {
				out = append(out, t)
			}
		}
		return out
	}
	return nil
}

func (f operatorFile) encode() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("# Written by `purepool rehearse`: the operator's configuration with the\n" +
		"# rehearsal's databases, vhost, simulated node and timings. Not for production.\n")
	if err := toml.NewEncoder(&b).Encode(map[string]any(f)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// credentials are the user and password a URL or DSN carries.
type credentials struct{ user, password string }

func urlCredentials(expanded string) (credentials, error) {
	u, err := url.Parse(expanded)
	if err != nil {
		return credentials{}, errors.New("not a URL") // never echo: it holds a password
	}
	if u.User == nil {
		return credentials{}, nil
	}
	pw, _ := u.User.Password()
	return credentials{u.User.Username(), pw}, nil
}

func mysqlCredentials(expanded string) (credentials, error) {
	c, err := mysql.ParseDSN(strings.TrimPrefix(expanded, "mysql://"))
	if err != nil {
		return credentials{}, errors.New("not a go-sql-driver DSN")
	}
	return credentials{c.User, c.Passwd}, nil
}
