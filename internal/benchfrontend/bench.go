// Package benchfrontend measures the frontend's hot path (`purepool bench
// frontend`): the wallet's two actions, readytomine2 and solution, answered
// by the frontend on a real PostgreSQL read model and a real RabbitMQ
// broker, next to a bare net/http handler answering the same bytes, loaded
// by the same client in interleaved rounds of the same run.
//
// The frontend gets a private database (the read model, migrated and seeded
// with a fresh chain tip and the bench miner's own target) and a private
// vhost with the commands topology (rabbitmqctl; without it, uniquely named
// exchange and queues), both removed at the end; the per-IP rate limit is
// raised out of the way, and its access log is JSON at Info to io.Discard.
// The load client sends the wallet's exact request (simminer.Request) with
// Connection: close, one connection per request, and runs in a child
// process when Config.Client is set, so that the CPU time of this process
// (getrusage) is the servers' alone; it includes the publisher's AMQP
// goroutines, which serve the frontend. Between rounds the queue is purged
// (no backend consumes it).
package benchfrontend

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"text/tabwriter"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands/rabbitmq"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/projections"
)

// Config of a benchmark run.
type Config struct {
	PostgresURL string // a superuser URL: the private database is created on its server
	AMQPURL     string // an administrator's URL: the private vhost is created on its broker
	Actions     []string
	Conns       int           // concurrent connections (default 64, as wrk -c64)
	Round       time.Duration // one round of one server (default 5s)
	Rounds      int           // rounds per server and action, alternating who goes first (default 4)
	// Client is the argv of a child process running RunClient (for
	// `purepool bench frontend`: the binary itself); empty runs the client
	// in this process, and the CPU figures include it.
	Client []string
	// ProfileDir, when set, receives a CPU profile of every frontend round
	// (cpu-<action>-<round>.pprof; `go tool pprof -top` merges them) and
	// the allocations of the run (allocs.pprof).
	ProfileDir string
	Log        *slog.Logger // progress; nil discards
}

