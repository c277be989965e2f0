package app

// The Prometheus metrics the roles serve: the projector's, the backend's
// listener, and the /metrics server.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/projections"
)

// BackendMetricsAddr is the bound address of backend.metrics_listen (nil
// when it is not served).
func (p *Pool) BackendMetricsAddr() net.Addr {
	if p.backendMetricsLn == nil {
		return nil
	}
	return p.backendMetricsLn.Addr()
}

// MetricsAddr is the bound address of projector.metrics_listen (nil when
// it is not served).
func (p *Pool) MetricsAddr() net.Addr {
	if p.metricsLn == nil {
		return nil
	}
	return p.metricsLn.Addr()
}

// buildProjectorMetrics gives the projector its Prometheus metrics: in the
// website's registry when the frontend runs in this process (its /metrics
// then shows them), and on projector.metrics_listen when set. The listener
// is bound here so that a taken port fails Open.
func (p *Pool) buildProjectorMetrics() error {
	reg := NewMetricsRegistry()
	if p.site != nil {
		reg = p.site.Registry()
	}
	m, err := projections.NewPrometheus(reg, p.store)
	if err != nil {
		return err
	}
	p.projectorMetrics, p.metricsRegistry = m, reg
	if addr := p.cfg.Projector.MetricsListen; addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return &config.KeyError{Key: "projector.metrics_listen", Err: err}
		}
		p.metricsLn = ln
		p.log.Info("projector metrics listening", "role", "projector", "addr", ln.Addr().String())
		// Serve closes it too; a second close only reports that.
		p.onClose(func() error { _ = ln.Close(); return nil })
	}
	return nil
}

// NewMetricsRegistry is a Prometheus registry with the Go runtime's and the
// process's collectors, as a role's own /metrics serves them.
func NewMetricsRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// ServeMetrics serves reg at /metrics on ln until ctx ends; it returns nil
// then. It closes ln.
func ServeMetrics(ctx context.Context, ln net.Listener, reg prometheus.Gatherer) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics %s: %w", ln.Addr(), err)
	}
	return nil
}
