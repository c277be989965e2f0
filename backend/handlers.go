package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
)

// Handlers lists every command the backend handles: one small type each.
type Handlers struct {
	IssueWork       IssueWorkHandler
	SubmitSolution  SubmitSolutionHandler
	DisableMiner    DisableMinerHandler
	EnableMiner     EnableMinerHandler
	PausePayouts    PausePayoutsHandler
	ResumePayouts   ResumePayoutsHandler
	TriggerPayout   TriggerPayoutHandler
	ReconcilePayout ReconcilePayoutHandler
}

func newHandlers(b *Backend) Handlers {
	return Handlers{
		IssueWork: IssueWorkHandler{b}, SubmitSolution: SubmitSolutionHandler{b},
		DisableMiner: DisableMinerHandler{b}, EnableMiner: EnableMinerHandler{b},
		PausePayouts: PausePayoutsHandler{b}, ResumePayouts: ResumePayoutsHandler{b},
		TriggerPayout: TriggerPayoutHandler{b}, ReconcilePayout: ReconcilePayoutHandler{b},
	}
}

// maxAttempts bounds the reload-and-decide-again loop on a version conflict.
const maxAttempts = 20

// Handle is the backend's commands.Handler: it decodes a message, runs its
// handler and maps the outcome: nil once the events are stored (or were
// stored by an earlier delivery), commands.Permanent for a command that can
// never be handled, any other error for a redelivery.
func (b *Backend) Handle(ctx context.Context, msg commands.Message) error {
	c, err := commands.Decode(msg)
	if err != nil {
		return err // already Permanent
	}
	received := receivedAt(c)
	b.intake.start(msg.ID, received, time.Now())
	err = b.handle(ctx, msg, c)
	b.intake.finish(msg.ID, received, err == nil || commands.IsPermanent(err), time.Now())
	return err
}

func (b *Backend) handle(ctx context.Context, msg commands.Message, c commands.Command) error {
	var err error
	switch c := c.(type) {
	case commands.IssueWork:
		err = b.Handlers.IssueWork.Handle(ctx, c)
	case commands.SubmitSolution:
		err = b.Handlers.SubmitSolution.Handle(ctx, c)
	case commands.DisableMiner:
		err = b.Handlers.DisableMiner.Handle(ctx, c)
	case commands.EnableMiner:
		err = b.Handlers.EnableMiner.Handle(ctx, c)
	case commands.PausePayouts:
		err = b.Handlers.PausePayouts.Handle(ctx, c)
	case commands.ResumePayouts:
		err = b.Handlers.ResumePayouts.Handle(ctx, c)
	case commands.TriggerPayout:
		err = b.Handlers.TriggerPayout.Handle(ctx, c)
	case commands.ReconcilePayout:
		err = b.Handlers.ReconcilePayout.Handle(ctx, c)
	case commands.CorrectPayout:
		if _, ok := b.network(c.Network); !ok {
			err = commands.Permanent(fmt.Errorf("backend: network %q is not served", c.Network))
		} else {
			err = b.CorrectPayout(ctx, c)
		}
	case commands.AdoptWalletPayout:
		if _, ok := b.network(c.Network); !ok {
			err = commands.Permanent(fmt.Errorf("backend: network %q is not served", c.Network))
		} else {
			err = b.AdoptWalletPayout(ctx, c)
		}
	default:
		return commands.Permanent(fmt.Errorf("backend: no handler for %s", msg.Name))
	}
	if err == nil || commands.IsPermanent(err) {
		return err
	}
	if errors.Is(err, aggregates.ErrInvalid) {
		return commands.Permanent(err)
	}
	b.log.Warn("command not handled; it will be redelivered", "command", msg.Name, "id", msg.ID, "err", err)
	return err
}

// receivedAt is when the frontend received a command from a wallet (zero
// for the others).
func receivedAt(c commands.Command) time.Time {
	switch c := c.(type) {
	case commands.SubmitSolution:
		return c.ReceivedAt
	case commands.IssueWork:
		return c.IssuedAt
	}
	return time.Time{}
}

func metaOf(id uuid.UUID) events.Metadata {
	s := id.String()
	return events.Metadata{CommandID: s, CorrelationID: s, CausationID: s}
}

// minerEntry is a miner stream's state and version as last read or written.
type minerEntry struct {
	state   aggregates.Miner
	version int64
}