func (c *Config) defaults() {
	if len(c.Actions) == 0 {
		c.Actions = []string{pphttp.ActionReadyToMine, pphttp.ActionSolution}
	}
	if c.Conns <= 0 {
		c.Conns = 64
	}
	if c.Round <= 0 {
		c.Round = 5 * time.Second
	}
	if c.Rounds <= 0 {
		c.Rounds = 4
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Figures of one server for one action, over all its rounds.
type Figures struct {
	Requests, Errors int64
	FirstError       string
	Took             time.Duration
	P50, P99         time.Duration
	CPU              time.Duration // this process's user+system time during the rounds
}

// ReqPerSec is the throughput.
func (f Figures) ReqPerSec() float64 { return float64(f.Requests) / f.Took.Seconds() }

// CPUPerRequest is the servers' CPU time per answered request.
func (f Figures) CPUPerRequest() time.Duration {
	if f.Requests == 0 {
		return 0
	}
	return f.CPU / time.Duration(f.Requests)
}

// Result is one action's figures.
type Result struct {
	Action         string
	Bare, Frontend Figures
}

// Run starts the frontend and the bare handler and loads both.
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	e, err := newEnv(ctx, cfg.PostgresURL, cfg.AMQPURL)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rm, err := projections.OpenURL(ctx, e.readModelURL)
	if err != nil {
		return nil, err
	}
	defer rm.Close()
	if err := seed(ctx, rm, network, minerAddress, minerTarget); err != nil {
		return nil, fmt.Errorf("benchfrontend: seed the read model: %w", err)
	}
	pub, err := rabbitmq.NewPublisher(rabbitmq.Config{URL: e.amqpURL, Topology: e.topology, Name: "purepool-bench-frontend", Logger: cfg.Log})
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	err = pub.WaitReady(wctx)
	wcancel()
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: publisher: %w", err)
	}
	purge, err := purger(e)
	if err != nil {
		return nil, err
	}
	defer purge.Close()

	sctx, stop := context.WithCancel(ctx)
	defer stop()
	frontAddr, err := startFrontend(sctx, rm, pub)
	if err != nil {
		return nil, err
	}

	var results []Result
	for _, action := range cfg.Actions {
		req := walletRequest(action)
		answer, err := sample(frontAddr, req)
		if err != nil {
			return nil, fmt.Errorf("benchfrontend: %s: %w", action, err)
		}
		bareAddr, closeBare, err := startBare(answer)
		if err != nil {
			return nil, err
		}
		res := Result{Action: action}
		servers := []struct {
			name string
			addr string
			figs *Figures
		}{{"bare", bareAddr, &res.Bare}, {"frontend", frontAddr, &res.Frontend}}
		lat := map[string][]time.Duration{}
		// A short warm-up of both (connections, the JIT of the caches).
		for _, s := range servers {
			if _, err := loadIn(ctx, cfg.Client, ClientSpec{Addr: s.addr, Request: req, Conns: cfg.Conns, For: min(time.Second, cfg.Round)}); err != nil {
				closeBare()
				return nil, err
			}
		}
		purge.run()
		for round := range cfg.Rounds {
			order := servers
			if round%2 == 1 {
				order = []struct {
					name string
					addr string
					figs *Figures
				}{servers[1], servers[0]}
			}
			for _, s := range order {
				var prof *os.File
				if cfg.ProfileDir != "" && s.name == "frontend" {
					if prof, err = os.Create(filepath.Join(cfg.ProfileDir, fmt.Sprintf("cpu-%s-%d.pprof", action, round))); err != nil {
						closeBare()
						return nil, err
					}
					if err := pprof.StartCPUProfile(prof); err != nil {
						closeBare()
						return nil, err
					}
				}
				cpu0 := processCPU()
				r, err := loadIn(ctx, cfg.Client, ClientSpec{Addr: s.addr, Request: req, Conns: cfg.Conns, For: cfg.Round})
				cpu := processCPU() - cpu0
				if prof != nil {
					pprof.StopCPUProfile()
					_ = prof.Close()
				}
				if err != nil {
					closeBare()
					return nil, err
				}
				f := s.figs
				f.Requests += r.N
				f.Errors += r.Errors
				if f.FirstError == "" {
					f.FirstError = r.FirstErr
				}
				f.Took += r.Took
				f.CPU += cpu
				lat[s.name] = append(lat[s.name], r.Latencies...)
				cfg.Log.Info("round", "action", action, "server", s.name, "round", round,
					"req_per_s", int(float64(r.N)/r.Took.Seconds()), "errors", r.Errors)
				purge.run()
			}
		}
		closeBare()
		for _, s := range servers {
			l := lat[s.name]
			slices.Sort(l)
			if len(l) > 0 {
				s.figs.P50, s.figs.P99 = l[len(l)/2], l[len(l)*99/100]
			}
		}
		results = append(results, res)
	}
	if cfg.ProfileDir != "" {
		f, err := os.Create(filepath.Join(cfg.ProfileDir, "allocs.pprof"))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// Print writes the figures and the frontend/bare ratios as a table.
func Print(w io.Writer, cfg Config, results []Result) {
	cfg.defaults()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "action\tserver\treq/s\tp50\tp99\tCPU/req\terrors\t\n")
	for _, r := range results {
		for _, s := range []struct {
			name string
			f    Figures
		}{{"bare", r.Bare}, {"frontend", r.Frontend}} {
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%s\t%d\t\n", r.Action, s.name, s.f.ReqPerSec(),
				ms(s.f.P50), ms(s.f.P99), us(s.f.CPUPerRequest()), s.f.Errors)
		}
		fmt.Fprintf(tw, "%s\tfrontend/bare\t%.2f×\t\t%.2f×\t%.2f×\t\t\n", r.Action,
			r.Frontend.ReqPerSec()/r.Bare.ReqPerSec(), ratio(r.Frontend.P99, r.Bare.P99),
			ratio(r.Frontend.CPUPerRequest(), r.Bare.CPUPerRequest()))
	}
	_ = tw.Flush()
	where := "a child process (server CPU alone)"
	if len(cfg.Client) == 0 {
		where = "this process (CPU includes the client)"
	}
	fmt.Fprintf(w, "%d connections, Connection: close, %d interleaved rounds of %s per server and action, client in %s, GOMAXPROCS %d\n",
		cfg.Conns, cfg.Rounds, cfg.Round, where, runtime.GOMAXPROCS(0))
	for _, r := range results {
		for _, f := range []Figures{r.Bare, r.Frontend} {
			if f.Errors > 0 {
				fmt.Fprintf(w, "%s: %d failed requests, first: %s\n", r.Action, f.Errors, f.FirstError)
			}
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d.Nanoseconds())/1000) }
func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// processCPU is this process's CPU time (user + system) so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startFrontend serves /Action.aspx as `purepool frontend` does, on
// 127.0.0.1, until ctx ends.
func startFrontend(ctx context.Context, rm *projections.DB, pub *rabbitmq.Publisher) (string, error) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil)).With("role", "frontend")
	cfg := pphttp.Config{
		Networks:  map[string]pphttp.NetworkConfig{network: {PoolAddress: poolAddress}},
		RateLimit: 1 << 30, // the load comes from one address
	}
	reader := projections.NewReader(rm.SQL, rm.Dialect)
	dir := pphttp.NewDirectory(reader, pphttp.DirectoryConfig{Networks: []string{network}, Logger: log})
	broker := pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() })
	health := pphttp.AllHealthy(broker, dir)
	action, err := pphttp.NewActionHandler(cfg, dir, health, pub, log)
	if err != nil {
		return "", err
	}
	srv := &pphttp.Server{Action: action, Logger: log, ShutdownTimeout: time.Second}
	addr, err := srv.Listen("127.0.0.1:0", nil)
	if err != nil {
		return "", err
	}
	go func() { _ = srv.Run(ctx) }()
	return addr.String(), nil
}

