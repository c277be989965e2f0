package http_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
)

// recordingPublisher keeps what the handler publishes, for the fuzz target
// to check (a unit-level stand-in: the fuzz target exercises the handler's
// parsing, not the broker).
type recordingPublisher struct {
	mu   sync.Mutex
	msgs []commands.Message
}

func (p *recordingPublisher) Publish(_ context.Context, m commands.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

func (p *recordingPublisher) take() []commands.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs
	p.msgs = nil
	return out
}

// fuzzHeaders are the protocol headers the fuzz target varies, in the
// order of its string arguments.
var fuzzHeaders = []string{"Action", "Miner", "NetworkID", "ThreadID", "Agent", "OS", "Solution"}

var (
	okAnswerRE   = regexp.MustCompile(`^<RESPONSE><STATUS>ok</STATUS><WORKID>([0-9a-f-]{36})</WORKID></RESPONSE>` + regexp.QuoteMeta(pphttp.Terminator) + `$`)
	workAnswerFR = regexp.MustCompile(`^<RESPONSE> <ADDRESS>([^<]*)</ADDRESS><HASHTARGET>([0-9a-f]{64})</HASHTARGET><MINERGUID>([0-9a-f-]{36})</MINERGUID><WORKID>([0-9a-f-]{36})</WORKID></RESPONSE>` + regexp.QuoteMeta(pphttp.Terminator) + `$`)
)

