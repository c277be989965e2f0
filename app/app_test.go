package app_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/config"
)

const file = `
data_dir = "/var/lib/purepool"
[broker]
prefetch = 16
[backend]
chain_poll = "3s"
solution_retry_deadline = "90s"
vardiff_interval = "2m"
payout_conflict_watch = "36h"
payout_resend_grace = "25s"
[[network]]
name = "test"
pool_address = "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci"
node_url = "http://rpcuser:s3cret@127.0.0.1:39001"
fee_bps = 250
scheme = "PPLNS"
pplns_window = 500
maturity = 120
min_payout = "0.5"
payout_interval = "30m"
max_recipients = 7
stale_tolerance = 2
vardiff_shares_per_minute = 4
payout_confirmations = 3
follow_from = 42
vardiff_min_difficulty = 9
default_target = "00000fffff000000000000000000000000000000000000000000000000000000"
`

func TestBackendConfigMapsEveryKey(t *testing.T) {
	cfg, err := config.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	bc, err := app.BackendConfig(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bc.PollInterval != 3*time.Second || bc.WorkWait != 90*time.Second || bc.BatchAppends != 16 || bc.ConflictWatch != 36*time.Hour ||
		bc.ResendGrace != 25*time.Second || len(bc.Networks) != 1 {
		t.Fatalf("backend config %+v", bc)
	}
	n := bc.Networks[0]
	if n.Name != "test" || n.PoolAddress != "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci" || n.FeeBps != 250 || n.Scheme != "PPLNS" ||
		n.PPLNSWindow != 500 || n.Maturity != 120 || n.MinPayoutSat != 50_000_000 || n.PayoutInterval != 30*time.Minute ||
		n.MaxRecipients != 7 || n.StaleTolerance != 2 || n.Vardiff.SharesPerMinute != 4 || n.VardiffWindow != 2*time.Minute ||
		n.PayoutConfirmations != 3 || n.FollowFrom != 42 || n.Vardiff.MinDifficulty != 9 || n.DefaultTarget != "00000fffff000000000000000000000000000000000000000000000000000000" || n.Node == nil {
		t.Errorf("network config %+v", n)
	}
}

func TestBackendConfigNeedsANode(t *testing.T) {
	cfg, err := config.Parse(strings.Replace(file, `node_url = "http://rpcuser:s3cret@127.0.0.1:39001"`, "", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, err = app.BackendConfig(cfg, nil, nil)
	var ke *config.KeyError
	if !errors.As(err, &ke) || ke.Key != "network[0].node_url" {
		t.Errorf("err %v, want a KeyError at network[0].node_url", err)
	}
}

func TestEmbeddedURLs(t *testing.T) {
	cfg, err := config.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := app.EventsURL(cfg), "sqlite://"+filepath.Join("/var/lib/purepool", app.EventsFile); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	if got, want := app.ReadModelURL(cfg), "sqlite://"+filepath.Join("/var/lib/purepool", app.ReadModelFile); got != want {
		t.Errorf("read model %q, want %q", got, want)
	}
	cfg.Store.Events = "postgres://u@h/db"
	if app.EventsURL(cfg) != "postgres://u@h/db" {
		t.Errorf("a configured store is not kept: %q", app.EventsURL(cfg))
	}
}

// Which roles may run without a broker, or without a network: a lone
// backend only with backend.jobs_only, a lone projector always.
func TestOpenRolesWithoutBroker(t *testing.T) {
	ctx := context.Background()
	cfg, err := config.Parse(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store.Events = "sqlite:" + filepath.Join(t.TempDir(), "events.db")
	cfg.DataDir = filepath.Join(t.TempDir(), "never-made")
	for _, tc := range []struct {
		name     string
		roles    app.Roles
		jobsOnly bool
		networks bool
		key      string // "" when Open succeeds
	}{
		{"lone backend", app.Roles{Backend: true}, false, true, "broker.url"},
		{"lone backend, jobs only", app.Roles{Backend: true}, true, true, ""},
		{"jobs only beside a frontend", app.AllRoles, true, true, "backend.jobs_only"},
		{"projector without networks", app.Roles{Projector: true}, false, false, ""},
		{"backend without networks", app.Roles{Backend: true}, true, false, "network"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := cfg
			c.Backend.JobsOnly = tc.jobsOnly
			if tc.roles.Projector {
				c.Store.ReadModel = "sqlite:" + filepath.Join(t.TempDir(), "rm.db")
			}
			if !tc.networks {
				c.Networks = nil
			}
			p, err := app.Open(ctx, c, app.Options{Roles: tc.roles})
			if p != nil {
				defer p.Close()
			}
			var ke *config.KeyError
			switch {
			case tc.key == "" && err != nil:
				t.Fatalf("Open: %v", err)
			case tc.key != "" && (!errors.As(err, &ke) || ke.Key != tc.key):
				t.Fatalf("Open: %v, want an error at %s", err, tc.key)
			}
			// Every store was named: nothing goes to data_dir.
			if _, err := os.Stat(c.DataDir); !os.IsNotExist(err) {
				t.Errorf("data_dir made: %v", err)
			}
		})
	}
}
