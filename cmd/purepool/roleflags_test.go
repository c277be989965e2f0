package main

import (
	"context"
	"flag"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/config"
)

// flagRow is one flag of a role and the configuration field it must set.
type flagRow struct {
	flag, value string
	extra       []string // flags the value needs beside it (e.g. -tls-cert with -tls-listen)
	key         string   // the key its usage names; "" for flags outside the file
	get         func(config.Config) any
	want        any
}

var (
	mainPool  = biblepay.Networks["main"].Address([20]byte{1})
	mainPool2 = biblepay.Networks["main"].Address([20]byte{2})
	testPool  = biblepay.Networks["test"].Address([20]byte{1})
	testPool2 = biblepay.Networks["test"].Address([20]byte{2})
	target    = biblepay.TargetForDifficulty(20)
)

func net0(c config.Config) config.Network { return c.Networks[0] }

// processFlags are on every role and are not configuration keys.
var processFlags = []flagRow{{flag: "config"}, {flag: "log-format"}}

var roleFlagTables = []struct {
	role   string
	define func(*flag.FlagSet) func() (config.Config, error)
	base   []string // the required flags
	rows   []flagRow
}{
	{"backend", backendFlags, []string{"--store", "sqlite:e.db", "--node-url", "http://127.0.0.1:1", "--pool-address", mainPool, "--amqp-url", "amqp://b@127.0.0.1/"}, []flagRow{
		{flag: "store", value: "sqlite:///var/lib/e.db", key: "store.events", get: func(c config.Config) any { return c.Store.Events }, want: "sqlite:///var/lib/e.db"},
		{flag: "amqp-url", value: "amqp://u:p@h:5672/v", key: "broker.url", get: func(c config.Config) any { return c.Broker.URL }, want: "amqp://u:p@h:5672/v"},
		{flag: "amqp-exchange", value: "pp.x", key: "broker.exchange", get: func(c config.Config) any { return c.Broker.Exchange }, want: "pp.x"},
		{flag: "amqp-queue", value: "pp.q", key: "broker.queue", get: func(c config.Config) any { return c.Broker.Queue }, want: "pp.q"},
		{flag: "amqp-dead-letter-exchange", value: "pp.dl", key: "broker.dead_letter_exchange", get: func(c config.Config) any { x, _ := c.Broker.DeadLetterNames(); return x }, want: "pp.dl"},
		{flag: "amqp-dead-letter-queue", value: "pp.dead", key: "broker.dead_letter_queue", get: func(c config.Config) any { _, q := c.Broker.DeadLetterNames(); return q }, want: "pp.dead"},
		{flag: "consumers", value: "8", key: "broker.prefetch", get: func(c config.Config) any { return c.Broker.Prefetch }, want: 8},
		{flag: "lease-ttl", value: "7s", key: "backend.lease_ttl", get: func(c config.Config) any { return c.Backend.LeaseTTL.Duration }, want: 7 * time.Second},
		{flag: "jobs-only", value: "true", key: "backend.jobs_only", get: func(c config.Config) any { return c.Backend.JobsOnly }, want: true},
		{flag: "network", value: "test", key: "network.name", get: func(c config.Config) any { return net0(c).Name }, want: "test"},
		{flag: "pool-address", value: mainPool2, key: "network.pool_address", get: func(c config.Config) any { return net0(c).PoolAddress }, want: mainPool2},
		{flag: "node-url", value: "http://node:2", key: "network.node_url", get: func(c config.Config) any { return net0(c).NodeURL }, want: "http://node:2"},
		{flag: "node-user", value: "rpc", key: "network.node_url", get: func(c config.Config) any { return net0(c).NodeURL }, want: "http://rpc:@127.0.0.1:1"},
		{flag: "node-password", value: "p@ss", key: "network.node_url", get: func(c config.Config) any { return net0(c).NodeURL }, want: "http://:p%40ss@127.0.0.1:1"},
		{flag: "scheme", value: "PPLNS", key: "network.scheme", get: func(c config.Config) any { return net0(c).Scheme }, want: "PPLNS"},
		{flag: "pplns-window", value: "7", key: "network.pplns_window", get: func(c config.Config) any { return net0(c).PPLNSWindow }, want: int64(7)},
		{flag: "fee-bps", value: "250", key: "network.fee_bps", get: func(c config.Config) any { return net0(c).FeeBps }, want: int64(250)},
		{flag: "maturity", value: "5", key: "network.maturity", get: func(c config.Config) any { return net0(c).Maturity }, want: int64(5)},
		{flag: "follow-from", value: "9", key: "network.follow_from", get: func(c config.Config) any { return net0(c).FollowFrom }, want: int64(9)},
		{flag: "stale-tolerance", value: "2", key: "network.stale_tolerance", get: func(c config.Config) any { return net0(c).StaleTolerance }, want: int64(2)},
		{flag: "min-payout", value: "0.5", key: "network.min_payout", get: func(c config.Config) any { return net0(c).MinPayout.Sat() }, want: int64(50_000_000)},
		{flag: "max-recipients", value: "7", key: "network.max_recipients", get: func(c config.Config) any { return net0(c).MaxRecipients }, want: 7},
		{flag: "payout-interval", value: "30m", key: "network.payout_interval", get: func(c config.Config) any { return net0(c).PayoutInterval.Duration }, want: 30 * time.Minute},
		{flag: "payout-confirmations", value: "3", key: "network.payout_confirmations", get: func(c config.Config) any { return net0(c).MinConfirmations }, want: int64(3)},
		{flag: "default-target", value: target, key: "network.default_target", get: func(c config.Config) any { return net0(c).DefaultTarget }, want: target},
		{flag: "vardiff-shares-per-minute", value: "4", key: "network.vardiff_shares_per_minute", get: func(c config.Config) any { return net0(c).SharesPerMinute }, want: int64(4)},
		{flag: "vardiff-min-difficulty", value: "8", key: "network.vardiff_min_difficulty", get: func(c config.Config) any { return net0(c).MinDifficulty }, want: int64(8)},
		{flag: "vardiff-window", value: "2m", key: "backend.vardiff_interval", get: func(c config.Config) any { return c.Backend.VardiffInterval.Duration }, want: 2 * time.Minute},
		{flag: "poll-interval", value: "3s", key: "backend.chain_poll", get: func(c config.Config) any { return c.Backend.ChainPoll.Duration }, want: 3 * time.Second},
		{flag: "work-wait", value: "90s", key: "backend.solution_retry_deadline", get: func(c config.Config) any { return c.Backend.SolutionRetry.Duration }, want: 90 * time.Second},
		{flag: "finder-share-wait", value: "5s", key: "backend.finder_share_wait", get: func(c config.Config) any { return c.Backend.FinderShareWait.Duration }, want: 5 * time.Second},
		{flag: "payout-conflict-watch", value: "36h", key: "backend.payout_conflict_watch", get: func(c config.Config) any { return c.Backend.ConflictWatch.Duration }, want: 36 * time.Hour},
		{flag: "payout-resend-grace", value: "20s", key: "backend.payout_resend_grace", get: func(c config.Config) any { return c.Backend.ResendGrace.Duration }, want: 20 * time.Second},
		{flag: "funding-check", value: "5m", key: "backend.funding_check", get: func(c config.Config) any { return c.Backend.FundingCheck.Duration }, want: 5 * time.Minute},
		{flag: "metrics-listen", value: "127.0.0.1:9102", key: "backend.metrics_listen", get: func(c config.Config) any { return c.Backend.MetricsListen }, want: "127.0.0.1:9102"},
	}},
	{"frontend", frontendFlags, []string{"--pool-address", "test=" + testPool, "--amqp-url", "amqp://f@127.0.0.1/", "--readmodel-url", "sqlite:rm.db"}, []flagRow{
		{flag: "listen", value: ":81", key: "frontend.listen", get: func(c config.Config) any { return c.Frontend.Listen }, want: ":81"},
		{flag: "tls-listen", value: ":443", extra: []string{"--tls-cert", "c.pem", "--tls-key", "k.pem"}, key: "frontend.tls_listen", get: func(c config.Config) any { return c.Frontend.TLSListen }, want: ":443"},
		{flag: "tls-cert", value: "c.pem", extra: []string{"--tls-listen", ":443", "--tls-key", "k.pem"}, key: "frontend.tls_cert", get: func(c config.Config) any { return c.Frontend.TLSCert }, want: "c.pem"},
		{flag: "tls-key", value: "k.pem", extra: []string{"--tls-listen", ":443", "--tls-cert", "c.pem"}, key: "frontend.tls_key", get: func(c config.Config) any { return c.Frontend.TLSKey }, want: "k.pem"},
		{flag: "pool-address", value: "test=" + testPool2, key: "network.pool_address", get: func(c config.Config) any { return net0(c).PoolAddress }, want: testPool2},
		{flag: "default-target", value: "test=" + target, key: "network.default_target", get: func(c config.Config) any { return net0(c).DefaultTarget }, want: target},
		{flag: "min-payout", value: "test=0.5", key: "network.min_payout", get: func(c config.Config) any { return net0(c).MinPayout.Sat() }, want: int64(50_000_000)},
		{flag: "fee-bps", value: "test=250", key: "network.fee_bps", get: func(c config.Config) any { return net0(c).FeeBps }, want: int64(250)},
		{flag: "payout-interval", value: "test=30m", key: "network.payout_interval", get: func(c config.Config) any { return net0(c).PayoutInterval.Duration }, want: 30 * time.Minute},
		{flag: "maturity", value: "test=50", key: "network.maturity", get: func(c config.Config) any { return net0(c).Maturity }, want: int64(50)},
		{flag: "explorer-tx-url", value: "test=https://x.org/tx/{txid}", key: "network.explorer_tx_url", get: func(c config.Config) any { return net0(c).ExplorerTxURL }, want: "https://x.org/tx/{txid}"},
		{flag: "explorer-block-url", value: "test=https://x.org/b/{hash}", key: "network.explorer_block_url", get: func(c config.Config) any { return net0(c).ExplorerBlockURL }, want: "https://x.org/b/{hash}"},
		{flag: "amqp-url", value: "amqp://u:p@h:5672/v", key: "broker.url", get: func(c config.Config) any { return c.Broker.URL }, want: "amqp://u:p@h:5672/v"},
		{flag: "amqp-exchange", value: "pp.x", key: "broker.exchange", get: func(c config.Config) any { return c.Broker.Exchange }, want: "pp.x"},
		{flag: "amqp-batch-size", value: "1", key: "broker.batch_size", get: func(c config.Config) any { return c.Broker.BatchSize }, want: 1},
		{flag: "amqp-batch-delay", value: "2ms", key: "broker.batch_delay", get: func(c config.Config) any { return c.Broker.BatchDelay.Duration }, want: 2 * time.Millisecond},
		{flag: "readmodel-url", value: "mysql://u@tcp(h:3306)/rm", key: "store.readmodel", get: func(c config.Config) any { return c.Store.ReadModel }, want: "mysql://u@tcp(h:3306)/rm"},
		{flag: "max-header-bytes", value: "2097152", key: "frontend.max_header_bytes", get: func(c config.Config) any { return c.Frontend.MaxHeaderBytes }, want: 2 << 20},
		{flag: "rate-limit", value: "7", key: "frontend.rate_limit_per_minute", get: func(c config.Config) any { return c.Frontend.RatePerMinute }, want: 7},
		{flag: "rate-window", value: "2m", key: "frontend.rate_window", get: func(c config.Config) any { return c.Frontend.RateWindow.Duration }, want: 2 * time.Minute},
		{flag: "trusted-proxies", value: "10.0.0.0/8, 127.0.0.1", key: "frontend.trusted_proxies", get: func(c config.Config) any { return c.Frontend.TrustedProxies }, want: []string{"10.0.0.0/8", "127.0.0.1"}},
		{flag: "publish-timeout", value: "3s", key: "frontend.publish_timeout", get: func(c config.Config) any { return c.Frontend.PublishTimeout.Duration }, want: 3 * time.Second},
		{flag: "read-timeout", value: "20s", key: "frontend.read_timeout", get: func(c config.Config) any { return c.Frontend.ReadTimeout.Duration }, want: 20 * time.Second},
		{flag: "pool-url", value: "https://pool.example.org", key: "pool_url", get: func(c config.Config) any { return c.PoolURL }, want: "https://pool.example.org"},
		{flag: "pool-name", value: "Testpool", key: "pool_name", get: func(c config.Config) any { return c.PoolName }, want: "Testpool"},
		{flag: "stale-after", value: "5m", key: "frontend.stale_after", get: func(c config.Config) any { return c.Frontend.StaleAfter.Duration }, want: 5 * time.Minute},
	}},
	{"projector", projectorFlags, []string{"--store", "sqlite:e.db", "--readmodel-url", "sqlite:rm.db"}, []flagRow{
		{flag: "store", value: "postgres://u@h/ev", key: "store.events", get: func(c config.Config) any { return c.Store.Events }, want: "postgres://u@h/ev"},
		{flag: "readmodel-url", value: "postgres://u@h/rm", key: "store.readmodel", get: func(c config.Config) any { return c.Store.ReadModel }, want: "postgres://u@h/rm"},
		{flag: "frontend-role", value: "web_ro", key: "projector.frontend_role", get: func(c config.Config) any { return c.Projector.FrontendRole }, want: "web_ro"},
		{flag: "batch", value: "50", key: "projector.batch", get: func(c config.Config) any { return c.Projector.Batch }, want: 50},
		{flag: "metrics-listen", value: "127.0.0.1:9101", key: "projector.metrics_listen", get: func(c config.Config) any { return c.Projector.MetricsListen }, want: "127.0.0.1:9101"},
	}},
}