// startBare serves answer as the frontend sends it: status 200 with the
// same headers (Connection: close, Content-Type, an X-Request-Id of the
// same length) and body.
func startBare(answer []byte) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Connection"] = []string{"close"}
		h["Content-Type"] = []string{"text/html; charset=utf-8"}
		h["X-Request-Id"] = []string{"0123abcd-1234567"}
		_, _ = w.Write(answer)
	}), MaxHeaderBytes: pphttp.ServerMaxHeaderBytes(pphttp.DefaultMaxHeaderBytes)}
	go func() { _ = srv.Serve(ln) }()
	return ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// sample is the frontend's answer body to req, which must be a success.
func sample(addr string, req []byte) ([]byte, error) {
	buf := make([]byte, 8192)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		return nil, err
	}
	all, err := io.ReadAll(io.LimitReader(c, int64(len(buf))))
	if err != nil {
		return nil, err
	}
	_, body, ok := bytes.Cut(all, []byte("\r\n\r\n"))
	if !ok || !bytes.HasPrefix(all, []byte("HTTP/1.1 200 ")) || bytes.Contains(body, []byte("<ERROR>")) {
		return nil, fmt.Errorf("the frontend did not answer with work: %q", all)
	}
	return body, nil
}

// queuePurger empties the commands queue between rounds.
type queuePurger struct {
	conn  *amqp.Connection
	ch    *amqp.Channel
	queue string
}

func purger(e *env) (*queuePurger, error) {
	conn, err := amqp.Dial(e.amqpURL)
	if err != nil {
		return nil, fmt.Errorf("benchfrontend: RabbitMQ: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("benchfrontend: RabbitMQ: %w", err)
	}
	return &queuePurger{conn: conn, ch: ch, queue: e.topology.Queue}, nil
}

func (p *queuePurger) run() { _, _ = p.ch.QueuePurge(p.queue, false) }

func (p *queuePurger) Close() error { return errors.Join(p.ch.Close(), p.conn.Close()) }
