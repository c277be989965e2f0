package projections

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RunnerMetrics observes a Runner: its hook for instrumentation, so that
// this package needs no global registry. The Runner calls it from its one
// goroutine; an implementation that is also read elsewhere (a scrape)
// synchronises itself.
type RunnerMetrics interface {
	// Subscribed: the runner (re)subscribes after position, the checkpoint
	// it read; restart is false for the first subscription of a Run.
	Subscribed(position uint64, restart bool)
	// Applied: a batch of n events, up to position, was committed in d.
	Applied(position uint64, n int, d time.Duration)
	// Failed: a subscription ended with err; the runner retries unless the
	// error is permanent (an event it cannot fold).
	Failed(err error)
}

// Head tells the newest position of the event store (events.Store does).
type Head interface {
	Head(ctx context.Context) (uint64, error)
}

// Prometheus is a RunnerMetrics publishing the projector's progress as
// Prometheus metrics. Build it with NewPrometheus.
type Prometheus struct {
	head        Head
	headTimeout time.Duration

	position   atomic.Uint64
	subscribed atomic.Bool

	positionDesc *prometheus.Desc
	headDesc     *prometheus.Desc
	lagDesc      *prometheus.Desc

	events   prometheus.Counter
	batches  prometheus.Counter
	duration prometheus.Histogram
	errors   prometheus.Counter
	restarts prometheus.Counter
}

// NewPrometheus registers the projector's metrics with reg:
//
//   - purepool_projector_position: the last global position projected (the
//     read model's checkpoint as this runner knows it);
//   - purepool_projector_store_head and purepool_projector_lag_events: the
//     store's newest position and how many events the projector is behind,
//     asked of head at scrape time (left out when head is nil or fails, so
//     a projector never pays for them between scrapes);
//   - purepool_projector_events_total, _batches_total and
//     _batch_duration_seconds: the work committed;
//   - purepool_projector_errors_total: subscriptions ended by an error;
//   - purepool_projector_restarts_total: resubscriptions (after an error,
//     or after the checkpoint moved under the runner: another instance, a
//     blue/green rebuild).
func NewPrometheus(reg prometheus.Registerer, head Head) (*Prometheus, error) {
	m := &Prometheus{
		head:        head,
		headTimeout: 5 * time.Second,
		positionDesc: prometheus.NewDesc("purepool_projector_position",
			"Global position of the last event the projector committed to the read model.", nil, nil),
		headDesc: prometheus.NewDesc("purepool_projector_store_head",
			"Global position of the newest event in the event store, read at scrape time.", nil, nil),
		lagDesc: prometheus.NewDesc("purepool_projector_lag_events",
			"Events stored but not yet projected (store head minus projector position).", nil, nil),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "purepool_projector_events_total", Help: "Events projected into the read model."}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "purepool_projector_batches_total", Help: "Read-model transactions (batches of events) committed."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "purepool_projector_batch_duration_seconds", Help: "Time to fold and commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}), // 1 ms … 65 s
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "purepool_projector_errors_total", Help: "Subscriptions ended by an error (retried unless the event cannot be folded)."}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "purepool_projector_restarts_total", Help: "Resubscriptions after an error or a moved checkpoint."}),
	}
	for _, c := range []prometheus.Collector{m, m.events, m.batches, m.duration, m.errors, m.restarts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("projections: register metrics: %w", err)
		}
	}
	return m, nil
}

// Subscribed implements RunnerMetrics.
func (m *Prometheus) Subscribed(position uint64, restart bool) {
	m.position.Store(position)
	m.subscribed.Store(true)
	if restart {
		m.restarts.Inc()
	}
}

// Applied implements RunnerMetrics.
func (m *Prometheus) Applied(position uint64, n int, d time.Duration) {
	m.position.Store(position)
	m.events.Add(float64(n))
	m.batches.Inc()
	m.duration.Observe(d.Seconds())
}

// Failed implements RunnerMetrics.
func (m *Prometheus) Failed(error) { m.errors.Inc() }

// Describe implements prometheus.Collector for the position, head and lag.
func (m *Prometheus) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.positionDesc
	ch <- m.headDesc
	ch <- m.lagDesc
}

// Collect implements prometheus.Collector. Before the runner read its
// checkpoint the position is unknown, and neither it nor the lag is
// reported.
func (m *Prometheus) Collect(ch chan<- prometheus.Metric) {
	known := m.subscribed.Load()
	pos := m.position.Load()
	if known {
		ch <- prometheus.MustNewConstMetric(m.positionDesc, prometheus.GaugeValue, float64(pos))
	}
	if m.head == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), m.headTimeout)
	defer cancel()
	head, err := m.head.Head(ctx)
	if err != nil {
		return // the store is unreachable: the errors counter tells the rest
	}
	ch <- prometheus.MustNewConstMetric(m.headDesc, prometheus.GaugeValue, float64(head))
	if known {
		var lag uint64
		if head > pos {
			lag = head - pos
		}
		ch <- prometheus.MustNewConstMetric(m.lagDesc, prometheus.GaugeValue, float64(lag))
	}
}
