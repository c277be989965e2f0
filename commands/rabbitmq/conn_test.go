package rabbitmq_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

// secret is the password in the URLs of these tests: it must never show in
// an error or a log.
const secret = "s3cr3t-pw"

// A list of broker URLs is checked when the Publisher or Consumer is made,
// and its errors say which item is wrong without quoting it.
func TestConnURLListRejectsBadItems(t *testing.T) {
	good := "amqp://pool:" + secret + "@h1:5672/v"
	cases := []struct {
		name, url, want string
	}{
		{"empty", "", "broker URL is empty"},
		{"empty item", good + ",,amqp://pool:" + secret + "@h3:5672/v", "broker URL 2 of 3 is empty"},
		{"trailing comma", good + ",", "broker URL 2 of 2 is empty"},
		{"http scheme", good + ",http://pool:" + secret + "@h2:15672/", "broker URL 2 of 2: AMQP scheme must be"},
		{"no scheme", "pool:" + secret + "@h1:5672", "broker URL: AMQP scheme must be"},
		{"bad port", good + ",amqp://pool:" + secret + "@h2:port/v", "broker URL 2 of 2: "},
		{"unescaped password", "amqp://pool:a/b#c" + secret + "@h1/v", "percent-encoded"},
		{"password with a slash", "amqp://pool:" + secret + "/x@h1/v", "broker URL: not a valid URL"},
		{"password with a comma", "amqp://pool:" + secret + ",x@h1/v", "broker URL 1 of 2: not a valid URL"},
	}
	top := rabbitmq.DefaultTopology()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, perr := rabbitmq.NewPublisher(rabbitmq.Config{URL: c.url, Topology: top, Logger: quiet})
			_, cerr := rabbitmq.NewConsumer(rabbitmq.Config{URL: c.url, Topology: top, Logger: quiet})
			for _, err := range []error{perr, cerr} {
				if err == nil {
					t.Fatalf("%q accepted", c.url)
				}
				if !strings.Contains(err.Error(), c.want) {
					t.Errorf("error %q does not say %q", err, c.want)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error shows the password: %q", err)
				}
			}
		})
	}
}

// Well-formed lists are accepted, spaces around the commas included, and
// nothing connects until asked.
func TestConnURLListAccepted(t *testing.T) {
	for _, u := range []string{
		"amqp://pool:" + secret + "@h1:5672/v",
		"amqp://pool:" + secret + "@h1:5672/v,amqps://pool:" + secret + "@h2:5671/v",
		"amqp://pool:" + secret + "@h1/v, amqp://pool:" + secret + "@h2/v ,amqp://pool:a%2Cb@h3/v",
	} {
		c, err := rabbitmq.NewConsumer(rabbitmq.Config{URL: u, Topology: rabbitmq.DefaultTopology(), Logger: quiet})
		if err != nil || c == nil {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// fakeNodes maps made-up host names to the shared broker (alive) or to
// nothing (dead), and records which node each connection went to.
type fakeNodes struct {
	target string // host:port of the real broker
	mu     sync.Mutex
	dead   map[string]bool
	tried  []string
	conns  []net.Conn
}

func (f *fakeNodes) dial(network, addr string) (net.Conn, error) {
	f.mu.Lock()
	f.tried = append(f.tried, addr)
	dead := f.dead[addr]
	f.mu.Unlock()
	if dead {
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
	}
	c, err := net.DialTimeout(network, f.target, 5*time.Second)
	if err == nil {
		f.mu.Lock()
		f.conns = append(f.conns, c)
		f.mu.Unlock()
	}
	return c, err
}

func (f *fakeNodes) setDead(addr string, dead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead[addr] = dead
}

// cutAll closes every connection made so far, as a node dying would.
func (f *fakeNodes) cutAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		_ = c.Close()
	}
	f.conns = nil
}

func (f *fakeNodes) triedSince(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.tried[n:]...)
}

// The Publisher and the Consumer skip a dead node of the list, and a
// reconnection starts at the node after the one it lost; with every node
// down the error names each node, without the password.
func TestConnFailsOverToTheNextNode(t *testing.T) {
	admin := testenv.RequireAMQP(t)
	uri, err := amqp.ParseURI(admin)
	if err != nil {
		t.Fatal(err)
	}
	top := newTopology(t, admin, 5)
	nodes := &fakeNodes{target: fmt.Sprintf("%s:%d", uri.Host, uri.Port), dead: map[string]bool{"node-a:5672": true}}
	var list []string
	for _, h := range []string{"node-a", "node-b", "node-c"} {
		list = append(list, fmt.Sprintf("amqp://%s:%s@%s:5672/%s", uri.Username, uri.Password, h, uri.Vhost))
	}
	cfg := rabbitmq.Config{URL: strings.Join(list, ","), Topology: top, Logger: quiet, Dial: nodes.dial,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	pub := newPublisher(t, cfg)
	if got := nodes.triedSince(0); strings.Join(got, " ") != "node-a:5672 node-b:5672" {
		t.Fatalf("first connection tried %v, want node-a (dead) then node-b", got)
	}
	if err := pub.Publish(ctx, testMessage()); err != nil {
		t.Fatal(err)
	}

	// node-b "dies": the publisher must go on with node-c, not node-a.
	nodes.setDead("node-b:5672", true)
	n := len(nodes.triedSince(0))
	nodes.cutAll()
	for pub.Connected() {
		time.Sleep(5 * time.Millisecond)
	}
	if err := pub.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := nodes.triedSince(n); len(got) == 0 || got[0] != "node-c:5672" {
		t.Fatalf("reconnection tried %v, want node-c first", got)
	}
	if err := pub.Publish(ctx, testMessage()); err != nil {
		t.Fatal(err)
	}

	// The consumer, on the same list, gets both messages.
	cons := newConsumer(t, cfg)
	got := make(chan struct{}, 2)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- cons.Consume(cctx, func(context.Context, commands.Message) error { got <- struct{}{}; return nil })
	}()
	for range 2 {
		select {
		case <-got:
		case <-ctx.Done():
			t.Fatal("the consumer did not get the messages")
		}
	}
	stop()
	<-done

	// Every node down: the publisher says so, naming the nodes only.
	nodes.setDead("node-c:5672", true)
	nodes.cutAll()
	var last error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if last = pub.Ready(); last != nil && strings.Contains(last.Error(), "none of the 3 broker nodes") {
			break
		}
	}
	if last == nil || !strings.Contains(last.Error(), "none of the 3 broker nodes") {
		t.Fatalf("with every node down, Ready() = %v", last)
	}
	for _, h := range []string{"node-a", "node-b", "node-c"} {
		if !strings.Contains(last.Error(), h) {
			t.Errorf("error does not name %s: %v", h, last)
		}
	}
	if uri.Password != "" && strings.Contains(last.Error(), ":"+uri.Password+"@") {
		t.Errorf("error shows the password: %v", last)
	}
	if err := pub.Publish(ctx, testMessage()); !errors.Is(err, rabbitmq.ErrNotConnected) {
		t.Fatalf("Publish with every node down = %v, want ErrNotConnected", err)
	}
}
