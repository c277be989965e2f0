// Package config reads Purepool's configuration file (TOML). Every key is
// documented in purepool.example.toml beside this file, which is embedded and
// printed by `purepool config example`. Secrets can come from the
// environment: any string value may contain ${NAME}, replaced by the
// environment variable NAME (a missing variable is an error naming the key).
// A bad configuration gets an error naming the key.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
)

//go:embed purepool.example.toml
var Example string

// Config is the whole configuration.
type Config struct {
	PoolName string `toml:"pool_name"`
	// PoolURL is what miners put in `pool=`: exactly http://host or https://host
	// (the wallet strips nothing else, spec §1.1).
	PoolURL string `toml:"pool_url"`
	// DataDir holds the embedded default's SQLite files.
	DataDir   string    `toml:"data_dir"`
	Store     Store     `toml:"store"`
	Broker    Broker    `toml:"broker"`
	Frontend  Frontend  `toml:"frontend"`
	Backend   Backend   `toml:"backend"`
	Projector Projector `toml:"projector"`
	Networks  []Network `toml:"network"`
}

// Store names the event store and the read-model database.
type Store struct {
	// Events: postgres://…, sqlite:///abs/events.db, sqlite:rel/events.db, or
	// esdb://…; empty means SQLite in DataDir.
	Events string `toml:"events"`
	// ReadModel: postgres://…, mysql://user:pass@tcp(host:3306)/db,
	// sqlite:///abs/readmodel.db or sqlite:rel/readmodel.db; empty means
	// SQLite in DataDir.
	ReadModel string `toml:"readmodel"`
}

// Broker names the command bus.
type Broker struct {
	// URL of RabbitMQ (amqp:// or amqps://); empty means the in-process bus
	// (one process only).
	URL      string `toml:"url"`
	Exchange string `toml:"exchange"`
	Queue    string `toml:"queue"`
	// DeadLetterExchange and DeadLetterQueue are where the backend moves a
	// command it gave up on; empty: the exchange's name + ".dlx" and
	// ".dead", as `purepool setup` names them.
	DeadLetterExchange string `toml:"dead_letter_exchange"`
	DeadLetterQueue    string `toml:"dead_letter_queue"`
	// Prefetch is the number of commands the backend handles at once (its
	// share writes are group commits of up to this many); the broker
	// delivers twice as many ahead.
	Prefetch int `toml:"prefetch"`
	// BatchSize caps the commands the frontend publishes as one broker
	// message (group commit; 1: one message per command) and BatchDelay is
	// how long a batch may wait for more; 0: the rabbitmq package's defaults.
	BatchSize  int      `toml:"batch_size"`
	BatchDelay Duration `toml:"batch_delay"`
}

// DeadLetterNames are the dead-letter exchange and queue, derived from the
// exchange when not set.
func (b Broker) DeadLetterNames() (exchange, queue string) {
	exchange, queue = b.DeadLetterExchange, b.DeadLetterQueue
	if exchange == "" {
		exchange = b.Exchange + ".dlx"
	}
	if queue == "" {
		queue = b.Exchange + ".dead"
	}
	return exchange, queue
}

// Frontend configures the miner interface and the website.
type Frontend struct {
	Listen         string `toml:"listen"`
	TLSListen      string `toml:"tls_listen"`
	TLSCert        string `toml:"tls_cert"`
	TLSKey         string `toml:"tls_key"`
	MaxHeaderBytes int    `toml:"max_header_bytes"`
	// RatePerMinute is the Action.aspx requests an address may make per
	// RateWindow (a minute unless set; negative: no limit).
	RatePerMinute int      `toml:"rate_limit_per_minute"`
	RateWindow    Duration `toml:"rate_window"`
	ReadTimeout   Duration `toml:"read_timeout"`
	// PublishTimeout bounds the wait for the broker's confirmation of a
	// command; the shutdown waits that long plus 5 s for answers in flight.
	PublishTimeout Duration `toml:"publish_timeout"`
	// StaleAfter makes the frontend answer HEALTH_DOWN when the newest
	// recorded block is older than this; 0: 15 block spacings of the network.
	StaleAfter Duration `toml:"stale_after"`
	// TrustedProxies are the reverse proxies in front of the frontend, as
	// CIDRs or single addresses; a request from one of them is attributed
	// to the client its X-Forwarded-For names. Empty: wallets connect
	// directly and the header is ignored.
	TrustedProxies []string `toml:"trusted_proxies"`
}

