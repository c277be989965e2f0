package aggregates

import (
	"fmt"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// Miner is the state of a miner-{id} stream.
type Miner struct {
	Network        string
	ID             uuid.UUID
	Address        string
	Registered     bool
	Workers        map[string]bool
	Disabled       bool
	DisabledReason string
	Target         string // the share target set by vardiff; "" = the default
}

// Apply folds one event of the miner's stream. Events of other streams are
// ignored. The workers map is copied on change, so earlier states stay valid.
func (m Miner) Apply(e events.Event) Miner {
	switch e := e.(type) {
	case events.MinerRegistered:
		m.Network, m.ID, m.Address, m.Registered = e.Network, e.MinerID, e.Address, true
	case events.WorkerRegistered:
		w := make(map[string]bool, len(m.Workers)+1)
		for k := range m.Workers {
			w[k] = true
		}
		w[e.Worker] = true
		m.Workers = w
	case events.MinerDisabled:
		m.Disabled, m.DisabledReason = true, e.Reason
	case events.MinerEnabled:
		m.Disabled, m.DisabledReason = false, ""
	case events.MinerTargetChanged:
		m.Target = e.Target
	}
	return m
}

// checkMinerIdentity checks that network, address and miner id agree.
func checkMinerIdentity(network, address string, minerID uuid.UUID) error {
	n, ok := biblepay.LookupNetwork(network)
	if !ok {
		return fmt.Errorf("%w: unknown network %q", ErrInvalid, network)
	}
	if err := n.ValidateAddress(address); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if want := events.MinerID(network, address); minerID != want {
		return fmt.Errorf("%w: miner id %s is not the id %s of %s on %s", ErrInvalid, minerID, want, address, network)
	}
	return nil
}

// register returns the registration events a first contact needs.
func (m Miner) register(network, address string, minerID uuid.UUID, worker string, at time.Time) []events.Event {
	var out []events.Event
	if !m.Registered {
		out = append(out, events.MinerRegistered{Network: network, MinerID: minerID, Address: address, At: at})
	}
	if worker != "" && !m.Workers[worker] {
		out = append(out, events.WorkerRegistered{Network: network, MinerID: minerID, Worker: worker, At: at})
	}
	return out
}

// DecideIssueWork records work the frontend handed out, registering the miner
// and the worker on first contact. Work is recorded even for a disabled miner
// (the frontend answered already); its solutions will be rejected.
func DecideIssueWork(m Miner, c commands.IssueWork) ([]events.Event, error) {
	if err := checkMinerIdentity(c.Network, c.Address, c.MinerID); err != nil {
		return nil, err
	}
	if m.Registered && m.ID != c.MinerID {
		return nil, fmt.Errorf("%w: state of miner %s given for %s", ErrInvalid, m.ID, c.MinerID)
	}
	if c.WorkID == uuid.Nil {
		return nil, fmt.Errorf("%w: no work id", ErrInvalid)
	}
	if _, err := biblepay.ParseHash(c.Target); err != nil {
		return nil, fmt.Errorf("%w: target: %v", ErrInvalid, err)
	}
	if c.Worker == "" || len(c.Worker) > biblepay.MaxWorkerName {
		return nil, fmt.Errorf("%w: worker name of %d bytes", ErrInvalid, len(c.Worker))
	}
	if c.IssuedAt.IsZero() {
		return nil, fmt.Errorf("%w: no issue time", ErrInvalid)
	}
	out := m.register(c.Network, c.Address, c.MinerID, c.Worker, c.IssuedAt)
	out = append(out, events.WorkIssued{
		Network: c.Network, WorkID: c.WorkID, MinerID: c.MinerID, Address: c.Address, Worker: c.Worker,
		Target: c.Target, ThreadID: c.ThreadID, Agent: c.Agent, OS: c.OS, At: c.IssuedAt,
	})
	return out, nil
}

// DecideDisableMiner stops a miner. An address never seen is registered
// first, so an operator can block it before it mines. Disabling a disabled
// miner changes nothing.
func DecideDisableMiner(m Miner, c commands.DisableMiner) ([]events.Event, error) {
	id := events.MinerID(c.Network, c.Address)
	if err := checkMinerIdentity(c.Network, c.Address, id); err != nil {
		return nil, err
	}
	if m.Disabled {
		return nil, nil
	}
	out := m.register(c.Network, c.Address, id, "", c.At)
	return append(out, events.MinerDisabled{Network: c.Network, MinerID: id, Reason: c.Reason, At: c.At}), nil
}

// DecideEnableMiner lets a disabled miner work again; otherwise it changes nothing.
func DecideEnableMiner(m Miner, c commands.EnableMiner) ([]events.Event, error) {
	id := events.MinerID(c.Network, c.Address)
	if err := checkMinerIdentity(c.Network, c.Address, id); err != nil {
		return nil, err
	}
	if !m.Disabled {
		return nil, nil
	}
	return []events.Event{events.MinerEnabled{Network: c.Network, MinerID: id, At: c.At}}, nil
}

// EffectiveTarget is the share target a miner works at: its own, or def
// (the network's default, which the frontend hands out) while it has none.
func EffectiveTarget(own, def string) string {
	if own != "" {
		return own
	}
	return def
}

// DecideTarget publishes a new share target for a registered miner, if it
// differs from the one it works at (its own, or the network's default def).
func DecideTarget(m Miner, def, target, reason string, at time.Time) ([]events.Event, error) {
	if !m.Registered {
		return nil, fmt.Errorf("%w: miner not registered", ErrConflict)
	}
	if _, err := biblepay.ParseHash(target); err != nil {
		return nil, fmt.Errorf("%w: target: %v", ErrInvalid, err)
	}
	if target == EffectiveTarget(m.Target, def) {
		return nil, nil
	}
	return []events.Event{events.MinerTargetChanged{Network: m.Network, MinerID: m.ID, Target: target, Reason: reason, At: at}}, nil
}

// VardiffPolicy tunes Retarget.
type VardiffPolicy struct {
	SharesPerMinute int64 // the aim, per miner
	MinDifficulty   int64
	MaxDifficulty   int64
	// Hysteresis: keep the difficulty while the observed rate stays within
	// [aim/Tolerance, aim×Tolerance]. At least 1.
	Tolerance int64
	// MaxStep bounds one change to ×MaxStep or ÷MaxStep. At least 2.
	MaxStep int64
}

// Retarget is the vardiff rule: given the difficulty a miner worked at and the
// number of shares it got accepted in the last window, it returns the
// difficulty that would give SharesPerMinute, or the current one when the
// rate is close enough. Integer arithmetic only, so it replays exactly.
func Retarget(current, shares int64, window time.Duration, p VardiffPolicy) int64 {
	if current < 1 {
		current = 1
	}
	minutesMilli := window.Milliseconds() // window in ms; aim is per 60,000 ms
	if p.SharesPerMinute < 1 || minutesMilli <= 0 {
		return current
	}
	tol := max(p.Tolerance, 1)
	step := max(p.MaxStep, 2)
	// expected shares in the window, ×60000 to stay in integers
	expected := new(big.Int).Mul(big.NewInt(p.SharesPerMinute), big.NewInt(minutesMilli))
	observed := new(big.Int).Mul(big.NewInt(shares), big.NewInt(60_000))
	lo := new(big.Int).Quo(expected, big.NewInt(tol))
	hi := new(big.Int).Mul(expected, big.NewInt(tol))
	if observed.Cmp(lo) >= 0 && observed.Cmp(hi) <= 0 {
		return current
	}
	next := new(big.Int).Mul(big.NewInt(current), observed)
	next.Quo(next, expected)
	upper := new(big.Int).Mul(big.NewInt(current), big.NewInt(step))
	lower := new(big.Int).Quo(big.NewInt(current), big.NewInt(step))
	if next.Cmp(upper) > 0 {
		next = upper
	}
	if next.Cmp(lower) < 0 {
		next = lower
	}
	d := int64(1)
	if next.IsInt64() {
		d = next.Int64()
	} else {
		d = 1<<63 - 1
	}
	if p.MinDifficulty > 0 && d < p.MinDifficulty {
		d = p.MinDifficulty
	}
	if p.MaxDifficulty > 0 && d > p.MaxDifficulty {
		d = p.MaxDifficulty
	}
	return max(d, 1)
}
