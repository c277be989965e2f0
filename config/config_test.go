package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
)

func TestExample_ParsesAndDocumentsEveryKey(t *testing.T) {
	t.Setenv("PUREPOOL_MAIN_RPC_PASSWORD", "s3cret")
	t.Setenv("PUREPOOL_TEST_RPC_PASSWORD", "t3st")
	c, err := Parse(Example)
	if err != nil {
		t.Fatal(err)
	}
	main, ok := c.Network("main")
	if !ok || main.NodeURL != "http://purepool:s3cret@127.0.0.1:39000" || main.FeeBps != 100 {
		t.Fatalf("main network = %+v", main)
	}
	if main.MinPayout.Sat() != 10*biblepay.Coin || main.PayoutInterval.Duration != time.Hour {
		t.Fatalf("main payout settings = %v %v", main.MinPayout, main.PayoutInterval)
	}
	test, _ := c.Network("test")
	if test.Scheme != "PPLNS" || test.Maturity != 101 || test.MinPayout.Sat() != 10000*biblepay.Coin {
		t.Fatalf("test network = %+v", test)
	}
	// Every toml key of the structs appears in the example.
	for _, key := range []string{"pool_name", "pool_url", "data_dir", "events", "readmodel", "url", "exchange",
		"queue", "prefetch", "listen", "tls_listen", "tls_cert", "tls_key", "max_header_bytes",
		"rate_limit_per_minute", "read_timeout", "trusted_proxies", "chain_poll", "solution_retry_deadline", "finder_share_wait", "funding_check",
		"vardiff_interval", "metrics_listen", "name", "pool_address", "node_url", "fee_bps", "scheme", "pplns_window", "maturity",
		"min_payout", "payout_interval", "max_recipients", "default_target", "stale_tolerance",
		"vardiff_shares_per_minute", "payout_confirmations", "dead_letter_exchange", "dead_letter_queue", "rate_window",
		"publish_timeout", "stale_after", "payout_resend_grace", "jobs_only", "frontend_role", "batch",
		"vardiff_min_difficulty", "follow_from", "explorer_tx_url", "explorer_block_url", "batch_size", "batch_delay"} {
		if !strings.Contains(Example, "\n"+key+" = ") {
			t.Errorf("example does not document %s", key)
		}
	}
}

const minimal = `
[[network]]
name = "main"
pool_address = "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"
`

func TestParse_Defaults(t *testing.T) {
	c, err := Parse(minimal)
	if err != nil {
		t.Fatal(err)
	}
	n := c.Networks[0]
	if n.Scheme != "PROP" || n.Maturity != 101 || n.DefaultTarget != biblepay.DefaultTarget || n.MaxRecipients != 100 {
		t.Fatalf("defaults = %+v", n)
	}
	if c.Frontend.MaxHeaderBytes != 1<<20 || c.Broker.Queue != "purepool.commands.q" {
		t.Fatalf("defaults = %+v %+v", c.Frontend, c.Broker)
	}
}

// A zero that means something is kept; an absent key gets its default.
func TestParse_MeaningfulZeros(t *testing.T) {
	c, err := Parse(minimal + "stale_tolerance = 0\npayout_interval = \"0s\"\n" + minimal2)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Networks[0]; n.StaleTolerance != 0 || n.PayoutInterval.Duration != 0 {
		t.Errorf("zeros replaced: stale_tolerance %d, payout_interval %s", n.StaleTolerance, n.PayoutInterval)
	}
	if n := c.Networks[1]; n.StaleTolerance != 1 || n.PayoutInterval.Duration != time.Hour {
		t.Errorf("absent keys not defaulted: stale_tolerance %d, payout_interval %s", n.StaleTolerance, n.PayoutInterval)
	}
}

const minimal2 = `
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
`