// Backend configures the event writer's periodic work.
type Backend struct {
	ChainPoll     Duration `toml:"chain_poll"`
	SolutionRetry Duration `toml:"solution_retry_deadline"`
	// FinderShareWait is read and ignored: since rounds are made by height
	// at maturity, the chain follower no longer waits for a winning share.
	FinderShareWait Duration `toml:"finder_share_wait"`
	FundingCheck    Duration `toml:"funding_check"`
	VardiffInterval Duration `toml:"vardiff_interval"`
	// ConflictWatch is how long after its confirmation a payout is still
	// watched for a double spend by a deep reorganisation.
	ConflictWatch Duration `toml:"payout_conflict_watch"`
	// ResendGrace is how long a payout an earlier (crashed) process planned
	// is left alone before it is sent, in case its send is still executing.
	ResendGrace Duration `toml:"payout_resend_grace"`
	// LeaseTTL is how long a backend's job lease lasts on a store without
	// advisory locks (EventStoreDB): a survivor takes over at most this
	// plus one job period after a backend dies. Renewed every third of it.
	LeaseTTL Duration `toml:"lease_ttl"`
	// JobsOnly runs the chain follower, the rounds and the payouts but
	// consumes no command: no broker is needed (a lone backend without
	// broker.url is otherwise refused).
	JobsOnly bool `toml:"jobs_only"`
	// MetricsListen serves the backend's Prometheus /metrics (what the pool
	// owes, the wallet's balance, the shortfall; Go runtime) on its own
	// address (host:port); empty serves none.
	MetricsListen string `toml:"metrics_listen"`
}

// Projector configures the process that builds the read models.
type Projector struct {
	// MetricsListen serves the projector's Prometheus /metrics on its own
	// address (host:port); empty serves none.
	MetricsListen string `toml:"metrics_listen"`
	// FrontendRole is the PostgreSQL role granted SELECT on the read-model
	// views; empty: purepool_frontend when `purepool setup` created it.
	FrontendRole string `toml:"frontend_role"`
	// Batch is the most events per read-model transaction (0: 2000).
	Batch int `toml:"batch"`
}

// Network is one BiblePay network the pool serves.
type Network struct {
	Name            string   `toml:"name"`
	PoolAddress     string   `toml:"pool_address"`
	NodeURL         string   `toml:"node_url"`
	FeeBps          int64    `toml:"fee_bps"`
	Scheme          string   `toml:"scheme"`
	PPLNSWindow     int64    `toml:"pplns_window"`
	Maturity        int64    `toml:"maturity"`
	MinPayout       Amount   `toml:"min_payout"`
	PayoutInterval  Duration `toml:"payout_interval"`
	MaxRecipients   int      `toml:"max_recipients"`
	DefaultTarget   string   `toml:"default_target"`
	StaleTolerance  int64    `toml:"stale_tolerance"`
	SharesPerMinute int64    `toml:"vardiff_shares_per_minute"`
	MinDifficulty   int64    `toml:"vardiff_min_difficulty"` // 0: 1
	// FollowFrom is the first height the chain follower records on an
	// empty ledger; 0: the node's tip.
	FollowFrom       int64 `toml:"follow_from"`
	MinConfirmations int64 `toml:"payout_confirmations"`
	// ExplorerTxURL and ExplorerBlockURL make the website's transaction
	// ids and block hashes links: "{txid}" and "{hash}" are replaced (the
	// id is appended when the URL has no placeholder). Empty: no links.
	ExplorerTxURL    string `toml:"explorer_tx_url"`
	ExplorerBlockURL string `toml:"explorer_block_url"`
}

// Duration is a time.Duration written as "90s", "5m", "1h".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("%s is negative", v)
	}
	d.Duration = v
	return nil
}

