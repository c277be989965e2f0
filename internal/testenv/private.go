package testenv

// Private servers: a PostgreSQL server or RabbitMQ node that belongs to one
// test, on its own loopback port and data directory. Tests that stop, crash
// or restart a server use these, never the shared servers: `go test ./...`
// runs packages at the same time, and restarting a shared server would break
// every other package's tests running against it.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Environment variables locating the servers' binaries.
const (
	// EnvPostgresBin is the directory holding initdb and postgres (default:
	// the newest /usr/lib/postgresql/*/bin, then $PATH).
	EnvPostgresBin = "PUREPOOL_TEST_PG_BIN"
	// EnvRabbitMQBin is the directory holding rabbitmq-server and
	// rabbitmqctl (default: /usr/lib/rabbitmq/bin, then $PATH). Debian's
	// /usr/sbin wrappers are avoided: run as root they switch to the
	// rabbitmq user and its home, hence to the shared node's cookie.
	EnvRabbitMQBin = "PUREPOOL_TEST_RABBITMQ_BIN"
)

// How long a private server may take to start or stop before the helper
// gives up (generous: CI shares two cores among all packages).
const (
	privateStartTimeout = 90 * time.Second
	privateStopTimeout  = 60 * time.Second
)

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverProcess is one run of a server started as a child process in its
// own process group, so that a crash can kill the server together with
// every process it forked.
type serverProcess struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once the process has been reaped
	waitErr error         // set before exited is closed
}

// startProcess starts cmd in a new process group. deathSignal is what the
// kernel sends the server if the test binary dies without cleaning up.
func startProcess(cmd *exec.Cmd, deathSignal syscall.Signal) (*serverProcess, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSignal
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &serverProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

func (p *serverProcess) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the server's main process only.
func (p *serverProcess) signal(sig syscall.Signal) {
	_ = p.cmd.Process.Signal(sig)
}

// killGroup sends SIGKILL to the whole process group. (Process.Signal is
// safe against pid reuse once the process is reaped; a raw kill is not, so
// every raw kill checks first that the leader has not been reaped.)
func (p *serverProcess) killGroup() {
	if p.running() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
}

// stop sends sig and waits for the process to exit; after timeout it kills
// the process group and reports that it had to.
func (p *serverProcess) stop(sig syscall.Signal, timeout time.Duration) error {
	p.signal(sig)
	select {
	case <-p.exited:
		return nil
	case <-time.After(timeout):
		p.killGroup()
		<-p.exited
		return fmt.Errorf("did not stop within %s after %s; killed", timeout, sig)
	}
}

// crash kills the server and every process it forked at once, and waits
// until they are all gone. A process-group kill is not enough: PostgreSQL
// makes each backend the leader of a group of its own, and a backend that
// outlives its postmaster keeps the shared memory attached, so the next
// start would refuse to run. The leader is frozen first so that it cannot
// fork while its descendants are collected.
func (p *serverProcess) crash() {
	if !p.running() {
		return
	}
	pid := p.cmd.Process.Pid
	p.signal(syscall.SIGSTOP)
	family := descendants(pid)
	p.killGroup()
	for _, d := range family {
		_ = syscall.Kill(d, syscall.SIGKILL)
	}
	<-p.exited
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range family {
		for alive(d) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// procStat returns the state and parent pid of a process from
// /proc/<pid>/stat; ok is false when it is gone.
func procStat(pid int) (state byte, ppid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, false
	}
	ppid, err = strconv.Atoi(f[1])
	if err != nil || len(f[0]) == 0 {
		return 0, 0, false
	}
	return f[0][0], ppid, true
}

// alive reports whether pid still runs (a zombie has released everything).
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != 'Z' && state != 'X'
}

// descendants lists every process below pid, from /proc.
func descendants(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, ppid, ok := procStat(n); ok {
			children[ppid] = append(children[ppid], n)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// tail returns the last n bytes of a log file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(bytes.TrimSpace(b))
}

// ---------------------------------------------------------------------------
// PostgreSQL

// PrivatePostgres is a PostgreSQL server of one test: a fresh cluster
// (initdb) in a temporary directory, listening on 127.0.0.1 on a free port,
// with trust authentication for the superuser postgres. The test may Stop,
// Crash, Start and Restart it; it is removed when the test ends.
//
// PostgreSQL refuses to run as root, so under root the server runs as the
// OS user postgres (the temporary directory is chowned to it). fsync is off
// (an OS crash is not what these tests simulate; a killed server keeps
// everything the kernel has), synchronous_commit stays on, so a committed
// transaction survives Crash exactly as in production.
type PrivatePostgres struct {
	tb   testing.TB
	bin  string
	dir  string // the server's; data/ and server.log inside
	port int
	cred *syscall.Credential // nil: run as the test's own user

	mu   sync.Mutex
	proc *serverProcess // nil while stopped
}

// NewPrivatePostgres creates and starts a private PostgreSQL server. It
// reports the service unavailable (skip, or fail under
// PUREPOOL_REQUIRE_SERVICES=1) when the PostgreSQL server binaries are not
// installed.
func NewPrivatePostgres(tb testing.TB) *PrivatePostgres {
	tb.Helper()
	bin, err := postgresBin()
	if err != nil {
		Unavailable(tb, "PostgreSQL server binaries", err)
	}
	p := &PrivatePostgres{tb: tb, bin: bin}
	if os.Geteuid() == 0 {
		p.cred, err = credentialOf("postgres")
		if err != nil {
			Unavailable(tb, "PostgreSQL server (running as root needs the OS user postgres)", err)
		}
	}
	p.dir, err = os.MkdirTemp("", "purepool-pg-")
	if err != nil {
		tb.Fatalf("private postgres: %v", err)
	}
	tb.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.proc != nil {
			// The data is thrown away: no need for a clean shutdown.
			p.proc.crash()
			p.proc = nil
		}
		if tb.Failed() {
			tb.Logf("private PostgreSQL log (tail):\n%s", tail(filepath.Join(p.dir, "server.log"), 4000))
		}
		if err := os.RemoveAll(p.dir); err != nil {
			tb.Logf("private postgres: remove %s: %v", p.dir, err)
		}
	})
	if p.cred != nil {
		if err := os.Chown(p.dir, int(p.cred.Uid), int(p.cred.Gid)); err != nil {
			tb.Fatalf("private postgres: %v", err)
		}
	}

	began := time.Now()
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", p.dataDir(), "-U", "postgres",
		"-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = p.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		tb.Fatalf("private postgres: initdb: %v\n%s", err, out)
	}
	initTook := time.Since(began)

	// The port was free a moment ago; another process may take it before
	// the server binds it, so a failed first start tries another port.
	for attempt := 1; ; attempt++ {
		if p.port, err = freePort(); err != nil {
			tb.Fatalf("private postgres: %v", err)
		}
		began = time.Now()
		err = p.Start()
		if err == nil {
			break
		}
		if attempt == 3 {
			tb.Fatalf("private postgres: %v", err)
		}
	}
	tb.Logf("private PostgreSQL on 127.0.0.1:%d: initdb %s, start %s",
		p.port, initTook.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
	return p
}

