package projections_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
)

// gatedStore is a real event store whose deliveries the test can hold back,
// to move the read model's checkpoint under a running projector at a chosen
// moment.
type gatedStore struct {
	events.Store
	mu      sync.Mutex
	closed  chan struct{} // non-nil while held: closed on release
	waiting int           // deliveries held right now
}

func (s *gatedStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = make(chan struct{})
}

func (s *gatedStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.closed)
	s.closed = nil
}

func (s *gatedStore) held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.waiting
}

func (s *gatedStore) Subscribe(ctx context.Context, after uint64, handle func(context.Context, []events.Envelope) error) error {
	return s.Store.Subscribe(ctx, after, func(ctx context.Context, envs []events.Envelope) error {
		s.mu.Lock()
		gate := s.closed
		if gate != nil {
			s.waiting++
		}
		s.mu.Unlock()
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
			}
			s.mu.Lock()
			s.waiting--
			s.mu.Unlock()
		}
		return handle(ctx, envs)
	})
}

// metricValues reads every projector metric of reg: counters and gauges by
// name, a histogram's observation count as name+"_count". A metric left
// out (an unknown position, an unreachable store) is absent.
func metricValues(t testing.TB, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				out[mf.GetName()] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[mf.GetName()] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[mf.GetName()+"_count"] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// waitMetrics polls until the metrics have the wanted values (a generous
// deadline: nothing here is about speed).
func waitMetrics(t testing.TB, reg *prometheus.Registry, want map[string]float64) map[string]float64 {
	t.Helper()
	var got map[string]float64
	waitFor(t, fmt.Sprintf("metrics %v", want), func() bool {
		got = metricValues(t, reg)
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				return false
			}
		}
		return true
	})
	return got
}

// TestRunner_Metrics runs a projector with Prometheus metrics against a real
// event store and read model: the position, head and lag follow the events
// appended, every event and batch is counted once, a checkpoint moved under
// the runner counts a restart, and an event that cannot be folded an error.
func TestRunner_Metrics(t *testing.T) {
	h := smallHistory()
	total := len(h.Envelopes)
	first, second := total/3, total*2/3
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			db := tt.open(t)
			store := &gatedStore{Store: newEventStore(t)}
			reg := prometheus.NewRegistry()
			metrics, err := projections.NewPrometheus(reg, store)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := projections.NewPrometheus(reg, store); err == nil {
				t.Error("registering the metrics twice in one registry must fail")
			}
			// Nothing stored, nothing subscribed yet: the head only.
			if got := metricValues(t, reg); got["purepool_projector_store_head"] != 0 || got["purepool_projector_events_total"] != 0 {
				t.Fatalf("before any event: %v", got)
			}
			if _, ok := metricValues(t, reg)["purepool_projector_position"]; ok {
				t.Error("the position is reported before the runner read its checkpoint")
			}

			load(t, store, h, 0, first)
			runner := &projections.Runner{Store: store, DB: db, MaxBatch: 100, RetryDelay: 10 * time.Millisecond,
				Logger: discardLogger(), Metrics: metrics}
			runErr := make(chan error, 1)
			go func() { runErr <- runner.Run(ctx) }()

			// Catch-up.
			got := waitMetrics(t, reg, map[string]float64{
				"purepool_projector_position":     float64(first),
				"purepool_projector_store_head":   float64(first),
				"purepool_projector_lag_events":   0,
				"purepool_projector_events_total": float64(first),
				"purepool_projector_errors_total": 0,
			})
			if b := got["purepool_projector_batches_total"]; b < float64((first+99)/100) || b > float64(first) {
				t.Errorf("%v batches for %d events of at most 100", b, first)
			}
			if got["purepool_projector_batch_duration_seconds_count"] != got["purepool_projector_batches_total"] {
				t.Errorf("%v durations observed for %v batches", got["purepool_projector_batch_duration_seconds_count"], got["purepool_projector_batches_total"])
			}
			if got["purepool_projector_restarts_total"] != 0 {
				t.Errorf("restarts %v without a reason", got["purepool_projector_restarts_total"])
			}

			// Held back: the head moves, the position does not.
			store.hold()
			load(t, store, h, first, second)
			waitFor(t, "a held delivery", func() bool { return store.held() > 0 })
			waitMetrics(t, reg, map[string]float64{
				"purepool_projector_position":   float64(first),
				"purepool_projector_store_head": float64(second),
				"purepool_projector_lag_events": float64(second - first),
			})

			// Another writer (a second instance) projects some of them: the
			// runner's next batch finds the checkpoint moved and resubscribes.
			const byOther = 10
			envs, err := store.ReadAll(ctx, uint64(first), byOther)
			if err != nil {
				t.Fatal(err)
			}
			if cp, err := db.ApplyBatch(ctx, uint64(first), envs); err != nil || cp != uint64(first+byOther) {
				t.Fatalf("move the checkpoint: %d, %v", cp, err)
			}
			store.release()
			load(t, store, h, second, total) // and live ones after
			got = waitMetrics(t, reg, map[string]float64{
				"purepool_projector_position":       float64(total),
				"purepool_projector_store_head":     float64(total),
				"purepool_projector_lag_events":     0,
				"purepool_projector_events_total":   float64(total - byOther),
				"purepool_projector_restarts_total": 1,
				"purepool_projector_errors_total":   0,
			})
			if got["purepool_projector_batch_duration_seconds_count"] != got["purepool_projector_batches_total"] {
				t.Errorf("%v durations observed for %v batches", got["purepool_projector_batch_duration_seconds_count"], got["purepool_projector_batches_total"])
			}
			checkAgainst(t, db, h)

			// An event that cannot be folded stops the runner: one error,
			// and it stays behind by that event.
			bad := events.NewEvent{ID: uuid.New(), Type: events.TypeSolutionAccepted, SchemaVersion: 1, Data: []byte(`{"difficulty":"lots"}`)}
			if _, err := events.Append(ctx, store, "solution-bad", events.Any, bad); err != nil {
				t.Fatal(err)
			}
			if err := <-runErr; err == nil || errors.Is(err, context.Canceled) {
				t.Fatalf("runner: %v, want the fold error", err)
			}
			waitMetrics(t, reg, map[string]float64{
				"purepool_projector_position":       float64(total),
				"purepool_projector_store_head":     float64(total + 1),
				"purepool_projector_lag_events":     1,
				"purepool_projector_events_total":   float64(total - byOther),
				"purepool_projector_restarts_total": 1,
				"purepool_projector_errors_total":   1,
			})
		})
	}
}
