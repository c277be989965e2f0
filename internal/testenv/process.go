package testenv

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

// PurepoolBinary builds ./cmd/purepool once per test binary and returns its
// path. A package that uses it removes the build with RemoveBinaries in its
// TestMain (the binary outlives any one test).
func PurepoolBinary(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "purepool-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "purepool")
		if out, err := exec.Command("go", "build", "-o", binPath, "github.com/purepool/purepool/cmd/purepool").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binPath
}

// RemoveBinaries removes what PurepoolBinary built; call it from TestMain
// after m.Run.
func RemoveBinaries() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

// Process is a child process a test started (a purepool role, say), its
// output in a log file. It is killed when the test ends, and when the test
// binary dies (SIGKILL on the parent's death).
type Process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// StartProcess starts bin with args and env added to this process's
// environment; name names its log file in the test's temporary directory.
func StartProcess(tb testing.TB, name string, env []string, bin string, args ...string) *Process {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		tb.Fatal(err)
	}
	p := &Process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); lf.Close(); close(p.done) }()
	tb.Cleanup(p.Kill)
	return p
}

// Done is closed when the process has exited; Err then says how.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for status 0), once Done.
func (p *Process) Err() error { return p.err }

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status once Done (-1 for a signal, or before).
func (p *Process) ExitCode() int {
	if !p.Exited() {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Kill SIGKILLs the process and waits for it.
func (p *Process) Kill() {
	if !p.Exited() {
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-p.done
}

// Stop asks the process to shut down (SIGTERM) and waits up to timeout; it
// then kills it and reports that it had to.
func (p *Process) Stop(timeout time.Duration) error {
	if p.Exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		p.Kill()
		return fmt.Errorf("%s ignored SIGTERM for %s", filepath.Base(p.cmd.Path), timeout)
	}
}

// Tail is the last n bytes of the process's log.
func (p *Process) Tail(n int) string {
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// EachLine calls f with every line of the log so far, until f returns false.
func (p *Process) EachLine(f func(string) bool) {
	file, err := os.Open(p.log)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() && f(sc.Text()) {
	}
}

// CPU is the CPU time (user + system) the running process used so far,
// from /proc (0 where that cannot be read).
func (p *Process) CPU() time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0
	}
	// After the command name (which may hold spaces), utime and stime are
	// the 12th and 13th fields, in clock ticks of 10 ms.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * 10 * time.Millisecond
}