// withFlag is args with --name value: replacing the value when args has
// the flag, added otherwise.
func withFlag(args []string, name, value string) []string {
	out := append([]string(nil), args...)
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "--"+name {
			out[i+1] = value
			return out
		}
	}
	return append(out, "--"+name+"="+value) // = also suits a boolean flag
}

// buildRole parses args with the role's flags and fills its configuration.
func buildRole(t *testing.T, role string, define func(*flag.FlagSet) func() (config.Config, error), args []string) (*flag.FlagSet, config.Config) {
	t.Helper()
	fs, _, _, build := roleFlagSet(role, io.Discard, define)
	if err := parseFlags(fs, args); err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	cfg, err := build()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return fs, cfg
}

// TestRoleFlagsReachTheirKeys sets each flag of each role and checks the
// configuration field it fills (and that the field did not hold that value
// without it); a flag without a row fails, so every new flag needs one.
func TestRoleFlagsReachTheirKeys(t *testing.T) {
	for _, role := range roleFlagTables {
		t.Run(role.role, func(t *testing.T) {
			fs, baseline := buildRole(t, role.role, role.define, role.base)
			rows := map[string]flagRow{}
			for _, r := range append(append([]flagRow(nil), processFlags...), role.rows...) {
				if _, dup := rows[r.flag]; dup {
					t.Fatalf("two rows for --%s", r.flag)
				}
				rows[r.flag] = r
			}
			fs.VisitAll(func(f *flag.Flag) {
				r, ok := rows[f.Name]
				if !ok {
					t.Errorf("--%s has no row: add one naming the configuration key it sets", f.Name)
					return
				}
				if got := flagKey(f); got != r.key {
					t.Errorf("--%s: usage names key %q, want %q", f.Name, got, r.key)
				}
				if r.key != "" {
					name := r.key[strings.LastIndex(r.key, ".")+1:]
					if !strings.Contains(config.Example, "\n"+name+" = ") {
						t.Errorf("--%s: key %s is not in purepool.example.toml", f.Name, r.key)
					}
				}
			})
			for _, r := range rows {
				if fs.Lookup(r.flag) == nil {
					t.Errorf("row for --%s, which %s does not have", r.flag, role.role)
				}
				if r.get == nil {
					continue
				}
				args := withFlag(append(append([]string(nil), role.base...), r.extra...), r.flag, r.value)
				_, cfg := buildRole(t, role.role, role.define, args)
				if got := r.get(cfg); !reflect.DeepEqual(got, r.want) {
					t.Errorf("--%s %s: %s = %#v, want %#v", r.flag, r.value, r.key, got, r.want)
				}
				if reflect.DeepEqual(r.get(baseline), r.want) {
					t.Errorf("--%s: %s is %#v without the flag too: the row proves nothing", r.flag, r.key, r.want)
				}
			}
		})
	}
}

