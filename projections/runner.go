package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/purepool/purepool/events"
)

// Runner keeps the read model up to date: it subscribes to the event store
// from the stored checkpoint and applies each delivered batch in one
// transaction with the new checkpoint. When the checkpoint moved under it
// (another projector instance, or a blue/green switch by a rebuild) it
// re-reads the checkpoint and subscribes again, so it never skips or
// double-applies an event.
type Runner struct {
	Store events.Store
	DB    *DB
	// MaxBatch splits large deliveries (catch-up) into transactions of at
	// most this many events. Default 2000.
	MaxBatch int
	Logger   *slog.Logger
	// OnApplied, if set, is called after each committed batch.
	OnApplied func(position uint64, n int)
	// RetryDelay is the pause before resubscribing after an error. Default 1s.
	RetryDelay time.Duration
	// Metrics, if set, observes subscriptions, batches and errors
	// (NewPrometheus publishes them).
	Metrics RunnerMetrics
}

// Run projects until ctx ends. Transient errors (a database restart) are
// logged and retried; a batch that cannot be folded (a corrupt event) stops
// the runner, since skipping it would make every balance wrong.
func (r *Runner) Run(ctx context.Context) error {
	log := r.Logger
	if log == nil {
		log = slog.Default()
	}
	maxBatch := r.MaxBatch
	if maxBatch <= 0 {
		maxBatch = 2000
	}
	delay := r.RetryDelay
	if delay <= 0 {
		delay = time.Second
	}
	metrics := r.Metrics
	if metrics == nil {
		metrics = noMetrics{}
	}
	for restart := false; ; restart = true {
		cp, err := r.DB.Checkpoint(ctx)
		if err == nil {
			log.Info("projector subscribing", "projection", Name, "after", cp)
			metrics.Subscribed(cp, restart)
			err = r.Store.Subscribe(ctx, cp, func(ctx context.Context, envs []events.Envelope) error {
				for len(envs) > 0 {
					n := min(len(envs), maxBatch)
					start := time.Now()
					next, err := r.DB.ApplyBatch(ctx, cp, envs[:n])
					if err != nil {
						return err
					}
					metrics.Applied(next, n, time.Since(start))
					if r.OnApplied != nil && next != cp {
						r.OnApplied(next, n)
					}
					cp = next
					envs = envs[n:]
				}
				return nil
			})
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fold *foldError
		switch {
		case errors.Is(err, ErrCheckpointMoved):
			log.Info("projector checkpoint moved; resubscribing", "err", err)
			continue
		case errors.As(err, &fold):
			metrics.Failed(err)
			return err
		case err != nil:
			metrics.Failed(err)
			log.Warn("projector error; retrying", "err", err, "in", delay)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// noMetrics observes nothing.
type noMetrics struct{}

func (noMetrics) Subscribed(uint64, bool)            {}
func (noMetrics) Applied(uint64, int, time.Duration) {}
func (noMetrics) Failed(error)                       {}

// foldError marks an event that cannot be projected (permanent).
type foldError struct{ err error }

func (e *foldError) Error() string { return e.err.Error() }
func (e *foldError) Unwrap() error { return e.err }

// Status is a projection's progress.
type Status struct {
	Name      string
	Position  uint64
	Head      uint64
	Lag       uint64
	UpdatedAt time.Time
	// Generation is the active PostgreSQL generation (readmodel_v{N}); 0 elsewhere.
	Generation int
}

// Status reports each projection's position and lag behind the store's head.
func (d *DB) Status(ctx context.Context, store events.Store) ([]Status, error) {
	g, err := d.activeGen(ctx, d.SQL, false)
	if err != nil {
		return nil, err
	}
	var pos int64
	var updated time.Time
	q := d.Dialect.q("SELECT " + d.Dialect.ident("position") + ", updated_at FROM " + g.name(TCheckpoints) + " WHERE " + d.Dialect.ident("name") + " = ?")
	if err := d.SQL.QueryRowContext(ctx, q, Name).Scan(&pos, nullTime{&updated}); err != nil {
		return nil, fmt.Errorf("projections: read checkpoint: %w", err)
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("projections: store head: %w", err)
	}
	s := Status{Name: Name, Position: uint64(pos), Head: head, UpdatedAt: updated, Generation: g.version}
	if head > s.Position {
		s.Lag = head - s.Position
	}
	return []Status{s}, nil
}
