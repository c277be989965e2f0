package loadtest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// purepoolBinary builds ./cmd/purepool once per test binary run, into a
// directory removed when the test ends.
func purepoolBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "purepool-load-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "purepool")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/purepool/purepool/cmd/purepool").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(binPath)) })
	return binPath
}

// childProcess is a purepool role (`purepool backend`, `purepool
// simnode`) running as a child process, apart from the load generator.
type childProcess struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	logs *levelCounter
	once sync.Once
}

// startChild starts `purepool args...`, its warnings and errors counted
// into logs when it stops.
func startChild(t testing.TB, name string, logs *levelCounter, args ...string) *childProcess {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(purepoolBinary(t), args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &childProcess{name: name, cmd: cmd, log: logPath, done: make(chan struct{}), logs: logs}
	go func() { p.err = cmd.Wait(); lf.Close(); close(p.done) }()
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

func (p *childProcess) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// CPU is the process's CPU time so far (user + system, from /proc).
func (p *childProcess) CPU() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}

var logLine = regexp.MustCompile(`level=(WARN|ERROR) msg="?([^"]*?)"? [a-z_]+=`)

// stop ends the process (SIGTERM, then SIGKILL) and counts its warnings
// and errors.
func (p *childProcess) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		f, err := os.Open(p.log)
		if err != nil {
			return
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if m := logLine.FindStringSubmatch(sc.Text()); m != nil {
				p.logs.count(p.name+" process: "+m[1]+" "+m[2], sc.Text())
			}
		}
	})
}
