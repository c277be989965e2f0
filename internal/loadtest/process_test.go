package loadtest

import (
	"net"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBinaries()
	os.Exit(code)
}

// childProcess is a purepool role (`purepool backend`, `purepool
// simnode`) running as a child process, apart from the load generator.
type childProcess struct {
	*testenv.Process
	name string
	logs *levelCounter
	once sync.Once
}

func startChild(t testing.TB, name string, logs *levelCounter, args ...string) *childProcess {
	t.Helper()
	p := &childProcess{Process: testenv.StartProcess(t, name, nil, testenv.PurepoolBinary(t), args...), name: name, logs: logs}
	t.Cleanup(p.stop)
	return p
}

// startBackendProcess starts `purepool backend` consuming the load's queue
// with workers handlers.
func startBackendProcess(t testing.TB, storeURL, amqpURL, queue, pool string, node nodeEnd, workers int, logs *levelCounter) *childProcess {
	return startChild(t, "backend", logs, "backend", "--store", storeURL, "--amqp-url", amqpURL, "--amqp-queue", queue,
		"--network", network, "--pool-address", pool, "--node-url", node.url, "--node-user", node.user, "--node-password", node.password,
		"--follow-from", "1", "--stale-tolerance", "1", "--consumers", strconv.Itoa(workers), "--payout-interval", "0",
		"--poll-interval", "1s", "--log-format", "text")
}

// nodeEnd is where a node answers RPC.
type nodeEnd struct{ url, user, password string }

// startNodeProcess starts `purepool simnode` (blocks only on submitblock)
// on a free loopback port.
func startNodeProcess(t testing.TB, logs *levelCounter) (*childProcess, nodeEnd) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	end := nodeEnd{url: "http://" + addr, user: "load", password: "load"}
	p := startChild(t, "simnode", logs, "simnode", "--network", network, "--seed", "11", "--manual", "--listen", addr,
		"--rpcuser", end.user, "--rpcpassword", end.password)
	return p, end
}

var logLine = regexp.MustCompile(`level=(WARN|ERROR) msg="?([^"]*?)"? [a-z_]+=`)

// stop ends the process (SIGTERM, then SIGKILL) and counts its warnings
// and errors.
func (p *childProcess) stop() {
	p.once.Do(func() {
		_ = p.Stop(30 * time.Second)
		p.EachLine(func(line string) bool {
			if m := logLine.FindStringSubmatch(line); m != nil {
				p.logs.count(p.name+" process: "+m[1]+" "+m[2], line)
			}
			return true
		})
	})
}