func TestParse_ErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name, text, key string
	}{
		{"unknown key", minimal + "fee = 1\n", "network.fee"},
		{"unknown top key", "colour = 1\n" + minimal, "colour"},
		{"bad address", strings.Replace(minimal, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTJ", 1), "network[0].pool_address"},
		{"test address on main", strings.Replace(minimal, "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci", 1), "network[0].pool_address"},
		{"unknown network", strings.Replace(minimal, `"main"`, `"mars"`, 1), "network[0].name"},
		{"fee too high", minimal + "fee_bps = 10001\n", "network[0].fee_bps"},
		{"bad scheme", minimal + `scheme = "PPS"` + "\n", "network[0].scheme"},
		{"bad target", minimal + `default_target = "1111"` + "\n", "network[0].default_target"},
		{"explorer without scheme", minimal + `explorer_tx_url = "explorer.example.org/tx/{txid}"` + "\n", "network[0].explorer_tx_url"},
		{"explorer not http", minimal + `explorer_block_url = "javascript:alert(1)"` + "\n", "network[0].explorer_block_url"},
		{"pool url with port", `pool_url = "http://pool.example.org:8080"` + "\n" + minimal, "pool_url"},
		{"pool url with slash", `pool_url = "http://pool.example.org/"` + "\n" + minimal, "pool_url"},
		{"pool url no scheme", `pool_url = "pool.example.org"` + "\n" + minimal, "pool_url"},
		{"bad store", "[store]\nevents = \"mongodb://x\"\n" + minimal, "store.events"},
		{"bad broker", "[broker]\nurl = \"http://x\"\n" + minimal, "broker.url"},
		{"bad second broker node", "[broker]\nurl = \"amqp://u@h1/v,h2\"\n" + minimal, "broker.url"},
		{"negative batch size", "[broker]\nbatch_size = -1\n" + minimal, "broker.batch_size"},
		{"no network", `pool_name = "x"`, "network"},
		{"missing env", "[store]\nevents = \"postgres://u:${PUREPOOL_NO_SUCH_VAR}@h/db\"\n" + minimal, "store.events"},
		{"tls half", "[frontend]\ntls_cert = \"c.pem\"\n" + minimal, "frontend.tls_cert"},
		{"small headers", "[frontend]\nmax_header_bytes = 100\n" + minimal, "frontend.max_header_bytes"},
		{"duplicate network", minimal + minimal, "network[1].name"},
		{"metrics listen without port", "[projector]\nmetrics_listen = \"127.0.0.1\"\n" + minimal, "projector.metrics_listen"},
		{"backend metrics listen without port", "[backend]\nmetrics_listen = \"localhost\"\n" + minimal, "backend.metrics_listen"},
		{"unknown projector key", "[projector]\nbatches = 5\n" + minimal, "projector.batches"},
		{"negative projector batch", "[projector]\nbatch = -1\n" + minimal, "projector.batch"},
		{"lease shorter than the skew margin allows", "[backend]\nlease_ttl = \"3s\"\n" + minimal, "backend.lease_ttl"},
		{"sqlite with a host", "[store]\nevents = \"sqlite://data/events.db\"\n" + minimal, "store.events"},
		{"sqlite without a path", "[store]\nreadmodel = \"sqlite:\"\n" + minimal, "store.readmodel"},
		{"negative follow_from", minimal + "follow_from = -1\n", "network[0].follow_from"},
		{"negative min difficulty", minimal + "vardiff_min_difficulty = -1\n", "network[0].vardiff_min_difficulty"},
		{"bad proxy CIDR", "[frontend]\ntrusted_proxies = [\"10.0.0.0/33\"]\n" + minimal, "frontend.trusted_proxies"},
		{"proxy not an address", "[frontend]\ntrusted_proxies = [\"127.0.0.1\", \"nginx\"]\n" + minimal, "frontend.trusted_proxies"},
		{"proxy with a port", "[frontend]\ntrusted_proxies = [\"127.0.0.1:80\"]\n" + minimal, "frontend.trusted_proxies"},
		{"proxy with a zone", "[frontend]\ntrusted_proxies = [\"fe80::1%eth0\"]\n" + minimal, "frontend.trusted_proxies"},
		{"empty proxy", "[frontend]\ntrusted_proxies = [\"\"]\n" + minimal, "frontend.trusted_proxies"},
		{"missing env in proxy", "[frontend]\ntrusted_proxies = [\"${PUREPOOL_NO_SUCH_VAR}\"]\n" + minimal, "frontend.trusted_proxies[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.text)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("Parse = %v, want a KeyError", err)
			}
			if ke.Key != tt.key {
				t.Fatalf("error names key %q, want %q (%v)", ke.Key, tt.key, err)
			}
		})
	}
	if _, err := Parse("a = [\n"); err == nil || !strings.Contains(err.Error(), "line") {
		t.Errorf("syntax error should name the line: %v", err)
	}
	if _, err := Parse(minimal + `min_payout = "1.123456789"` + "\n"); err == nil {
		t.Error("nine decimals must be refused")
	}
	if _, err := Parse(minimal + `payout_interval = "soon"` + "\n"); err == nil {
		t.Error("a bad duration must be refused")
	}
}