// loadMiner returns a miner's state from the cache, or from the store when
// fresh is set or it is not cached.
func (b *Backend) loadMiner(ctx context.Context, id uuid.UUID, fresh bool) (minerEntry, error) {
	key := id.String()
	if !fresh {
		if m, ok := b.miners.get(key); ok {
			return m, nil
		}
	}
	evs, v, err := readStream(ctx, b.store, events.StreamMiner(id))
	if err != nil {
		return minerEntry{}, err
	}
	var m aggregates.Miner
	for _, e := range evs {
		m = m.Apply(e)
	}
	entry := minerEntry{state: m, version: v}
	b.miners.put(key, entry)
	return entry, nil
}

// noteMinerWrite updates the cached miner after an append that wrote evs.
func (b *Backend) noteMinerWrite(id uuid.UUID, before minerEntry, evs []events.Event) {
	m := before
	stream := events.StreamMiner(id)
	for _, e := range evs {
		if aggregates.StreamFor(e) == stream {
			m.state = m.state.Apply(e)
			m.version++
		}
	}
	b.miners.put(id.String(), m)
}

// minerFirst orders a miner decision's streams when they are written one
// at a time: the miner's (a registration), then the command's own (the
// work), which marks it done: a redelivery after a crash between the two
// finds the miner registered and writes the work.
func minerFirst(miner string) func(string) int {
	return func(s string) int {
		if s == miner {
			return 0
		}
		return 1
	}
}

// decideMiner runs a miner decision with reload-and-retry on conflicts.
// The write goes through the group commit (IssueWork is as hot as shares).
func (b *Backend) decideMiner(ctx context.Context, cmdID, minerID uuid.UUID, decide func(aggregates.Miner) ([]events.Event, error), otherStreams events.ExpectedVersion) ([]events.Event, error) {
	stream := events.StreamMiner(minerID)
	for attempt := range maxAttempts {
		m, err := b.loadMiner(ctx, minerID, attempt > 0)
		if err != nil {
			return nil, err
		}
		evs, err := decide(m.state)
		if err != nil {
			return nil, err
		}
		err = b.appendGrouped(ctx, cmdID.String(), metaOf(cmdID), evs, func(s string) events.ExpectedVersion {
			if s == stream {
				return expectedFor(m.version)
			}
			return otherStreams
		}, minerFirst(stream), crashpoint.WorkBetweenWrites)
		if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) {
			b.miners.drop(minerID.String())
			continue
		}
		if err != nil {
			return nil, err
		}
		b.noteMinerWrite(minerID, m, evs)
		return evs, nil
	}
	return nil, fmt.Errorf("backend: miner %s: still conflicting after %d attempts: %w", minerID, maxAttempts, events.ErrWrongExpectedVersion)
}

// IssueWorkHandler records work handed out (and registers miner and worker).
type IssueWorkHandler struct{ b *Backend }

// Handle implements the IssueWork command.
func (h IssueWorkHandler) Handle(ctx context.Context, c commands.IssueWork) error {
	if _, ok := h.b.network(c.Network); !ok {
		return commands.Permanent(fmt.Errorf("backend: IssueWork %s: network %q is not served", c.ID, c.Network))
	}
	workStream := events.StreamWork(c.WorkID)
	evs, err := h.b.decideMiner(ctx, c.ID, c.MinerID, func(m aggregates.Miner) ([]events.Event, error) {
		// A work stream that exists already holds this command's work (a
		// redelivery: the append will be a duplicate) or another's.
		if w, ok := h.b.works.get(c.WorkID, h.b.now()); ok && w.miner != c.MinerID {
			return nil, fmt.Errorf("%w: work id %s was issued to miner %s", aggregates.ErrInvalid, c.WorkID, w.miner)
		}
		return aggregates.DecideIssueWork(m, c)
	}, events.NoStream)
	if errors.Is(err, events.ErrWrongExpectedVersion) {
		envs, rerr := h.b.store.ReadStream(ctx, workStream, 0, 1)
		if rerr == nil && len(envs) == 1 && envs[0].ID != EventID(c.ID.String(), events.TypeWorkIssued, 0) {
			return commands.Permanent(fmt.Errorf("backend: IssueWork %s: work %s was recorded by another command", c.ID, c.WorkID))
		}
	}
	if err != nil {
		return err
	}
	for _, e := range evs {
		if w, ok := e.(events.WorkIssued); ok {
			h.b.works.put(w.WorkID, refOf(w), h.b.now())
		}
	}
	return nil
}

