package resilience_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
)

// clusterLedger records, with times, what the cluster test's publishers
// and consumer did.
type clusterLedger struct {
	mu        sync.Mutex
	published map[uuid.UUID]time.Time // confirmed: when Publish began
	seen      map[uuid.UUID]int
	failures  map[string]int // failed Publish calls by kind

	killedAt time.Time // zero until the leader is killed
	// After the kill: the first Publish that began after it and returned
	// nil (when it returned), per publisher; the first delivery of any
	// command; the first delivery of a command published after it.
	firstPubAfter   map[string]time.Time
	firstDelivAfter time.Time
	firstNewDeliv   time.Time
	confirmedAfter  map[string]int
}

func newClusterLedger() *clusterLedger {
	return &clusterLedger{published: map[uuid.UUID]time.Time{}, seen: map[uuid.UUID]int{}, failures: map[string]int{},
		firstPubAfter: map[string]time.Time{}, confirmedAfter: map[string]int{}}
}

func (l *clusterLedger) kill(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killedAt = at
}

func (l *clusterLedger) publishDone(pub string, id uuid.UUID, began time.Time, err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failures[failureKind(err)]++
		return
	}
	l.published[id] = began
	if !l.killedAt.IsZero() && began.After(l.killedAt) {
		l.confirmedAfter[pub]++
		if l.firstPubAfter[pub].IsZero() {
			l.firstPubAfter[pub] = now
		}
	}
}

func (l *clusterLedger) delivered(id uuid.UUID) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen[id]++
	if l.killedAt.IsZero() {
		return
	}
	if l.firstDelivAfter.IsZero() {
		l.firstDelivAfter = now
	}
	if began, ok := l.published[id]; ok && began.After(l.killedAt) && l.firstNewDeliv.IsZero() {
		l.firstNewDeliv = now
	}
}

// failureKind classes a Publish error for the report.
func failureKind(err error) string {
	switch {
	case errors.Is(err, rabbitmq.ErrNotConnected):
		return "not connected"
	case errors.Is(err, rabbitmq.ErrConfirmLost):
		return "confirm lost"
	case errors.Is(err, rabbitmq.ErrNacked):
		return "nacked"
	case errors.Is(err, context.DeadlineExceeded):
		return "confirm timeout"
	default:
		return "other: " + err.Error()
	}
}

func (l *clusterLedger) confirmed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.published)
}

func (l *clusterLedger) confirmedAfterKill(pub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.confirmedAfter[pub]
}

func (l *clusterLedger) missing() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for id := range l.published {
		if l.seen[id] == 0 {
			n++
		}
	}
	return n
}

// healthProbe polls the frontend's /healthz, wired to a Publisher the way
// app/roles.go wires it (Publisher.Ready), and records when it went down
// and up again after the kill.
type healthProbe struct {
	mu         sync.Mutex
	downAt     time.Time
	upAt       time.Time
	downChecks int
}

