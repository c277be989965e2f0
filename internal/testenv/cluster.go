package testenv

// A private RabbitMQ cluster: several private nodes (see PrivateRabbitMQ)
// on this machine, sharing an Erlang cookie of their own and joined with
// rabbitmqctl join_cluster. The shared node never takes part: a different
// cookie keeps it out even by mistake.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// PrivateRabbitMQCluster is a RabbitMQ cluster of one test. Its nodes are
// ordinary PrivateRabbitMQ nodes: the test may Stop, Crash and Start each.
type PrivateRabbitMQCluster struct {
	Nodes []*PrivateRabbitMQ
}

// NewPrivateRabbitMQCluster boots n private nodes at once and joins nodes
// 2..n to node 1. It reports the service unavailable (skip, or fail under
// PUREPOOL_REQUIRE_SERVICES=1) when RabbitMQ is not installed.
//
// Booting costs what one node costs times the load the machine is under
// (the nodes boot in parallel), and each join four rabbitmqctl calls.
func NewPrivateRabbitMQCluster(tb testing.TB, n int) *PrivateRabbitMQCluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("private rabbitmq cluster: %d nodes", n)
	}
	cookie := randomCookie()
	c := &PrivateRabbitMQCluster{}
	for range n {
		c.Nodes = append(c.Nodes, newPrivateRabbitMQ(tb, cookie))
	}
	began := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range c.Nodes {
		wg.Go(func() { errs[i] = r.boot() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("private rabbitmq cluster: %v", err)
	}
	booted := time.Since(began)

	began = time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	seed := c.Nodes[0].node
	for _, r := range c.Nodes[1:] {
		// rabbitmqctl stop_app, reset, join_cluster seed and start_app, in
		// one CLI call (the functions those commands call): each CLI call
		// boots an Erlang VM, 10 s and more on a busy machine.
		join := fmt.Sprintf("ok = rabbit:stop(), ok = rabbit_mnesia:reset(), "+
			"ok = rabbit_mnesia:join_cluster('%s', disc), ok = rabbit:start().", seed)
		// A failed match makes eval exit non-zero; cluster_status below
		// checks the outcome.
		if out, err := r.Ctl(ctx, "eval", join); err != nil {
			tb.Fatalf("private rabbitmq cluster: %s: join %s: %v: %s", r.node, seed, err, out)
		}
		if err := r.awaitAMQP(); err != nil {
			tb.Fatalf("private rabbitmq cluster: %s after joining: %v", r.node, err)
		}
	}
	running, err := c.Nodes[0].RunningNodes(ctx)
	if err != nil {
		tb.Fatalf("private rabbitmq cluster: %v", err)
	}
	if want := c.NodeNames(); !sameSet(running, want) {
		tb.Fatalf("private rabbitmq cluster: running nodes %v, want %v", running, want)
	}
	tb.Logf("private RabbitMQ cluster of %d nodes (%s): boot %s, join %s",
		n, c.URLs(), booted.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return c
}

// randomCookie is an Erlang cookie for one cluster.
func randomCookie() string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return string(b)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// URLs is the comma-separated list of the nodes' AMQP URLs (as guest), the
// form rabbitmq.Config.URL accepts for a cluster.
func (c *PrivateRabbitMQCluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		urls[i] = r.URL()
	}
	return strings.Join(urls, ",")
}

// NodeNames are the nodes' Erlang node names, in order.
func (c *PrivateRabbitMQCluster) NodeNames() []string {
	names := make([]string, len(c.Nodes))
	for i, r := range c.Nodes {
		names[i] = r.node
	}
	return names
}

// Node returns the node named name (e.g. a queue's leader), or nil.
func (c *PrivateRabbitMQCluster) Node(name string) *PrivateRabbitMQ {
	for _, r := range c.Nodes {
		if r.node == name {
			return r
		}
	}
	return nil
}

// Name is the node's Erlang node name (pptest_…@localhost).
func (r *PrivateRabbitMQ) Name() string { return r.node }

// Port is the node's AMQP port on 127.0.0.1.
func (r *PrivateRabbitMQ) Port() int { return r.port }

// Running reports whether the node's process is up (it may still boot).
func (r *PrivateRabbitMQ) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.proc != nil && r.proc.running()
}

// awaitAMQP waits until the running node accepts AMQP again (after
// rabbitmqctl start_app).
func (r *PrivateRabbitMQ) awaitAMQP() error {
	r.mu.Lock()
	proc := r.proc
	r.mu.Unlock()
	if proc == nil {
		return errors.New("not running")
	}
	return r.awaitReady(proc)
}

// Queues runs rabbitmq-queues against the node (e.g. "quorum_status", q).
func (r *PrivateRabbitMQ) Queues(ctx context.Context, args ...string) (string, error) {
	return r.cli(ctx, "rabbitmq-queues", args...)
}

func (r *PrivateRabbitMQ) cli(ctx context.Context, tool string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(r.bin, tool), append([]string{"-n", r.node}, args...)...)
	cmd.Dir = r.dir
	cmd.Env = r.environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// RunningNodes lists the cluster's running nodes as this node sees them.
func (r *PrivateRabbitMQ) RunningNodes(ctx context.Context) ([]string, error) {
	out, err := r.Ctl(ctx, "cluster_status", "--formatter", "json")
	if err != nil {
		return nil, err
	}
	var st struct {
		RunningNodes []string `json:"running_nodes"`
	}
	if err := json.Unmarshal([]byte(jsonPart(out)), &st); err != nil {
		return nil, fmt.Errorf("cluster_status: %w: %s", err, out)
	}
	return st.RunningNodes, nil
}

// QuorumMember is one member of a quorum queue's Raft group.
type QuorumMember struct {
	Node  string // Erlang node name
	State string // leader, follower, candidate, noproc, …
}

// QuorumStatus asks the node for the Raft members of a quorum queue (of
// the default vhost): rabbitmq-queues quorum_status.
func (r *PrivateRabbitMQ) QuorumStatus(ctx context.Context, queue string) ([]QuorumMember, error) {
	out, err := r.Queues(ctx, "quorum_status", queue, "--formatter", "json")
	if err != nil {
		return nil, err
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(jsonPart(out)), &rows); err != nil {
		return nil, fmt.Errorf("quorum_status: %w: %s", err, out)
	}
	members := make([]QuorumMember, 0, len(rows))
	for _, row := range rows {
		node, _ := row["Node Name"].(string)
		state, _ := row["Raft State"].(string)
		members = append(members, QuorumMember{Node: node, State: state})
	}
	return members, nil
}

// QuorumLeader is the node leading a quorum queue, as node r sees it.
func (r *PrivateRabbitMQ) QuorumLeader(ctx context.Context, queue string) (string, error) {
	members, err := r.QuorumStatus(ctx, queue)
	if err != nil {
		return "", err
	}
	for _, m := range members {
		if m.State == "leader" {
			return m.Node, nil
		}
	}
	return "", fmt.Errorf("queue %s has no leader now: %v", queue, members)
}

// jsonPart drops what the CLI prints before its JSON (a banner line).
func jsonPart(out string) string {
	if i := strings.IndexAny(out, "[{"); i >= 0 {
		return out[i:]
	}
	return out
}
