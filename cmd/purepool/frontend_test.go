package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

func TestFrontend_FlagErrors(t *testing.T) {
	pool := "main=" + biblepay.Networks["main"].Address([20]byte{1})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frontend"}, "-pool-address is required"},
		{[]string{"frontend", "-pool-address", pool}, "-amqp-url is required"},
		{[]string{"frontend", "-pool-address", pool, "-amqp-url", "amqp://x@127.0.0.1/"}, "-readmodel-url is required"},
		{[]string{"frontend", "-pool-address", "main"}, "not network=value"},
		{[]string{"frontend", "-pool-address", pool, "-amqp-url", "amqp://x@127.0.0.1/", "-readmodel-url", "sqlite:x", "-tls-listen", ":443"}, "-tls-listen needs"},
		{[]string{"frontend", "-pool-address", pool, "-default-target", "test=00", "-amqp-url", "amqp://x@127.0.0.1/", "-readmodel-url", "sqlite:x"}, "no -pool-address"},
	} {
		var out, errOut bytes.Buffer
		if code := Main(context.Background(), tc.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut.String(), tc.want)
		}
	}
}

// syncWriter collects the subcommand's log.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestFrontend_ServesWorkAndStops runs `purepool frontend` against a real
// broker and a SQLite read model, asks for work like a wallet, and stops it.
func TestFrontend_ServesWorkAndStops(t *testing.T) {
	url := testenv.RequireAMQP(t)
	conn, err := amqp.Dial(url)
	if err != nil {
		testenv.Unavailable(t, "RabbitMQ", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.UniqueName("pp_fe_cmd")
	top := rabbitmq.Topology{Exchange: p + ".x", Queue: p + ".q", DeadLetterExchange: p + ".dlx", DeadLetterQueue: p + ".dead"}
	if err := rabbitmq.DeclareTopology(ch, top); err != nil {
		t.Fatal(err)
	}
	defer rabbitmq.DeleteTopology(ch, top)

	ctx := context.Background()
	rmURL := "sqlite:" + filepath.Join(t.TempDir(), "readmodel.db")
	rm, err := projections.OpenURL(ctx, rmURL)
	if err != nil {
		t.Fatal(err)
	}
	if err := rm.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rm.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	pool := biblepay.Networks["test"].Address([20]byte{1})
	miner := biblepay.Networks["test"].Address([20]byte{2})
	runCtx, stop := context.WithCancel(ctx)
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() {
		done <- Main(runCtx, []string{"frontend", "-listen", addr, "-pool-address", "test=" + pool,
			"-amqp-url", url, "-amqp-exchange", top.Exchange, "-readmodel-url", rmURL}, io.Discard, logs)
	}()
	var answer string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			continue
		}
		io.WriteString(c, "POST /Action.aspx HTTP/1.1\r\nUser-Agent: BiblePay-QT/1.1.4.1\r\nHost: pool\r\nContent-Length: 12\r\n"+
			"Action: readytomine2\r\nAgent: 1.1.4.1\r\nMiner: "+miner+"\r\nNetworkID: test\r\nOS: LIN\r\nSolution: \r\nThreadID: 0\r\n\r\nreadytomine2")
		b, _ := io.ReadAll(c)
		c.Close()
		answer = string(b)
		if strings.Contains(answer, "<WORKID>") {
			break
		}
	}
	if got := biblepay.ExtractXML(answer, "<ADDRESS>", "</ADDRESS>"); got != pool {
		t.Errorf("no work from the frontend: %q\nlog: %s", answer, logs.String())
	}
	if d, ok, err := ch.Get(top.Queue, true); err != nil || !ok || d.Type != "IssueWork" {
		t.Errorf("queue: %v %v %s", ok, err, d.Type)
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d after the signal; log: %s", code, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("frontend did not stop")
	}
}