// postgresBin finds the directory of initdb and postgres.
func postgresBin() (string, error) {
	if d := os.Getenv(EnvPostgresBin); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest major version first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("no initdb in /usr/lib/postgresql/*/bin or $PATH (set " + EnvPostgresBin + ")")
}

// credentialOf returns the uid and gid of an OS user.
func credentialOf(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (p *PrivatePostgres) dataDir() string { return filepath.Join(p.dir, "data") }

// URL is the superuser's URL of the server's postgres database. It stays the
// same across restarts.
func (p *PrivatePostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Port is the server's TCP port on 127.0.0.1.
func (p *PrivatePostgres) Port() int { return p.port }

// Start starts the stopped server and waits until it accepts connections
// (crash recovery included, after Crash).
func (p *PrivatePostgres) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil && p.proc.running() {
		return errors.New("private postgres: already running")
	}
	logFile, err := os.OpenFile(filepath.Join(p.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("private postgres: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(p.bin, "postgres"), "-D", p.dataDir(),
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB",
		"-c", "max_connections=60",
	)
	cmd.Dir = p.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	// SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its
	// backends down with it if the test binary dies.
	proc, err := startProcess(cmd, syscall.SIGQUIT)
	if err != nil {
		return fmt.Errorf("private postgres: start: %w", err)
	}
	if err := p.awaitReady(proc); err != nil {
		proc.crash()
		return fmt.Errorf("private postgres on port %d: %w\nserver log (tail):\n%s",
			p.port, err, tail(filepath.Join(p.dir, "server.log"), 2000))
	}
	p.proc = proc
	return nil
}

func (p *PrivatePostgres) awaitReady(proc *serverProcess) error {
	deadline := time.Now().Add(privateStartTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, p.URL())
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-proc.exited:
			return fmt.Errorf("server exited during start: %v", proc.waitErr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", privateStartTimeout, err)
		}
	}
}

// Stop shuts the server down the way an operator would (fast shutdown:
// open transactions are rolled back, clients disconnected, a checkpoint
// written). Stopping a stopped server does nothing.
func (p *PrivatePostgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return nil
	}
	err := p.proc.stop(syscall.SIGINT, privateStopTimeout)
	p.proc = nil
	if err != nil {
		return fmt.Errorf("private postgres: stop: %w", err)
	}
	return nil
}

// Crash kills the server and all its processes at once (SIGKILL), like a
// power cut of the process but not of the OS: the next Start runs crash
// recovery from the WAL.
func (p *PrivatePostgres) Crash() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc == nil {
		return
	}
	p.proc.crash()
	p.proc = nil
}

