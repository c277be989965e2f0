package http_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	pphttp "github.com/purepool/purepool/http"
)

// bigSolution is a valid solution whose Solution header is about size bytes:
// the block carries more transactions after the coinbase.
func bigSolution(t *testing.T, size int) string {
	s := shareOf(t, "main", mainMiner, uuid.New())
	pad := size - len(s.String())
	if pad > 0 {
		s.BlockHex += strings.Repeat("00", pad/2)
	}
	return s.String()
}

func TestHeaderLimit_DefaultAcceptsAMebibyteBlock(t *testing.T) {
	f := newFixture(t)
	sol := bigSolution(t, pphttp.DefaultMaxHeaderBytes-4096)
	a := post(t, f.addr, solutionRequest(mainMiner, "main", sol))
	if a.Error != "" || !strings.HasPrefix(a.Response, "<STATUS>ok</STATUS>") {
		t.Fatalf("%d-byte solution answered %q", len(sol), a.Raw)
	}
	cmds := f.published(t)
	if len(cmds) != 1 {
		t.Fatalf("published %d", len(cmds))
	}
}

func TestHeaderLimit_OversizedAnsweredInProtocolFormat(t *testing.T) {
	const limit = 16 << 10
	f := newFixture(t, withConfig(func(c *pphttp.Config) { c.MaxHeaderBytes = limit }))
	for _, tc := range []struct {
		name    string
		size    int
		handler bool // answered by the handler, not by rewriting net/http's refusal
	}{
		// Just above the limit: the handler's own check.
		{"above the limit", limit + 100, true},
		// Far above, beyond http.Server.MaxHeaderBytes: net/http refuses it
		// (431) and protocolConn rewrites the refusal. The client writes the
		// whole request before reading, as the wallet does.
		{"beyond net/http's limit", pphttp.ServerMaxHeaderBytes(limit) + 200<<10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, f.addr, solutionRequest(mainMiner, "main", bigSolution(t, tc.size)))
			checkHTTP(t, a.Full)
			if a.Error != "Request too large" {
				t.Errorf("ERROR %q; answer %q", a.Error, a.Full)
			}
			if got := strings.Contains(a.Full, "X-Request-Id:"); got != tc.handler {
				t.Errorf("answered by the handler: %v, want %v (%q)", got, tc.handler, a.Full)
			}
			if n := f.bus.Len(); n != 0 {
				t.Errorf("published %d commands", n)
			}
		})
	}
	// Within the limit is fine.
	a := post(t, f.addr, solutionRequest(mainMiner, "main", bigSolution(t, limit-1024)))
	if a.Error != "" {
		t.Errorf("solution within the limit answered %q", a.Error)
	}
	// A huge Miner header is refused the same way, and not echoed.
	q := readyToMine(mainMiner+"/"+strings.Repeat("w", limit), "main")
	a = post(t, f.addr, q)
	if a.Error != "Request too large" || len(a.Full) > 1023 {
		t.Errorf("huge Miner header: %q", a.Full)
	}
}

func TestHeaderLimit_DefaultBeyondLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 3 MiB")
	}
	f := newFixture(t)
	a := post(t, f.addr, solutionRequest(mainMiner, "main", bigSolution(t, 3<<20)))
	checkHTTP(t, a.Full)
	if a.Error != "Request too large" {
		t.Errorf("3 MiB solution answered %q", a.Full)
	}
}

// TestHugeFieldNeitherEchoedNorLogged: a field quoted by the parser's error
// is bounded in the answer and in the log.
func TestHugeFieldNeitherEchoedNorLogged(t *testing.T) {
	f := newFixture(t)
	parts := strings.Split(shareOf(t, "main", mainMiner, uuid.New()).String(), ",")
	parts[1] = strings.Repeat("9", 200<<10)
	a := post(t, f.addr, solutionRequest(mainMiner, "main", strings.Join(parts, ",")))
	if !strings.HasPrefix(a.Error, "Invalid solution: field 1 (block time)") || len(a.Full) > 1023 {
		t.Errorf("answer of %d bytes: %.300q", len(a.Full), a.Full)
	}
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if len(line) > 4096 {
			t.Errorf("log line of %d bytes", len(line))
		}
	}
}
