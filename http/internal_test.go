package http

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
)

type noMiners struct{}

func (noMiners) Miner(context.Context, string, string) (Miner, bool, error) {
	return Miner{}, false, nil
}

type acceptAll struct{}

func (acceptAll) Publish(context.Context, commands.Message) error { return nil }

// writeCounter counts the writes made on the connections it accepts.
type writeCounter struct {
	net.Listener
	mu     sync.Mutex
	writes []int // per connection, in accept order
}

type countedConn struct {
	net.Conn
	l *writeCounter
	i int
}

func (c countedConn) Write(b []byte) (int, error) {
	c.l.mu.Lock()
	c.l.writes[c.i]++
	c.l.mu.Unlock()
	return c.Conn.Write(b)
}

func (c countedConn) CloseWrite() error { return c.Conn.(*net.TCPConn).CloseWrite() }

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes = append(l.writes, 0)
	return countedConn{c, l, len(l.writes) - 1}, nil
}

// TestAnswerInOneWrite: the wallet's TLS reader may cut an answer that
// arrives in pieces (spec §1.3), so headers and body leave in one write.
func TestAnswerInOneWrite(t *testing.T) {
	pool := biblepay.Networks["main"].Address([20]byte{1})
	miner := biblepay.Networks["main"].Address([20]byte{2})
	action, err := NewActionHandler(Config{Networks: map[string]NetworkConfig{"main": {PoolAddress: pool}}}, noMiners{}, nil, acceptAll{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{Action: action}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counter := &writeCounter{Listener: ln}
	srv.listeners = []net.Listener{protocolListener{counter}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	for i, req := range []string{
		"Action: readytomine2\r\nMiner: " + miner + "\r\nNetworkID: main\r\nThreadID: 0\r\n",   // work
		"Action: readytomine2\r\nMiner: nobody\r\nNetworkID: main\r\n",                         // error
		"Action: solution\r\nMiner: " + miner + "\r\nNetworkID: main\r\n",                      // error
		"Action: solution\r\nMiner: " + strings.Repeat("x", 2<<20) + "\r\nNetworkID: main\r\n", // refused by net/http
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		go io.WriteString(c, "POST /Action.aspx HTTP/1.1\r\nHost: pool\r\nContent-Length: 12\r\n"+req+"\r\nreadytomine2")
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil || !strings.Contains(string(b), Terminator) {
			t.Fatalf("request %d: %q %v", i, b, err)
		}
		counter.mu.Lock()
		n := counter.writes[i]
		counter.mu.Unlock()
		if n != 1 {
			t.Errorf("request %d answered in %d writes, want 1", i, n)
		}
	}
}