// The store keys read sqlite: URLs as the role flags and the tools do.
func TestSQLitePath(t *testing.T) {
	for _, tc := range []struct{ raw, path, err string }{
		{"sqlite:///var/lib/purepool/events.db", "/var/lib/purepool/events.db", ""},
		{"sqlite:data/events.db", "data/events.db", ""},
		{"sqlite:/abs/x.db", "/abs/x.db", ""},
		{"sqlite://data/events.db", "", "want sqlite:///abs/path.db or sqlite:rel/path.db"},
		{"sqlite:", "", "no file path"},
		{"sqlite:///var/lib/", "", "no file path"},
		{"sqlite:x.db?mode=ro", "", "want sqlite:///abs"},
		{"postgres://h/db", "", "not a sqlite: URL"},
	} {
		got, err := SQLitePath(tc.raw)
		if got != tc.path || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("SQLitePath(%q) = %q, %v; want %q, %q", tc.raw, got, err, tc.path, tc.err)
		}
		c, perr := Parse("[store]\nevents = \"" + tc.raw + "\"\nreadmodel = \"" + tc.raw + "\"\n" + minimal)
		if tc.err == "" && (perr != nil || c.Store.Events != tc.raw) {
			t.Errorf("store keys refuse %q: %v", tc.raw, perr)
		}
	}
}

func TestBroker_DeadLetterNames(t *testing.T) {
	for _, tc := range []struct {
		text, dlx, dead string
	}{
		{"", "purepool.commands.dlx", "purepool.commands.dead"},
		{"[broker]\nexchange = \"pp2\"\n", "pp2.dlx", "pp2.dead"},
		{"[broker]\nexchange = \"pp2\"\ndead_letter_exchange = \"dl.x\"\ndead_letter_queue = \"dl.q\"\n", "dl.x", "dl.q"},
	} {
		c, err := Parse(tc.text + minimal)
		if err != nil {
			t.Fatal(err)
		}
		if x, q := c.Broker.DeadLetterNames(); x != tc.dlx || q != tc.dead {
			t.Errorf("%q: dead letters %s %s, want %s %s", tc.text, x, q, tc.dlx, tc.dead)
		}
	}
}

func TestParse_ProjectorMetrics(t *testing.T) {
	c, err := Parse(minimal)
	if err != nil || c.Projector.MetricsListen != "" {
		t.Fatalf("default metrics_listen = %q, %v; want none", c.Projector.MetricsListen, err)
	}
	for _, addr := range []string{"127.0.0.1:9101", ":9101", "[::1]:9101"} {
		c, err := Parse("[projector]\nmetrics_listen = \"" + addr + "\"\n" + minimal)
		if err != nil || c.Projector.MetricsListen != addr {
			t.Errorf("metrics_listen %q: %q, %v", addr, c.Projector.MetricsListen, err)
		}
	}
}

func TestParse_TrustedProxies(t *testing.T) {
	c, err := Parse(minimal)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Frontend.TrustedProxyPrefixes(); err != nil || len(got) != 0 {
		t.Fatalf("default trusted proxies = %v, %v; want none", got, err)
	}
	t.Setenv("PUREPOOL_LB", "192.0.2.10")
	c, err = Parse("[frontend]\ntrusted_proxies = [\"127.0.0.1\", \"10.1.2.3/8\", \"2001:db8::/32\", \"${PUREPOOL_LB}\"]\n" + minimal)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Frontend.TrustedProxyPrefixes()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.0.0.0/8", "2001:db8::/32", "192.0.2.10/32"}
	if len(got) != len(want) {
		t.Fatalf("trusted proxies = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("trusted proxy %d = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := Parse("[frontend]\ntrusted_proxies = \"10.0.0.0/8\"\n" + minimal); err == nil {
		t.Error("a string instead of a list must be refused")
	}
}

func TestAmount(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"10", 10 * biblepay.Coin, true},
		{"0.5", 50_000_000, true},
		{"0.00000001", 1, true},
		{"12.34567890", 1_234_567_890, true},
		{"16235.85745354", 1_623_585_745_354, true},
		{"1.123456789", 0, false},
		{"-1", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{".5", 0, false},
		{"5.", 0, false},
		{"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseAmount(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.Sat() != tt.want) {
			t.Errorf("ParseAmount(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if tt.ok {
			back, err := ParseAmount(got.String())
			if err != nil || back != got {
				t.Errorf("String() of %q = %q does not parse back", tt.in, got.String())
			}
		}
	}
}