// Restart stops the server (fast shutdown) and starts it again on the same
// port and data.
func (p *PrivatePostgres) Restart() error {
	if err := p.Stop(); err != nil {
		return err
	}
	return p.Start()
}

// ---------------------------------------------------------------------------
// RabbitMQ

// PrivateRabbitMQ is a RabbitMQ node of one test, beside the shared one:
// its own node name (unique@localhost), AMQP port, distribution port, data
// and log directories, Erlang cookie (in a private HOME) and an empty plugin
// list, registered with the machine's epmd like any other node. The default
// user guest/guest may connect over loopback. The test may Stop, Crash, Start
// and Restart it; it is removed when the test ends.
//
// Starting a node takes several seconds (the Erlang VM and RabbitMQ boot);
// tests that need one should say so in their names and keep to one node.
type PrivateRabbitMQ struct {
	tb       testing.TB
	bin      string
	dir      string
	node     string
	port     int
	distPort int

	mu   sync.Mutex
	proc *serverProcess
}

// NewPrivateRabbitMQ creates and starts a private RabbitMQ node. It reports
// the service unavailable (skip, or fail under PUREPOOL_REQUIRE_SERVICES=1)
// when RabbitMQ is not installed.
func NewPrivateRabbitMQ(tb testing.TB) *PrivateRabbitMQ {
	tb.Helper()
	r := newPrivateRabbitMQ(tb, "")
	began := time.Now()
	if err := r.boot(); err != nil {
		tb.Fatalf("private rabbitmq: %v", err)
	}
	tb.Logf("private RabbitMQ node %s on 127.0.0.1:%d: start %s",
		r.node, r.port, time.Since(began).Round(time.Millisecond))
	return r
}

// newPrivateRabbitMQ prepares a node's directory (removed when the test
// ends, with the node killed) without starting it. A non-empty cookie is
// written as the node's (and its CLI's) Erlang cookie: nodes of one cluster
// must share it; otherwise the node makes one of its own on first start.
func newPrivateRabbitMQ(tb testing.TB, cookie string) *PrivateRabbitMQ {
	tb.Helper()
	bin, err := rabbitmqBin()
	if err != nil {
		Unavailable(tb, "RabbitMQ server", err)
	}
	r := &PrivateRabbitMQ{tb: tb, bin: bin, node: UniqueName("pptest") + "@localhost"}
	r.dir, err = os.MkdirTemp("", "purepool-rabbitmq-")
	if err != nil {
		tb.Fatalf("private rabbitmq: %v", err)
	}
	tb.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.proc != nil {
			r.proc.crash() // its data is thrown away
			r.proc = nil
		}
		if tb.Failed() {
			tb.Logf("private RabbitMQ %s log (tail):\n%s", r.node, tail(r.logFile(), 4000))
		}
		if err := os.RemoveAll(r.dir); err != nil {
			tb.Logf("private rabbitmq: remove %s: %v", r.dir, err)
		}
	})
	files := []struct {
		name, text string
		mode       os.FileMode
	}{
		{"enabled_plugins", "[].\n", 0o644}, // not the machine's: no management listener on 15672
		{"rabbitmq-env.conf", "", 0o644},    // not /etc/rabbitmq's, which names the shared node
	}
	if cookie != "" {
		// Erlang refuses a cookie file others may read.
		files = append(files, struct {
			name, text string
			mode       os.FileMode
		}{".erlang.cookie", cookie, 0o400})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(r.dir, f.name), []byte(f.text), f.mode); err != nil {
			tb.Fatalf("private rabbitmq: %v", err)
		}
	}
	return r
}

// boot starts the node for the first time on free ports, trying other
// ports if another process took one meanwhile. It does not touch tb, so
// several nodes may boot at once.
func (r *PrivateRabbitMQ) boot() error {
	for attempt := 1; ; attempt++ {
		var err error
		if r.port, err = freePort(); err != nil {
			return err
		}
		if r.distPort, err = freePort(); err != nil {
			return err
		}
		conf := fmt.Sprintf("listeners.tcp.default = 127.0.0.1:%d\nloopback_users.guest = true\n", r.port)
		if err := os.WriteFile(filepath.Join(r.dir, "rabbitmq.conf"), []byte(conf), 0o644); err != nil {
			return err
		}
		err = r.Start()
		if err == nil {
			return nil
		}
		if attempt == 3 {
			return err
		}
		// A retry needs a clean node: the failed one may have half-booted.
		_ = os.RemoveAll(filepath.Join(r.dir, "mnesia"))
	}
}