// Defaults is the configuration of an empty file.
func Defaults() Config {
	return Config{
		PoolName: "Purepool",
		PoolURL:  "http://localhost",
		DataDir:  "purepool-data",
		Broker:   Broker{Exchange: "purepool.commands", Queue: "purepool.commands.q", Prefetch: 64},
		Frontend: Frontend{
			Listen: ":8080", MaxHeaderBytes: 1 << 20, RatePerMinute: 600, RateWindow: Duration{time.Minute},
			ReadTimeout: Duration{15 * time.Second}, PublishTimeout: Duration{10 * time.Second},
		},
		Backend: Backend{
			ChainPoll: Duration{2 * time.Second}, SolutionRetry: Duration{2 * time.Minute},
			FinderShareWait: Duration{10 * time.Second},
			FundingCheck:    Duration{10 * time.Minute}, VardiffInterval: Duration{time.Minute},
			ConflictWatch: Duration{24 * time.Hour}, ResendGrace: Duration{10 * time.Second},
			LeaseTTL: Duration{30 * time.Second},
		},
		Projector: Projector{Batch: 2000},
	}
}

// MinLeaseTTL is the shortest backend.lease_ttl accepted.
const MinLeaseTTL = 5 * time.Second

// NetworkDefaults fills what a [[network]] table leaves out.
func NetworkDefaults(n *Network) {
	if n.Scheme == "" {
		n.Scheme = events.SchemePROP
	}
	if n.Maturity == 0 {
		if p, ok := biblepay.LookupNetwork(n.Name); ok {
			n.Maturity = p.Maturity
		}
	}
	if n.PPLNSWindow == 0 {
		n.PPLNSWindow = 10_000
	}
	if n.MinPayout == 0 {
		n.MinPayout = Amount(10 * biblepay.Coin)
	}
	if n.PayoutInterval.Duration == 0 {
		n.PayoutInterval = Duration{time.Hour}
	}
	if n.MaxRecipients == 0 {
		n.MaxRecipients = 100
	}
	if n.DefaultTarget == "" {
		n.DefaultTarget = biblepay.DefaultTarget
	}
	if n.StaleTolerance == 0 {
		n.StaleTolerance = 1
	}
	if n.SharesPerMinute == 0 {
		n.SharesPerMinute = 2
	}
	if n.MinDifficulty == 0 {
		n.MinDifficulty = 1
	}
	if n.MinConfirmations == 0 {
		n.MinConfirmations = 6
	}
}

// ErrNoNetwork is Validate's error for a configuration without [[network]].
var ErrNoNetwork = errors.New("at least one [[network]] is needed")

// KeyError is a configuration mistake at a key.
type KeyError struct {
	Key string
	Err error
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }
func (e *KeyError) Unwrap() error { return e.Err }

