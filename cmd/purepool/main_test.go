package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestMain_Dispatch(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"version"}, code: 0, stdout: "purepool "},
		{args: nil, code: 2, stderr: "usage: purepool"},
		{args: []string{"nosuch"}, code: 2, stderr: `unknown subcommand "nosuch"`},
		{args: []string{"version", "-bogus"}, code: 2, stderr: "flag provided but not defined"},
		{args: []string{"version", "extra"}, code: 2, stderr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Main(context.Background(), tt.args, &out, &errOut)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.stdout)
			}
			if !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", errOut.String(), tt.stderr)
			}
		})
	}
}