// FuzzActionHeaders sends arbitrary values of the wallet's headers to the
// Action.aspx handler (called directly, without the router's panic
// recovery, so that a panic fails the target). Every answer must be a 200
// that the wallet parses (biblepay.ExtractXML) as either a protocol error
// or a valid work/ok answer matching the request; a refused request
// publishes nothing, an accepted one exactly the command it describes.
//
// dup is a bit set: bit i repeats header fuzzHeaders[i] (refused). An
// empty value leaves the header out.
func FuzzActionHeaders(f *testing.F) {
	share := shareOf(f, "test", testMiner, uuid.MustParse("0b9f6e0a-3f1e-4c55-9d2f-4f0c1d2e3a4b")).String()
	mainShare := shareOf(f, "main", mainMiner, uuid.MustParse("1c8e5d9b-2e0d-4b44-8c1e-3e0b0c1d2937")).String()
	seeds := []struct {
		action, miner, network, thread, agent, os, solution string
		dup                                                 uint8
	}{
		{"readytomine2", testMiner, "test", "0", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", mainMiner + "/rig1", "main", "1024", "1.1.4.1", "WIN", "", 0},
		{"readytomine2", mainMiner + "/rig/me@example.org", "main", "", "", "", "", 0},
		{"readytomine2", testMiner, "main", "0", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", testMiner, "regtest", "0", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", testMiner, "test", "1025", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", testMiner, "test", "-0", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", testMiner, "test", "007", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", testMiner, "test", "0", "<script>", "LIN", "", 0},
		{"readytomine2", testMiner, "test", "0", "1.1.4.1", "LINUXLINUXLINUXLINUX", "", 0},
		{"readytomine2", testMiner, "test", "0", "1.1.4.1", "LIN", "", 1 << 1},
		{"readytomine2", "", "test", "0", "1.1.4.1", "LIN", "", 0},
		{"readytomine2", "1BadAddress", "test", "0", "1.1.4.1", "LIN", "", 0},
		{"ReadyToMine2", testMiner, "test", "0", "1.1.4.1", "LIN", "", 0},
		{"", testMiner, "test", "0", "1.1.4.1", "LIN", "", 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", share, 0},
		{"solution", mainMiner + "/rig1", "main", "3", "1.1.4.1", "MAC", mainShare, 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", share, 1 << 6},
		{"solution", mainMiner, "main", "0", "1.1.4.1", "LIN", share, 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", "", 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", strings.Replace(share, ",", ",,", 1), 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", "a,b,c,<b>&amp;\x00\xff", 0},
		{"solution", testMiner, "test", "0", "1.1.4.1", "LIN", strings.Repeat(",", 15), 0},
		{"readytomine2\r\nX: y", testMiner + "\x00", "test\xff", " 0", "1.1.4.1\t", "LIN ", "", 0},
	}
	for _, s := range seeds {
		f.Add(s.action, s.miner, s.network, s.thread, s.agent, s.os, s.solution, s.dup)
	}

	pub := &recordingPublisher{}
	dir := newMemDirectory()
	// One known miner with its own target, one disabled: both paths of
	// the directory are reached.
	dir.set("main", mainMiner, pphttp.Miner{Target: strings.Repeat("0F", 32)})
	dir.set("test", biblepay.Networks["test"].Address([20]byte{0xdd}), pphttp.Miner{Disabled: true})
	cfg := testConfig()
	action, err := pphttp.NewActionHandler(cfg, dir, nil, pub, nil)
	if err != nil {
		f.Fatal(err)
	}
	cfg = action.Config()

	f.Fuzz(func(t *testing.T, act, miner, network, thread, agent, os, solution string, dup uint8) {
		values := []string{act, miner, network, thread, agent, os, solution}
		body := act
		if len(body) > 64 {
			body = body[:64]
		}
		r := httptest.NewRequest(http.MethodPost, "/Action.aspx", strings.NewReader(body))
		r.RemoteAddr = "192.0.2.7:40000"
		for i, name := range fuzzHeaders {
			if values[i] == "" {
				continue
			}
			r.Header[http.CanonicalHeaderKey(name)] = []string{values[i]}
			if dup&(1<<i) != 0 {
				r.Header[http.CanonicalHeaderKey(name)] = []string{values[i], values[i]}
			}
		}
		w := httptest.NewRecorder()
		action.ServeHTTP(w, r) // a panic fails the target
		published := pub.take()

		if w.Code != http.StatusOK {
			t.Fatalf("status %d, want 200", w.Code)
		}
		raw := w.Body.String()
		if !strings.HasSuffix(raw, pphttp.Terminator) {
			t.Fatalf("answer %q lacks the terminator", raw)
		}
		// The wallet looks for <ERROR> first, then <RESPONSE>.
		if e := biblepay.ExtractXML(raw, "<ERROR>", "</ERROR>"); e != "" {
			want := "<RESPONSE>" + e + "</RESPONSE><ERROR>" + e + "</ERROR><EOF>" + pphttp.Terminator
			if raw != want {
				t.Fatalf("error answer %q is not in protocol format", raw)
			}
			for i := range len(e) {
				if c := e[i]; c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' {
					t.Fatalf("error message %q echoes byte %#x unsanitized", e, c)
				}
			}
			if len(published) != 0 {
				t.Fatalf("refused request (%q) published %d commands", e, len(published))
			}
			return
		}
		if biblepay.ExtractXML(raw, "<RESPONSE>", "</RESPONSE>") == "" {
			t.Fatalf("answer %q has neither an error nor a response", raw)
		}
		// Accepted: the request must have been well formed.
		for i, name := range fuzzHeaders {
			if dup&(1<<i) != 0 && values[i] != "" && (name != "Solution" || act == pphttp.ActionSolution) {
				t.Fatalf("repeated %s header accepted", name)
			}
		}
		nc, ok := cfg.Networks[network]
		if !ok {
			t.Fatalf("network %q accepted", network)
		}
		wid, err := biblepay.ParseWorkerID(miner)
		if err != nil || biblepay.Networks[network].ValidateAddress(wid.Address) != nil {
			t.Fatalf("worker id %q accepted on %s (%v)", miner, network, err)
		}
		threadID := 0
		if thread != "" {
			n, err := strconv.Atoi(thread)
			if err != nil || n < 0 || n > biblepay.MaxThreadID || strconv.Itoa(n) != thread {
				t.Fatalf("thread id %q accepted", thread)
			}
			threadID = n
		}
		minerID := events.MinerID(network, wid.Address)
		if len(published) != 1 {
			t.Fatalf("accepted request published %d commands, want 1", len(published))
		}
		c, err := commands.Decode(published[0])
		if err != nil {
			t.Fatalf("published command does not decode: %v", err)
		}
		switch act {
		case pphttp.ActionReadyToMine:
			m := workAnswerFR.FindStringSubmatch(raw)
			if m == nil {
				t.Fatalf("work answer %q is malformed", raw)
			}
			iw, ok := c.(commands.IssueWork)
			if !ok {
				t.Fatalf("readytomine2 published %T", c)
			}
			if m[1] != nc.PoolAddress || m[3] != minerID.String() || m[4] != iw.WorkID.String() || m[2] != iw.Target {
				t.Fatalf("work answer %q does not match the command %+v", raw, iw)
			}
			checkCommon(t, iw.Network, iw.MinerID, iw.Address, iw.Worker, iw.ThreadID, iw.Agent, iw.OS,
				network, minerID, wid, threadID, agent, os)
		case pphttp.ActionSolution:
			m := okAnswerRE.FindStringSubmatch(raw)
			if m == nil {
				t.Fatalf("solution answer %q is malformed", raw)
			}
			ss, ok := c.(commands.SubmitSolution)
			if !ok {
				t.Fatalf("solution published %T", c)
			}
			sol, err := biblepay.ParseSolution(solution, cfg.MaxHeaderBytes)
			if err != nil {
				t.Fatalf("malformed solution acknowledged: %v", err)
			}
			if sol.MinerID != minerID || m[1] != sol.WorkID.String() || ss.Solution != solution {
				t.Fatalf("ok answer %q does not match the solution", raw)
			}
			checkCommon(t, ss.Network, ss.MinerID, ss.Address, ss.Worker, ss.ThreadID, ss.Agent, ss.OS,
				network, minerID, wid, threadID, agent, os)
		default:
			t.Fatalf("action %q accepted", act)
		}
	})
}

func checkCommon(t *testing.T, gotNet string, gotMiner uuid.UUID, gotAddr, gotWorker string, gotThread int, gotAgent, gotOS string,
	network string, minerID uuid.UUID, wid biblepay.WorkerID, threadID int, agent, os string) {
	t.Helper()
	got := fmt.Sprint(gotNet, gotMiner, gotAddr, gotWorker, gotThread, gotAgent, gotOS)
	want := fmt.Sprint(network, minerID, wid.Address, wid.Worker, threadID, agent, os)
	if got != want {
		t.Fatalf("command carries %s, request said %s", got, want)
	}
}
