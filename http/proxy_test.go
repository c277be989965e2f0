package http_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/purepool/purepool/commands"
	pphttp "github.com/purepool/purepool/http"
)

// behind sends a work request as a proxy would forward it for client.
func behind(client string) walletRequest {
	q := readyToMine(mainMiner, "main")
	q.Extra = map[string]string{"X-Forwarded-For": client}
	return q
}

// TestRateLimit_TrustedProxies: the fixture's clients connect from
// 127.0.0.1. Trusted as a proxy, it is no longer one client: each address
// it forwards for has its own budget (an IPv6 one per /64). Not trusted, its
// X-Forwarded-For headers are ignored and every request shares one budget.
func TestRateLimit_TrustedProxies(t *testing.T) {
	const limit = 2
	type step struct {
		client  string // X-Forwarded-For
		limited bool
	}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		steps   []step
		remote  string // the client the first request is logged and published as
	}{
		{
			name:    "behind a trusted proxy",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
			remote:  "198.51.100.1",
			steps: []step{
				{"198.51.100.1", false}, {"198.51.100.1", false},
				{"198.51.100.2", false}, {"198.51.100.2", false},
				{"198.51.100.1", true}, {"198.51.100.2", true},
				// A forged left part does not buy a new budget.
				{"203.0.113.9, 198.51.100.1", true},
				{"198.51.100.3", false},
				// The same /64 is one client; the next /64 another.
				{"2001:db8:1:2::1", false}, {"2001:db8:1:2::ffff", false}, {"2001:db8:1:2:abcd::1", true},
				{"2001:db8:1:3::1", false},
			},
		},
		{
			name:   "without trusted proxies",
			remote: "127.0.0.1",
			steps: []step{
				{"198.51.100.1", false}, {"198.51.100.2", false},
				{"198.51.100.1", true}, {"198.51.100.3", true}, {"2001:db8:1:3::1", true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, withConfig(func(c *pphttp.Config) {
				c.RateLimit = limit
				c.TrustedProxies = tt.trusted
			}))
			for i, s := range tt.steps {
				a := post(t, f.addr, behind(s.client))
				checkHTTP(t, a.Full)
				if limited := a.Error == "Rate limit exceeded"; limited != s.limited || (!limited && a.Error != "") {
					t.Errorf("request %d for %s: answered %q, want limited=%v", i, s.client, a.Error, s.limited)
				}
			}
			cmds := f.published(t)
			if len(cmds) == 0 {
				t.Fatal("nothing published")
			}
			if iw, ok := cmds[0].(commands.IssueWork); !ok || iw.RemoteIP != tt.remote {
				t.Errorf("first command %+v, want IssueWork from %s", cmds[0], tt.remote)
			}
			logs := f.logs.String()
			if !strings.Contains(logs, `"remote":"`+tt.remote+`"`) {
				t.Errorf("no log line with remote %s:\n%s", tt.remote, logs)
			}
			if tt.trusted != nil && !strings.Contains(logs, `"proxy":"127.0.0.1"`) {
				t.Errorf("the proxy is not logged:\n%s", logs)
			}
			if tt.trusted == nil && strings.Contains(logs, `"remote":"198.51.100`) {
				t.Errorf("an untrusted X-Forwarded-For reached the log:\n%s", logs)
			}
		})
	}
}