func startHealthProbe(t *testing.T, ctx context.Context, pub *rabbitmq.Publisher, l *clusterLedger) *healthProbe {
	t.Helper()
	health := pphttp.HealthFunc(func(context.Context, string) error { return pub.Ready() })
	action, err := pphttp.NewActionHandler(pphttp.Config{
		Networks: map[string]pphttp.NetworkConfig{"main": {PoolAddress: "B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH"}},
	}, noMiners{}, health, pub, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := (&pphttp.Server{Action: action}).Handler()
	h := &healthProbe{}
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	wg.Go(func() {
		for ctx.Err() == nil {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			now := time.Now()
			l.mu.Lock()
			killed := !l.killedAt.IsZero()
			l.mu.Unlock()
			h.mu.Lock()
			switch {
			case !killed:
			case rec.Code != http.StatusOK:
				h.downChecks++
				if h.downAt.IsZero() {
					h.downAt = now
				}
			case !h.downAt.IsZero() && h.upAt.IsZero():
				h.upAt = now
			}
			h.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	})
	return h
}

// noMiners: every miner is new (the health probe never asks).
type noMiners struct{}

func (noMiners) Miner(context.Context, string, string) (pphttp.Miner, bool, error) {
	return pphttp.Miner{}, false, nil
}

// rotate returns the comma-separated URLs of the cluster's nodes, starting
// with first: where a client connects first.
func rotate(c *testenv.PrivateRabbitMQCluster, first string) string {
	var urls []string
	i := slices.IndexFunc(c.Nodes, func(r *testenv.PrivateRabbitMQ) bool { return r.Name() == first })
	for k := range c.Nodes {
		urls = append(urls, c.Nodes[(i+k)%len(c.Nodes)].URL())
	}
	return strings.Join(urls, ",")
}

// TestPrivateRabbitMQClusterLeaderKill runs the command bus on a
// three-node RabbitMQ cluster of its own and SIGKILLs the node leading the
// command queue under load.
//
// The command queue is a quorum queue replicated on all three nodes. Two
// Publishers (two frontends, eight goroutines each) and a Consumer (four
// workers) list all three nodes: publisher "leader" and the consumer start
// at the leader's node, publisher "follower" at another node, so the kill
// takes down the connections of the one and only the queue's leader from
// under the other.
//
// A channel that first publishes to the queue during the election (the
// publisher on the dead node reconnects within milliseconds) was nacked by
// RabbitMQ 3.10 for every later publish, for good; the Publisher therefore
// reopens a channel after a nack (without that, this test fails: the
// publisher on the dead node gets nacks until the end).
//
// It asserts: every command whose Publish returned nil is consumed at
// least once (duplicates counted, allowed); both publishers confirm again
// after the kill and the consumer receives what they publish, with no
// restart of anything (the two surviving nodes are a majority of three).
// It reports how long that took and what the frontend's /healthz showed.
func TestPrivateRabbitMQClusterLeaderKill(t *testing.T) {
	if !stress() {
		t.Skipf("boots a three-node RabbitMQ cluster (1 to 3 minutes); set %s=1", stressEnv)
	}
	t.Parallel()
	cluster := testenv.NewPrivateRabbitMQCluster(t, 3)
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()

	top := declareTopology(t, cluster.Nodes[0].URL())
	members, err := cluster.Nodes[0].QuorumStatus(ctx, top.Queue)
	if err != nil {
		t.Fatal(err)
	}
	var nodes []string
	leader := ""
	for _, m := range members {
		nodes = append(nodes, m.Node)
		if m.State == "leader" {
			leader = m.Node
		}
	}
	slices.Sort(nodes)
	want := cluster.NodeNames()
	slices.Sort(want)
	if !slices.Equal(nodes, want) || leader == "" {
		t.Fatalf("quorum queue members %v, want a leader and all of %v", members, want)
	}
	follower := ""
	for _, n := range cluster.NodeNames() {
		if n != leader {
			follower = n
			break
		}
	}
	t.Logf("command queue %s: members %v, leader %s", top.Queue, members, leader)

	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	base := rabbitmq.Config{Topology: top, Logger: quiet, ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 500 * time.Millisecond, RedeliveryDelay: 10 * time.Millisecond}
	l := newClusterLedger()

	consCfg := base
	consCfg.URL, consCfg.Name, consCfg.Workers = rotate(cluster, leader), "cluster-consumer", 4
	cons, err := rabbitmq.NewConsumer(consCfg)
	if err != nil {
		t.Fatal(err)
	}
	consCtx, stopCons := context.WithCancel(ctx)
	var consuming sync.WaitGroup
	t.Cleanup(func() { stopCons(); consuming.Wait() })
	consuming.Go(func() {
		_ = cons.Consume(consCtx, func(_ context.Context, m commands.Message) error {
			l.delivered(m.ID)
			return nil
		})
	})

	var stop atomic.Bool
	var publishing sync.WaitGroup
	t.Cleanup(func() { stop.Store(true); publishing.Wait() })
	pubs := map[string]*rabbitmq.Publisher{}
	for name, first := range map[string]string{"leader": leader, "follower": follower} {
		cfg := base
		cfg.URL, cfg.Name = rotate(cluster, first), "cluster-"+name
		pub, err := rabbitmq.NewPublisher(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pub.Close() })
		if err := pub.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
		pubs[name] = pub
		for g := range 8 {
			publishing.Go(func() {
				for seq := 0; !stop.Load(); seq++ {
					body, _ := json.Marshal(map[string]any{"pub": name, "g": g, "seq": seq})
					msg := commands.Message{ID: uuid.New(), Name: "ClusterProbe", Body: body}
					began := time.Now()
					pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
					err := pub.Publish(pctx, msg)
					cancel()
					l.publishDone(name, msg.ID, began, err)
					if err != nil {
						time.Sleep(10 * time.Millisecond) // fails fast while disconnected
					}
				}
			})
		}
	}
	health := map[string]*healthProbe{}
	for name, pub := range pubs {
		health[name] = startHealthProbe(t, ctx, pub, l)
	}

	waitFor(t, 2*time.Minute, "1000 confirmed publishes before the kill", func() bool { return l.confirmed() >= 1000 })
	before := l.confirmed()
	// Times are measured from the moment Crash returns: the node's VM is
	// gone by then, and the kernel has closed its sockets.
	began := time.Now()
	cluster.Node(leader).Crash()
	killedAt := time.Now()
	killTook := killedAt.Sub(began)
	l.kill(killedAt)

	// Progress every 10 s, for the log of a run that does not recover.
	progressCtx, stopProgress := context.WithCancel(ctx)
	var progressing sync.WaitGroup
	progressing.Go(func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-progressCtx.Done():
				return
			case <-tick.C:
			}
			l.mu.Lock()
			line := fmt.Sprintf("%s after the kill: confirmed after it %v, failures %v, seen %d",
				time.Since(killedAt).Round(time.Second), l.confirmedAfter, l.failures, len(l.seen))
			l.mu.Unlock()
			t.Logf("%s; ready: leader=%v follower=%v", line, pubs["leader"].Ready(), pubs["follower"].Ready())
		}
	})
	defer func() { stopProgress(); progressing.Wait() }()
	for _, name := range []string{"leader", "follower"} {
		waitFor(t, 3*time.Minute, "500 confirmed publishes by publisher "+name+" after the kill",
			func() bool { return l.confirmedAfterKill(name) >= 500 })
	}
	stop.Store(true)
	publishing.Wait()
	// Lost commands are counted below rather than failing here.
	for deadline := time.Now().Add(3 * time.Minute); l.missing() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	stopCons()
	consuming.Wait()

	// The survivors elected a new leader among themselves.
	var newLeader string
	var after []testenv.QuorumMember
	if r := cluster.Node(follower); r != nil {
		after, _ = r.QuorumStatus(ctx, top.Queue)
		for _, m := range after {
			if m.State == "leader" {
				newLeader = m.Node
			}
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	duplicates, unconfirmedSeen, lost := 0, 0, 0
	for id := range l.published {
		if l.seen[id] == 0 {
			lost++
		}
	}
	for id, n := range l.seen {
		duplicates += n - 1
		if _, ok := l.published[id]; !ok {
			unconfirmedSeen++ // a Publish that failed, yet the broker had it
		}
	}
	since := func(at time.Time) string {
		if at.IsZero() {
			return "never"
		}
		return at.Sub(killedAt).Round(time.Millisecond).String()
	}
	t.Logf("killed leader %s (Crash took %s) after %d confirmed publishes; new leader %s; members now %v",
		leader, killTook.Round(time.Millisecond), before, newLeader, after)
	t.Logf("kill -> first confirmed publish begun after it: publisher on the leader's node %s, on a follower's node %s",
		since(l.firstPubAfter["leader"]), since(l.firstPubAfter["follower"]))
	t.Logf("kill -> first delivery: %s; first delivery of a command published after the kill: %s",
		since(l.firstDelivAfter), since(l.firstNewDeliv))
	for _, name := range []string{"leader", "follower"} {
		h := health[name]
		h.mu.Lock()
		t.Logf("/healthz of a frontend connected to the %s's node: down %s, up again %s after the kill (%d checks answered 503)",
			name, since(h.downAt), since(h.upAt), h.downChecks)
		h.mu.Unlock()
	}
	t.Logf("commands: %d confirmed, %d consumed (distinct), %d lost, %d duplicate deliveries, %d delivered though their Publish failed; failed publishes: %v",
		len(l.published), len(l.seen), lost, duplicates, unconfirmedSeen, l.failures)
	if lost > 0 {
		t.Fatalf("%d confirmed commands never consumed", lost)
	}
}
