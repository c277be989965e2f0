package rehearse

// The child processes: each a run of the purepool binary with its output in
// a log file of the rehearsal folder, in a process group of its own (so
// that Ctrl-C reaches the rehearsal only, which then stops them in order).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

const defaultDialTimeout = 10 * time.Second

// proc is one running child.
type proc struct {
	name string
	log  string // its log file
	cmd  *exec.Cmd
	out  *lineBuffer // its standard output, for the banners

	done    chan struct{} // closed once it has exited
	waitErr error         // its exit, set before done is closed

	mu       sync.Mutex
	stopped  bool // we asked it to stop: its exit is no failure
	reported bool // its failure was returned once already
}

// lineBuffer keeps what a child printed on its standard output.
type lineBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// start runs bin args as a child named name, logging to dir/name.log.
func start(bin, dir, name string, env Env, args ...string) (*proc, error) {
	path := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, log: path, out: &lineBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = env.List()
	p.cmd.Stdout = io.MultiWriter(f, p.out)
	p.cmd.Stderr = f
	// Its own process group: the terminal's Ctrl-C goes to the rehearsal,
	// which stops the children in order. Pdeathsig: a rehearsal killed
	// outright leaves no child behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// failure is why the child failed: it exited by itself, or non-zero after
// we stopped it. Nil while it runs or after a clean stop.
func (p *proc) failure() error {
	if !p.exited() {
		return nil
	}
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped && p.waitErr == nil {
		return nil
	}
	what := "exited by itself"
	if stopped {
		what = "did not stop cleanly"
	}
	status := "status 0"
	if p.waitErr != nil {
		status = p.waitErr.Error()
	}
	return fmt.Errorf("%s %s (%s); its log %s ends:\n%s", p.name, what, status, p.log, indent(tailFile(p.log, 1500)))
}

// stop sends SIGTERM and waits; after timeout it kills the child and
// reports that it had to.
func (p *proc) stop(timeout time.Duration) error {
	p.mu.Lock()
	already := p.stopped
	p.stopped = true
	p.mu.Unlock()
	if p.exited() {
		if already || p.wasReported() {
			return nil
		}
		return p.failure()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.failure()
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s of SIGTERM and was killed; see %s", p.name, timeout, p.log)
	}
}

// await waits until the child's standard output matches re, and returns
// the submatches; it fails if the child exits or timeout passes first.
func (p *proc) await(ctx context.Context, re *regexp.Regexp, timeout time.Duration) ([]string, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(p.out.String()); m != nil {
			return m, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-p.done:
			if m := re.FindStringSubmatch(p.out.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("%s exited before it was ready (%v); its log %s ends:\n%s", p.name, p.waitErr, p.log, indent(tailFile(p.log, 1500)))
		case <-deadline.C:
			return nil, fmt.Errorf("%s was not ready within %s; see %s", p.name, timeout, p.log)
		case <-tick.C:
		}
	}
}

// runOnce runs a short command (migrate, setup, config check) to its end,
// logging to dir/name.log; a failure quotes the log's end.
func runOnce(ctx context.Context, bin, dir, name string, env Env, args ...string) (string, error) {
	p, err := start(bin, dir, name, env, args...)
	if err != nil {
		return "", err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		_ = p.stop(10 * time.Second)
		return "", ctx.Err()
	}
	if p.waitErr != nil {
		return "", fmt.Errorf("purepool %s failed (%v); its log %s ends:\n%s", args[0], p.waitErr, p.log, indent(tailFile(p.log, 1500)))
	}
	return p.out.String(), nil
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read it: %v)", err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimSpace(b))
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }

func (p *proc) wasReported() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reported
}

// failures are the children that failed, each reported once: a child
// found dead while running is not reported again when the rest stop.
func failures(ps []*proc) error {
	var errs []error
	for _, p := range ps {
		if p.wasReported() {
			continue
		}
		if err := p.failure(); err != nil {
			p.mu.Lock()
			p.reported = true
			p.mu.Unlock()
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
