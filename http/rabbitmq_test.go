package http_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	pphttp "github.com/purepool/purepool/http"
	"github.com/purepool/purepool/internal/testenv"
)

// brokerTopology declares a fresh command topology on the real broker.
func brokerTopology(t *testing.T) (string, rabbitmq.Topology, *amqp.Channel) {
	t.Helper()
	url := testenv.RequireAMQP(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.UniqueName("pp_frontend")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead"}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rabbitmq.DeleteTopology(ch, top) })
	return url, top, ch
}

// queued takes the commands waiting in the queue.
func queued(t *testing.T, ch *amqp.Channel, queue string) []commands.Command {
	t.Helper()
	var out []commands.Command
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		id, _ := uuid.Parse(d.MessageId)
		c, err := commands.Decode(commands.Message{ID: id, Name: d.Type, Body: d.Body})
		if err != nil {
			t.Fatalf("queued message %s: %v", d.MessageId, err)
		}
		out = append(out, c)
	}
}

// holdCutDialer dials the broker through connections whose incoming bytes
// can be held back (the broker's confirm never arrives) and then cut.
type holdCutDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	held  atomic.Bool
	cut   atomic.Bool
}

type holdCutConn struct {
	net.Conn
	d *holdCutDialer
}

func (c holdCutConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	for c.d.held.Load() && !c.d.cut.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	if c.d.cut.Load() {
		return 0, net.ErrClosed
	}
	return n, err
}

func (d *holdCutDialer) dial(network, addr string) (net.Conn, error) {
	if d.cut.Load() {
		return nil, net.ErrClosed // the broker stays unreachable
	}
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return holdCutConn{c, d}, nil
}

func (d *holdCutDialer) cutAll() {
	d.cut.Store(true)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}

// publisherHealth reports the publisher's connection as the frontend's cmd does.
func publisherHealth(p *rabbitmq.Publisher) pphttp.Health {
	return pphttp.HealthFunc(func(ctx context.Context, _ string) error {
		ctx, cancel := context.WithCancel(ctx)
		cancel() // only ask whether it is connected now
		return p.WaitReady(ctx)
	})
}

func newBrokerPublisher(t *testing.T, cfg rabbitmq.Config, wait bool) *rabbitmq.Publisher {
	t.Helper()
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.ReconnectMin, cfg.ReconnectMax = 50*time.Millisecond, 200*time.Millisecond
	p, err := rabbitmq.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if wait {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := p.WaitReady(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestBroker_WorkAndSolutionReachTheQueue(t *testing.T) {
	url, top, ch := brokerTopology(t)
	pub := newBrokerPublisher(t, rabbitmq.Config{URL: url, Topology: top}, true)
	f := newFixture(t, withPublisher(pub))
	w := mustWork(t, post(t, f.addr, readyToMine(mainMiner+"/rig", "main")))
	sol := shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()
	a := post(t, f.addr, solutionRequest(mainMiner+"/rig", "main", sol))
	if a.Error != "" || a.Response != "<STATUS>ok</STATUS><WORKID>"+w.WorkID+"</WORKID>" {
		t.Fatalf("solution answered %q", a.Raw)
	}
	// Both commands were confirmed before the answers, so they are queued now.
	cmds := queued(t, ch, top.Queue)
	if len(cmds) != 2 {
		t.Fatalf("queue holds %d commands, want IssueWork and SubmitSolution", len(cmds))
	}
	iw, ok1 := cmds[0].(commands.IssueWork)
	ss, ok2 := cmds[1].(commands.SubmitSolution)
	if !ok1 || !ok2 || iw.WorkID.String() != w.WorkID || ss.Solution != sol || ss.Worker != "rig" {
		t.Errorf("queued %+v", cmds)
	}
}

func TestBroker_DownAtTheMomentOfASolution(t *testing.T) {
	url, top, ch := brokerTopology(t)
	var d holdCutDialer
	pub := newBrokerPublisher(t, rabbitmq.Config{URL: url, Topology: top, Dial: d.dial}, true)
	f := newFixture(t, withPublisher(pub))
	w := mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main")))
	queued(t, ch, top.Queue)

	// The broker's confirm never comes: the solution waits for it, then the
	// connection is lost.
	d.held.Store(true)
	got := make(chan walletAnswer, 1)
	go func() {
		a, err := tryPost(f.addr, solutionRequest(mainMiner, "main", shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()))
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	select {
	case a := <-got:
		t.Fatalf("answered %q before the broker confirmed", a.Raw)
	case <-time.After(300 * time.Millisecond):
	}
	d.cutAll()
	a := <-got
	if a.Error != "HEALTH_DOWN" || strings.Contains(a.Raw, "<STATUS>ok") {
		t.Errorf("solution whose confirm was lost answered %q", a.Raw)
	}
	// While the broker is unreachable, every request is refused at once.
	for _, q := range []walletRequest{
		readyToMine(mainMiner, "main"),
		solutionRequest(mainMiner, "main", shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()),
	} {
		if a := post(t, f.addr, q); a.Error != "HEALTH_DOWN" {
			t.Errorf("%s with the broker unreachable answered %q", q.Action, a.Raw)
		}
	}
	if !strings.Contains(f.logs.String(), "rabbitmq") {
		t.Error("the publish failures are not logged")
	}
}

func TestBroker_ClosedPort(t *testing.T) {
	_, top, _ := brokerTopology(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there
	pub := newBrokerPublisher(t, rabbitmq.Config{URL: "amqp://guest:guest@" + addr + "/", Topology: top}, false)
	f := newFixture(t, withPublisher(pub))
	for _, q := range []walletRequest{
		readyToMine(mainMiner, "main"),
		solutionRequest(mainMiner, "main", shareOf(t, "main", mainMiner, uuid.New()).String()),
	} {
		a := post(t, f.addr, q)
		if a.Error != "HEALTH_DOWN" || strings.Contains(a.Raw, "<STATUS>ok") || strings.Contains(a.Raw, "<WORKID>") {
			t.Errorf("%s with no broker answered %q", q.Action, a.Raw)
		}
	}

	// With the publisher's state as Health, /healthz says so too.
	action, err := pphttp.NewActionHandler(testConfig(), newMemDirectory(), publisherHealth(pub), pub, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := &pphttp.Server{Action: action, Logger: slog.New(slog.NewTextHandler(logs, nil))}
	bound, err := srv.Listen("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if h, err := tryGet(bound.String(), "/healthz"); err != nil || h.status != 503 || !strings.Contains(h.body, `"main":"down"`) {
		t.Errorf("healthz with no broker: %d %q %v", h.status, h.body, err)
	}
	if !strings.Contains(logs.String(), `msg="network cannot take work" network=main error="rabbitmq:`) {
		t.Errorf("the reason is not logged: %s", logs.String())
	}
	if a := post(t, bound.String(), readyToMine(mainMiner, "main")); a.Error != "HEALTH_DOWN" {
		t.Errorf("answered %q", a.Raw)
	}
}
