package crashpoint_test

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"github.com/purepool/purepool/backend/crashpoint"
)

// TestEnvKillsTheProcess re-runs this test binary with PUREPOOL_CRASHPOINT
// set and checks it dies at that point with status 137, and only there.
func TestEnvKillsTheProcess(t *testing.T) {
	if os.Getenv("CRASHPOINT_CHILD") == "1" {
		crashpoint.Hit(crashpoint.PayoutBeforeSend) // not armed: passes
		os.Stdout.WriteString("passed before_send\n")
		crashpoint.Hit(crashpoint.PayoutAfterSend) // armed: dies
		os.Stdout.WriteString("survived after_send\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestEnvKillsTheProcess")
	cmd.Env = append(os.Environ(), "CRASHPOINT_CHILD=1", crashpoint.Env+"="+crashpoint.PayoutAfterSend)
	out, err := cmd.Output()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != crashpoint.ExitCode {
		t.Fatalf("child: %v, output %q", err, out)
	}
	if string(out) != "passed before_send\n" {
		t.Fatalf("child output %q", out)
	}
}

func TestHook(t *testing.T) {
	var hits []string
	crashpoint.SetHook(func(name string) { hits = append(hits, name) })
	defer crashpoint.SetHook(nil)
	crashpoint.Hit("a")
	crashpoint.Hit("b")
	if len(hits) != 2 || hits[0] != "a" || hits[1] != "b" {
		t.Fatalf("hits %v", hits)
	}
}
