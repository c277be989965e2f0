package app_test

import (
	"errors"
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
	if bc.PollInterval != 3*time.Second || bc.WorkWait != 90*time.Second || bc.BatchAppends != 16 || bc.ConflictWatch != 36*time.Hour || len(bc.Networks) != 1 {
		t.Fatalf("backend config %+v", bc)
	}
	n := bc.Networks[0]
	if n.Name != "test" || n.PoolAddress != "yadZnJ3hD3FRC8CiLZEVNqejvQFgNtu5ci" || n.FeeBps != 250 || n.Scheme != "PPLNS" ||
		n.PPLNSWindow != 500 || n.Maturity != 120 || n.MinPayoutSat != 50_000_000 || n.PayoutInterval != 30*time.Minute ||
		n.MaxRecipients != 7 || n.StaleTolerance != 2 || n.Vardiff.SharesPerMinute != 4 || n.VardiffWindow != 2*time.Minute ||
		n.PayoutConfirmations != 3 || n.DefaultTarget != "00000fffff000000000000000000000000000000000000000000000000000000" || n.Node == nil {
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