// Flag mode checks the configuration it built as the file's is checked,
// and names the flag (and the key) of a mistake; nothing is opened.
func TestRoleFlagErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	backend := []string{"backend", "--store", "sqlite:" + dir + "/e.db", "--node-url", "http://127.0.0.1:1", "--pool-address", mainPool, "--amqp-url", "amqp://b@127.0.0.1/"}
	frontend := []string{"frontend", "--pool-address", "test=" + testPool, "--amqp-url", "amqp://f@127.0.0.1/", "--readmodel-url", "sqlite:" + dir + "/rm.db"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{append(backend, "--fee-bps", "20000"), "--fee-bps (network[0].fee_bps): must be within 0..10000"},
		{append(backend, "--scheme", "PPS"), "--scheme (network[0].scheme)"},
		{append(backend, "--network", "test"), "--pool-address (network[0].pool_address)"},
		{append(backend, "--consumers", "0"), "--consumers (broker.prefetch): must be at least 1"},
		{append(backend, "--store", "sqlite://data/e.db"), "--store (store.events): invalid sqlite URL"},
		{append(backend, "--metrics-listen", "localhost"), "--metrics-listen (backend.metrics_listen)"},
		{append(frontend, "--pool-url", "http://pool.example.org:8080"), "--pool-url (pool_url)"},
		{append(frontend, "--trusted-proxies", "nginx"), `"nginx" is not a CIDR or an address`},
		{append(frontend, "--explorer-tx-url", "test=javascript:alert(1)"), "--explorer-tx-url (network[0].explorer_tx_url)"},
		{append(frontend, "--fee-bps", "test=ten"), "-fee-bps test=ten: strconv.ParseInt"},
		{append(frontend, "--min-payout", "main=1"), "-min-payout for main, which has no -pool-address"},
		{append(frontend, "--max-header-bytes", "100"), "--max-header-bytes (frontend.max_header_bytes)"},
		{append(frontend, "--amqp-batch-size", "-2"), "--amqp-batch-size (broker.batch_size)"},
		{[]string{"projector", "--store", "sqlite:" + dir + "/e.db", "--readmodel-url", "sqlite:", "--batch", "5"}, "--readmodel-url (store.readmodel): invalid sqlite URL"},
		{[]string{"projector", "--store", "sqlite:" + dir + "/e.db", "--readmodel-url", "sqlite:" + dir + "/rm.db", "--batch", "-1"}, "--batch (projector.batch)"},
	} {
		var out, errOut lockedBuffer
		if code := Main(context.Background(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args[len(tc.args)-2:], code, errOut.String(), tc.want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("a refused flag created %v", entries)
	}
}