// Load reads and checks a configuration file.
func Load(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	c, err := Parse(string(b))
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Parse reads and checks a configuration from TOML text.
func Parse(text string) (Config, error) {
	c := Defaults()
	md, err := toml.Decode(text, &c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("line %d: %s", pe.Position.Line, pe.Message)
		}
		return Config{}, err
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		return Config{}, &KeyError{Key: undecoded[0].String(), Err: errors.New("unknown key")}
	}
	if err := expandEnv(reflect.ValueOf(&c).Elem(), ""); err != nil {
		return Config{}, err
	}
	// stale_tolerance = 0 and payout_interval = "0s" mean something (no
	// tolerance; payouts only on TriggerPayout), as the backend's flags
	// can say: only an absent key gets its default.
	var raw struct {
		Networks []map[string]any `toml:"network"`
	}
	if _, err := toml.Decode(text, &raw); err != nil {
		return Config{}, err
	}
	for i := range c.Networks {
		n := &c.Networks[i]
		stale, interval := n.StaleTolerance, n.PayoutInterval
		NetworkDefaults(n)
		if i < len(raw.Networks) {
			if _, set := raw.Networks[i]["stale_tolerance"]; set {
				n.StaleTolerance = stale
			}
			if _, set := raw.Networks[i]["payout_interval"]; set {
				n.PayoutInterval = interval
			}
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// expandEnv replaces ${NAME} in every string field.
func expandEnv(v reflect.Value, key string) error {
	switch v.Kind() {
	case reflect.String:
		var missing string
		out := os.Expand(v.String(), func(name string) string {
			val, ok := os.LookupEnv(name)
			if !ok && missing == "" {
				missing = name
			}
			return val
		})
		if missing != "" {
			return &KeyError{Key: key, Err: fmt.Errorf("environment variable %s is not set", missing)}
		}
		v.SetString(out)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			name := t.Field(i).Tag.Get("toml")
			if name == "" {
				continue
			}
			k := name
			if key != "" {
				k = key + "." + name
			}
			if err := expandEnv(v.Field(i), k); err != nil {
				return err
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			if err := expandEnv(v.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// Validate checks values that decoding cannot.
func (c Config) Validate() error {
	if !strings.HasPrefix(c.PoolURL, "http://") && !strings.HasPrefix(c.PoolURL, "https://") {
		return &KeyError{Key: "pool_url", Err: errors.New("must be http://host or https://host: the wallet accepts nothing else")}
	}
	if host := strings.TrimPrefix(strings.TrimPrefix(c.PoolURL, "https://"), "http://"); host == "" || strings.ContainsAny(host, "/:?#") {
		return &KeyError{Key: "pool_url", Err: errors.New("no path, port or trailing slash: the wallet's DNS lookup would fail (spec §1.1)")}
	}
	if err := checkStoreURL(c.Store.Events, "postgres", "postgresql", "sqlite", "esdb", "esdb+discover"); err != nil {
		return &KeyError{Key: "store.events", Err: err}
	}
	if err := checkStoreURL(c.Store.ReadModel, "postgres", "postgresql", "sqlite", "mysql"); err != nil {
		return &KeyError{Key: "store.readmodel", Err: err}
	}
	if c.Broker.URL != "" {
		// One URL per node of a cluster, comma-separated.
		for _, raw := range strings.Split(c.Broker.URL, ",") {
			if u, err := url.Parse(strings.TrimSpace(raw)); err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") || u.Host == "" {
				return &KeyError{Key: "broker.url", Err: errors.New("must be amqp://… or amqps://… (comma-separated for the nodes of a cluster)")}
			}
		}
	}
	if c.Broker.BatchSize < 0 {
		return &KeyError{Key: "broker.batch_size", Err: errors.New("must not be negative (0: the default)")}
	}
	if c.Broker.Prefetch < 1 {
		return &KeyError{Key: "broker.prefetch", Err: errors.New("must be at least 1")}
	}
	if c.Broker.URL != "" && (c.Broker.Exchange == "" || c.Broker.Queue == "") {
		return &KeyError{Key: "broker.exchange", Err: errors.New("exchange and queue must be named")}
	}
	if d := c.Backend.LeaseTTL.Duration; d != 0 && d < MinLeaseTTL {
		// A holder stops acting a clock-skew margin (2 s) before its
		// lease ends: a shorter lease would leave it almost no time to act.
		return &KeyError{Key: "backend.lease_ttl", Err: fmt.Errorf("must be at least %s (0: the default, 30s)", MinLeaseTTL)}
	}
	if c.Projector.Batch < 0 {
		return &KeyError{Key: "projector.batch", Err: errors.New("must not be negative")}
	}
	if c.Frontend.MaxHeaderBytes < 64<<10 {
		return &KeyError{Key: "frontend.max_header_bytes", Err: errors.New("must be at least 65536: a Solution header carries a whole block")}
	}
	if _, err := c.Frontend.TrustedProxyPrefixes(); err != nil {
		return &KeyError{Key: "frontend.trusted_proxies", Err: err}
	}
	if (c.Frontend.TLSCert == "") != (c.Frontend.TLSKey == "") {
		return &KeyError{Key: "frontend.tls_cert", Err: errors.New("tls_cert and tls_key go together")}
	}
	for key, addr := range map[string]string{"projector.metrics_listen": c.Projector.MetricsListen, "backend.metrics_listen": c.Backend.MetricsListen} {
		if addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return &KeyError{Key: key, Err: fmt.Errorf("want host:port, e.g. 127.0.0.1:9101: %w", err)}
		}
	}
	if len(c.Networks) == 0 {
		// Last of the checks: a caller that needs no network (a lone
		// projector) may ignore ErrNoNetwork, everything else was checked.
		return &KeyError{Key: "network", Err: ErrNoNetwork}
	}
	seen := map[string]bool{}
	for i, n := range c.Networks {
		key := func(k string) string { return fmt.Sprintf("network[%d].%s", i, k) }
		p, ok := biblepay.LookupNetwork(n.Name)
		if !ok {
			return &KeyError{Key: key("name"), Err: fmt.Errorf("%q is not main, test or regtest", n.Name)}
		}
		if seen[n.Name] {
			return &KeyError{Key: key("name"), Err: fmt.Errorf("network %s is configured twice", n.Name)}
		}
		seen[n.Name] = true
		if err := p.ValidateAddress(n.PoolAddress); err != nil {
			return &KeyError{Key: key("pool_address"), Err: err}
		}
		if n.NodeURL != "" {
			if u, err := url.Parse(n.NodeURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return &KeyError{Key: key("node_url"), Err: errors.New("must be http://user:password@host:port")}
			}
		}
		if n.FeeBps < 0 || n.FeeBps > 10_000 {
			return &KeyError{Key: key("fee_bps"), Err: errors.New("must be within 0..10000 basis points")}
		}
		switch n.Scheme {
		case events.SchemePROP, events.SchemePPLNS, events.SchemeSOLO:
		default:
			return &KeyError{Key: key("scheme"), Err: fmt.Errorf("%q is not PROP, PPLNS or SOLO", n.Scheme)}
		}
		if n.PPLNSWindow < 1 {
			return &KeyError{Key: key("pplns_window"), Err: errors.New("must be positive")}
		}
		if n.Maturity < 1 {
			return &KeyError{Key: key("maturity"), Err: errors.New("must be positive")}
		}
		if n.MaxRecipients < 1 {
			return &KeyError{Key: key("max_recipients"), Err: errors.New("must be positive")}
		}
		if _, err := biblepay.ParseHash(n.DefaultTarget); err != nil {
			return &KeyError{Key: key("default_target"), Err: err}
		}
		if n.StaleTolerance < 0 {
			return &KeyError{Key: key("stale_tolerance"), Err: errors.New("must not be negative")}
		}
		if n.FollowFrom < 0 {
			return &KeyError{Key: key("follow_from"), Err: errors.New("must not be negative")}
		}
		if n.MinDifficulty < 0 {
			return &KeyError{Key: key("vardiff_min_difficulty"), Err: errors.New("must not be negative")}
		}
		for k, v := range map[string]string{"explorer_tx_url": n.ExplorerTxURL, "explorer_block_url": n.ExplorerBlockURL} {
			if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
				return &KeyError{Key: key(k), Err: errors.New(`must be an http:// or https:// URL, e.g. "https://explorer.example.org/tx/{txid}"`)}
			}
		}
	}
	return nil
}

// TrustedProxyPrefixes reads frontend.trusted_proxies: each entry a CIDR
// ("10.0.0.0/8", "2001:db8::/32") or a single address ("192.0.2.10").
func (f Frontend) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range f.TrustedProxies {
		var p netip.Prefix
		var err error
		if strings.Contains(s, "/") {
			p, err = netip.ParsePrefix(s)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(s); err == nil && a.Zone() != "" {
				err = errors.New("an address with a zone")
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return nil, fmt.Errorf("entry %d %q: want a CIDR (10.0.0.0/8) or an address (192.0.2.10): %w", i, s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func checkStoreURL(s string, schemes ...string) error {
	if s == "" {
		return nil
	}
	if strings.HasPrefix(s, "sqlite:") {
		_, err := SQLitePath(s)
		return err
	}
	scheme, _, ok := strings.Cut(s, "://")
	if !ok {
		return fmt.Errorf("%q has no scheme; use one of %v", s, schemes)
	}
	for _, want := range schemes {
		if scheme == want {
			return nil
		}
	}
	return fmt.Errorf("scheme %q is not one of %v", scheme, schemes)
}

// SQLitePath is the file a sqlite: URL names: sqlite:///abs/path.db (three
// slashes: an absolute path) or sqlite:rel/path.db (relative to the working
// directory). One reading for the configuration, the role flags and the
// tools: sqlite://name/x.db is refused, since "name" could be meant as a
// folder or as a host.
func SQLitePath(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "sqlite" {
		return "", fmt.Errorf("%q is not a sqlite: URL", raw)
	}
	if u.Host != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("invalid sqlite URL %q: want sqlite:///abs/path.db or sqlite:rel/path.db", raw)
	}
	path := u.Path
	if u.Opaque != "" {
		path = u.Opaque
	}
	if path == "" || strings.HasSuffix(path, "/") {
		return "", fmt.Errorf("invalid sqlite URL %q: no file path", raw)
	}
	return path, nil
}

// Network returns the configuration of a network by name.
func (c Config) Network(name string) (Network, bool) {
	for _, n := range c.Networks {
		if n.Name == name {
			return n, true
		}
	}
	return Network{}, false
}