// rabbitmqBin finds the directory of rabbitmq-server and rabbitmqctl.
func rabbitmqBin() (string, error) {
	if d := os.Getenv(EnvRabbitMQBin); d != "" {
		return d, nil
	}
	if _, err := os.Stat("/usr/lib/rabbitmq/bin/rabbitmq-server"); err == nil {
		return "/usr/lib/rabbitmq/bin", nil
	}
	if path, err := exec.LookPath("rabbitmq-server"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", errors.New("no rabbitmq-server in /usr/lib/rabbitmq/bin or $PATH (set " + EnvRabbitMQBin + ")")
}

func (r *PrivateRabbitMQ) logFile() string { return filepath.Join(r.dir, "server.log") }

// environ is the node's (and its CLI's) environment: the test's, without
// any RabbitMQ or Erlang setting that could point at the shared node.
func (r *PrivateRabbitMQ) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+r.dir, // the node creates its own .erlang.cookie here; the CLI reads it
		"RABBITMQ_NODENAME="+r.node,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(r.port),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(r.distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(r.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(r.dir, "log"),
		"RABBITMQ_CONFIG_FILE="+filepath.Join(r.dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(r.dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(r.dir, "enabled_plugins"),
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(r.dir, "rabbitmq-env.conf"),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}", // distribution on loopback only
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
}

// URL is the AMQP URL of the node's default vhost as guest. It stays the
// same across restarts.
func (r *PrivateRabbitMQ) URL() string {
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", r.port)
}

// Start starts the stopped node and waits until it accepts AMQP
// connections; durable queues and their messages are recovered from disk.
func (r *PrivateRabbitMQ) Start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil && r.proc.running() {
		return errors.New("private rabbitmq: already running")
	}
	logFile, err := os.OpenFile(r.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("private rabbitmq: %w", err)
	}
	defer logFile.Close()
	// In the foreground, rabbitmq-server runs the VM as its child and turns
	// SIGTERM into a clean shutdown of the node.
	cmd := exec.Command(filepath.Join(r.bin, "rabbitmq-server"))
	cmd.Dir = r.dir
	cmd.Env = r.environ()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	proc, err := startProcess(cmd, syscall.SIGTERM)
	if err != nil {
		return fmt.Errorf("private rabbitmq: start: %w", err)
	}
	if err := r.awaitReady(proc); err != nil {
		proc.crash()
		return fmt.Errorf("private rabbitmq node %s: %w\nlog (tail):\n%s", r.node, err, tail(r.logFile(), 3000))
	}
	r.proc = proc
	return nil
}

// awaitReady waits for an AMQP handshake: the node opens its listener only
// once it has booted and recovered its queues.
func (r *PrivateRabbitMQ) awaitReady(proc *serverProcess) error {
	deadline := time.Now().Add(privateStartTimeout)
	for {
		conn, err := amqp.DialConfig(r.URL(), amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-proc.exited:
			return fmt.Errorf("node exited during start: %v", proc.waitErr)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no AMQP after %s: %w", privateStartTimeout, err)
		}
	}
}

// Stop shuts the node down cleanly (SIGTERM: connections are closed, queues
// stopped and the VM halted). Stopping a stopped node does nothing.
func (r *PrivateRabbitMQ) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return nil
	}
	err := r.proc.stop(syscall.SIGTERM, privateStopTimeout)
	r.proc = nil
	if err != nil {
		return fmt.Errorf("private rabbitmq: stop: %w", err)
	}
	return nil
}

// Crash kills the node's VM at once (SIGKILL on its process group): what
// the broker had confirmed must survive it, as after a power cut of the
// process.
func (r *PrivateRabbitMQ) Crash() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc == nil {
		return
	}
	r.proc.crash()
	r.proc = nil
}

// Restart stops the node cleanly and starts it again on the same ports and
// data.
func (r *PrivateRabbitMQ) Restart() error {
	if err := r.Stop(); err != nil {
		return err
	}
	return r.Start()
}

// Ctl runs rabbitmqctl against the node (e.g. "list_queues", "name",
// "messages") and returns its output. Each call costs about a second: the
// CLI boots an Erlang VM of its own.
func (r *PrivateRabbitMQ) Ctl(ctx context.Context, args ...string) (string, error) {
	return r.cli(ctx, "rabbitmqctl", args...)
}
