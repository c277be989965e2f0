package aggregates_test

import (
	"errors"
	"testing"
	"time"

	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

func fold(m aggregates.Miner, evs []events.Event) aggregates.Miner {
	for _, e := range evs {
		m = m.Apply(e)
	}
	return m
}

func issue(network, address, worker string) commands.IssueWork {
	return commands.IssueWork{
		ID: uid("cmd" + worker), Network: network, MinerID: events.MinerID(network, address), Address: address,
		Worker: worker, WorkID: uid("work" + worker), Target: biblepay.DefaultTarget, IssuedAt: t0,
	}
}

func TestDecideIssueWork(t *testing.T) {
	a := addr("main", 1)
	registered := fold(aggregates.Miner{}, []events.Event{
		events.MinerRegistered{Network: "main", MinerID: events.MinerID("main", a), Address: a},
		events.WorkerRegistered{Network: "main", MinerID: events.MinerID("main", a), Worker: "rig1"},
	})
	bad := func(f func(*commands.IssueWork)) commands.IssueWork {
		c := issue("main", a, "rig1")
		f(&c)
		return c
	}
	tests := []struct {
		name  string
		state aggregates.Miner
		cmd   commands.IssueWork
		types []string
		err   error
	}{
		{"first contact registers miner and worker", aggregates.Miner{}, issue("main", a, "rig1"),
			[]string{events.TypeMinerRegistered, events.TypeWorkerRegistered, events.TypeWorkIssued}, nil},
		{"known worker only records work", registered, issue("main", a, "rig1"), []string{events.TypeWorkIssued}, nil},
		{"new worker of a known miner", registered, issue("main", a, "rig2"), []string{events.TypeWorkerRegistered, events.TypeWorkIssued}, nil},
		{"unknown network", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.Network = "moon" }), nil, aggregates.ErrInvalid},
		{"testnet address on main", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.Address = addr("test", 1) }), nil, aggregates.ErrInvalid},
		{"miner id not derived from address", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.MinerID = uid("x") }), nil, aggregates.ErrInvalid},
		{"bad target", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.Target = "zz" }), nil, aggregates.ErrInvalid},
		{"no work id", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.WorkID = [16]byte{} }), nil, aggregates.ErrInvalid},
		{"no time", aggregates.Miner{}, bad(func(c *commands.IssueWork) { c.IssuedAt = time.Time{} }), nil, aggregates.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := aggregates.DecideIssueWork(tt.state, tt.cmd)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if got := typesOf(evs); !equal(got, tt.types) {
				t.Fatalf("events %v, want %v", got, tt.types)
			}
			for _, e := range evs {
				if w, ok := e.(events.WorkIssued); ok && (w.WorkID != tt.cmd.WorkID || w.Target != tt.cmd.Target || !w.At.Equal(t0)) {
					t.Errorf("work issued %+v does not carry the command", w)
				}
			}
		})
	}
}

func TestMinerDisableEnable(t *testing.T) {
	a := addr("main", 2)
	dis := commands.DisableMiner{ID: uid("d"), Network: "main", Address: a, Reason: "abuse", At: t0}
	evs, err := aggregates.DecideDisableMiner(aggregates.Miner{}, dis)
	mustNoErr(t, err)
	if got := typesOf(evs); !equal(got, []string{events.TypeMinerRegistered, events.TypeMinerDisabled}) {
		t.Fatalf("disabling an unknown miner: %v", got)
	}
	m := fold(aggregates.Miner{}, evs)
	if !m.Disabled || m.DisabledReason != "abuse" || !m.Registered {
		t.Fatalf("state %+v", m)
	}
	if evs, _ := aggregates.DecideDisableMiner(m, dis); len(evs) != 0 {
		t.Fatalf("disabling twice gave %v", typesOf(evs))
	}
	en := commands.EnableMiner{ID: uid("e"), Network: "main", Address: a, At: t0}
	evs, err = aggregates.DecideEnableMiner(m, en)
	mustNoErr(t, err)
	m = fold(m, evs)
	if m.Disabled || len(evs) != 1 {
		t.Fatalf("enable: %v, %+v", typesOf(evs), m)
	}
	if evs, _ := aggregates.DecideEnableMiner(m, en); len(evs) != 0 {
		t.Fatalf("enabling an enabled miner gave %v", typesOf(evs))
	}
	if _, err := aggregates.DecideDisableMiner(m, commands.DisableMiner{Network: "main", Address: "nope"}); !errors.Is(err, aggregates.ErrInvalid) {
		t.Fatalf("bad address: %v", err)
	}
}

func TestDecideTarget(t *testing.T) {
	a := addr("main", 3)
	m := fold(aggregates.Miner{}, []events.Event{events.MinerRegistered{Network: "main", MinerID: events.MinerID("main", a), Address: a}})
	def := biblepay.DefaultTarget
	if evs, _ := aggregates.DecideTarget(m, def, def, "same", t0); len(evs) != 0 {
		t.Fatal("the default target is the current one")
	}
	// A network configured with another default: a miner without its own
	// target works at that one, and the built-in default is a change.
	netDef := biblepay.TargetForDifficulty(1 << 10)
	if evs, _ := aggregates.DecideTarget(m, netDef, netDef, "same", t0); len(evs) != 0 {
		t.Fatal("the network's default target is the current one")
	}
	if evs, _ := aggregates.DecideTarget(m, netDef, def, "back to the built-in default", t0); len(evs) != 1 {
		t.Fatal("the built-in default differs from the network's")
	}
	nt := biblepay.TargetForDifficulty(1 << 30)
	evs, err := aggregates.DecideTarget(m, def, nt, "vardiff", t0)
	mustNoErr(t, err)
	if len(evs) != 1 || fold(m, evs).Target != nt {
		t.Fatalf("got %v", evs)
	}
	if _, err := aggregates.DecideTarget(aggregates.Miner{}, def, nt, "", t0); !errors.Is(err, aggregates.ErrConflict) {
		t.Fatalf("unregistered: %v", err)
	}
}

func TestRetarget(t *testing.T) {
	p := aggregates.VardiffPolicy{SharesPerMinute: 6, MinDifficulty: 100, MaxDifficulty: 1 << 40, Tolerance: 2, MaxStep: 4}
	tests := []struct {
		name            string
		current, shares int64
		window          time.Duration
		want            int64
	}{
		{"on aim keeps", 1000, 60, 10 * time.Minute, 1000},
		{"within tolerance keeps", 1000, 100, 10 * time.Minute, 1000},
		{"twice too many at the edge keeps", 1000, 120, 10 * time.Minute, 1000},
		{"three times too many triples", 1000, 180, 10 * time.Minute, 3000},
		{"far too many is capped at MaxStep", 1000, 6000, 10 * time.Minute, 4000},
		{"too few lowers", 1000, 20, 10 * time.Minute, 333},
		{"none lowers by MaxStep", 1000, 0, 10 * time.Minute, 250},
		{"floor at MinDifficulty", 200, 0, 10 * time.Minute, 100},
		{"ceiling at MaxDifficulty", 1 << 40, 6000, time.Minute, 1 << 40},
		{"no window keeps", 1000, 0, 0, 1000},
	}
	for _, tt := range tests {
		if got := aggregates.Retarget(tt.current, tt.shares, tt.window, p); got != tt.want {
			t.Errorf("%s: Retarget(%d, %d, %v) = %d, want %d", tt.name, tt.current, tt.shares, tt.window, got, tt.want)
		}
	}
}

func typesOf(evs []events.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.EventType())
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