// DisableMinerHandler stops a miner (admin).
type DisableMinerHandler struct{ b *Backend }

// Handle implements the DisableMiner command.
func (h DisableMinerHandler) Handle(ctx context.Context, c commands.DisableMiner) error {
	id := events.MinerID(c.Network, c.Address)
	_, err := h.b.decideMiner(ctx, c.ID, id, func(m aggregates.Miner) ([]events.Event, error) {
		return aggregates.DecideDisableMiner(m, c)
	}, events.Any)
	return err
}

// EnableMinerHandler lets a disabled miner work again (admin).
type EnableMinerHandler struct{ b *Backend }

// Handle implements the EnableMiner command.
func (h EnableMinerHandler) Handle(ctx context.Context, c commands.EnableMiner) error {
	id := events.MinerID(c.Network, c.Address)
	_, err := h.b.decideMiner(ctx, c.ID, id, func(m aggregates.Miner) ([]events.Event, error) {
		return aggregates.DecideEnableMiner(m, c)
	}, events.Any)
	return err
}

// decideSchedule runs a decision on a network's payout schedule stream.
func (b *Backend) decideSchedule(ctx context.Context, cmdID uuid.UUID, network string, decide func(aggregates.PayoutSchedule) ([]events.Event, error)) error {
	if _, ok := b.network(network); !ok {
		return commands.Permanent(fmt.Errorf("backend: network %q is not served", network))
	}
	stream := events.StreamPayoutSchedule(network)
	for range maxAttempts {
		evs, v, err := readStream(ctx, b.store, stream)
		if err != nil {
			return err
		}
		s := aggregates.PayoutSchedule{Network: network}
		for _, e := range evs {
			s = s.Apply(e)
		}
		out, err := decide(s)
		if err != nil {
			return err
		}
		_, err = appendDecided(ctx, b.store, cmdID.String(), metaOf(cmdID), out, func(string) events.ExpectedVersion { return expectedFor(v) })
		if errors.Is(err, events.ErrWrongExpectedVersion) {
			continue
		}
		return err
	}
	return fmt.Errorf("backend: %s: still conflicting: %w", stream, events.ErrWrongExpectedVersion)
}

// PausePayoutsHandler stops a network's payouts (admin).
type PausePayoutsHandler struct{ b *Backend }

// Handle implements the PausePayouts command.
func (h PausePayoutsHandler) Handle(ctx context.Context, c commands.PausePayouts) error {
	return h.b.decideSchedule(ctx, c.ID, c.Network, func(s aggregates.PayoutSchedule) ([]events.Event, error) {
		return aggregates.DecidePausePayouts(s, c)
	})
}

// ResumePayoutsHandler restarts a network's payouts (admin).
type ResumePayoutsHandler struct{ b *Backend }

// Handle implements the ResumePayouts command.
func (h ResumePayoutsHandler) Handle(ctx context.Context, c commands.ResumePayouts) error {
	return h.b.decideSchedule(ctx, c.ID, c.Network, func(s aggregates.PayoutSchedule) ([]events.Event, error) {
		return aggregates.DecideResumePayouts(s, c)
	})
}

// TriggerPayoutHandler runs a network's payout cycle now (admin).
type TriggerPayoutHandler struct{ b *Backend }

// Handle implements the TriggerPayout command. A blocked or empty cycle is
// not an error: the command is done once the cycle ran.
func (h TriggerPayoutHandler) Handle(ctx context.Context, c commands.TriggerPayout) error {
	if _, ok := h.b.network(c.Network); !ok {
		return commands.Permanent(fmt.Errorf("backend: network %q is not served", c.Network))
	}
	return h.b.PayoutCycle(ctx, c.Network)
}

// ReconcilePayoutHandler settles a halted payout (admin).
type ReconcilePayoutHandler struct{ b *Backend }

// Handle implements the ReconcilePayout command.
func (h ReconcilePayoutHandler) Handle(ctx context.Context, c commands.ReconcilePayout) error {
	if _, ok := h.b.network(c.Network); !ok {
		return commands.Permanent(fmt.Errorf("backend: network %q is not served", c.Network))
	}
	return h.b.ReconcilePayout(ctx, c)
}
