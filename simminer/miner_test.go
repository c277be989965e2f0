package simminer_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

const guid = "eef5cbcb-f673-4203-a791-f773b177f1df"

// received is one request the stub pool got.
type received struct {
	raw      []byte
	req      *http.Request
	solution string
	at       time.Time
}

// stubPool answers in Purepool's (PP) formats over a raw socket and keeps
// every request's exact bytes. It stands in for the frontend, which is
// another package's job.
type stubPool struct {
	ln      net.Listener
	address string
	target  string
	mu      sync.Mutex
	got     []received
	workIDs map[string]bool
	delay   time.Duration // before answering readytomine2
}

func newStubPool(t *testing.T, address, target string) *stubPool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stubPool{ln: ln, address: address, target: target, workIDs: map[string]bool{}}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *stubPool) URL() string { return "http://" + p.ln.Addr().String() }

func (p *stubPool) serve(c net.Conn) {
	defer c.Close()
	var raw bytes.Buffer
	br := bufio.NewReaderSize(io.TeeReader(c, &raw), 1<<20)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	body, _ := io.ReadAll(req.Body)
	_ = body
	rec := received{raw: append([]byte(nil), raw.Bytes()...), req: req, solution: req.Header.Get("Solution"), at: time.Now()}
	var reply string
	switch req.Header.Get("Action") {
	case "readytomine2":
		time.Sleep(p.delay)
		id := uuid.NewString()
		p.mu.Lock()
		p.workIDs[id] = true
		p.mu.Unlock()
		reply = fmt.Sprintf("<RESPONSE> <ADDRESS>%s</ADDRESS><HASHTARGET>%s</HASHTARGET><MINERGUID>%s</MINERGUID><WORKID>%s</WORKID></RESPONSE><END></HTML>",
			p.address, p.target, guid, id)
	case "solution":
		f := strings.Split(rec.solution, ",")
		w := ""
		if len(f) > 6 {
			w = f[6]
		}
		reply = "<RESPONSE><STATUS>ok</STATUS><WORKID>" + w + "</WORKID></RESPONSE><END></HTML>"
	default:
		reply = "<RESPONSE>UNKNOWN ACTION</RESPONSE><ERROR>UNKNOWN ACTION</ERROR><EOF>"
	}
	p.mu.Lock()
	p.got = append(p.got, rec)
	p.mu.Unlock()
	io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"+reply+"\r\n")
}

func (p *stubPool) requests(action string) []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []received
	for _, r := range p.got {
		if r.req.Header.Get("Action") == action {
			out = append(out, r)
		}
	}
	return out
}

type rig struct {
	node   *simnode.Server
	client *rpcclient.Client
	pool   *stubPool
	ctx    context.Context
}

// newRig starts a simnode and a stub pool; the pool target is easy (about
// 64 hashes a share) and the network target about 4x harder.
func newRig(t *testing.T, target string) *rig {
	t.Helper()
	srv, err := simnode.Start(simnode.Config{User: "u", Password: "p", NetworkHashRate: 256.0 / 60}, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c, _ := rpcclient.New(rpcclient.Config{URL: srv.URL, User: "u", Password: "p", Network: srv.Node.Network()})
	if target == "" {
		target = biblepay.TargetForDifficulty(64)
	}
	return &rig{node: srv, client: c, pool: newStubPool(t, srv.Node.WalletAddress(), target), ctx: context.Background()}
}

func (r *rig) miner(t *testing.T, cfg simminer.Config) *simminer.Miner {
	t.Helper()
	cfg.Pool = r.pool.URL()
	if cfg.Worker == "" {
		cfg.Worker = r.node.Node.Network().Address([20]byte{5}) + "/rig1"
	}
	cfg.Network = r.node.Node.Network()
	cfg.Node = r.client
	m, err := simminer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRequestBytesAreTheWallets(t *testing.T) {
	req := simminer.Request{Host: "pool.example", Version: "1.1.4.1", Action: "readytomine2", Miner: "yAddr/w1",
		NetworkID: "test", OS: "LIN", ThreadID: 3}
	want := "POST /Action.aspx HTTP/1.1\r\n" +
		"User-Agent: BiblePay-QT/1.1.4.1\r\n" +
		"Host: pool.example\r\n" +
		"Content-Length: 12\r\n" +
		"Action: readytomine2\r\n" +
		"Agent: 1.1.4.1\r\n" +
		"Miner: yAddr/w1\r\n" +
		"NetworkID: test\r\n" +
		"OS: LIN\r\n" +
		"Solution: \r\n" +
		"ThreadID: 3\r\n" +
		"\r\n" +
		"readytomine2"
	if got := string(req.Bytes()); got != want {
		t.Fatalf("request bytes:\n%q\nwant\n%q", got, want)
	}
	req.Action, req.Solution = "solution", "a,b"
	if got := string(req.Bytes()); !strings.Contains(got, "Content-Length: 8\r\n") || !strings.HasSuffix(got, "\r\n\r\nsolution") ||
		!strings.Contains(got, "Solution: a,b\r\nThreadID: 3\r\n") {
		t.Fatalf("solution request: %q", got)
	}

	// Over a socket: the pool sees exactly these bytes, Host without the port.
	r := newRig(t, "")
	m := r.miner(t, simminer.Config{Worker: "yWorker/rig"})
	if _, err := m.RequestWork(r.ctx, 2); err != nil {
		t.Fatal(err)
	}
	got := r.pool.requests("readytomine2")[0]
	wantReq := m.Request("readytomine2", 2, "").Bytes()
	if !bytes.Equal(got.raw, wantReq) || got.req.Host != "127.0.0.1" || got.req.Header.Get("NetworkID") != "test" {
		t.Fatalf("pool received %q (host %q)", got.raw, got.req.Host)
	}
}

// pipeReply feeds a reply through a connection that stays open, so only
// the reader's own termination rules can end the read.
func pipeReply(t *testing.T, parts ...string) (string, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		for _, p := range parts {
			b.Write([]byte(p))
			time.Sleep(5 * time.Millisecond)
		}
	}()
	a.SetDeadline(time.Now().Add(5 * time.Second))
	defer b.Close()
	return simminer.ReadResponse(a)
}

func TestReadResponseTermination(t *testing.T) {
	got, err := pipeReply(t, "HTTP/1.1 200 OK\r\n\r\n<RESPONSE>r</RESPONSE><EOF>", "\r\n<ERROR>late</ERROR><END>", "never read")
	if err != nil || !strings.Contains(got, "<ERROR>late</ERROR>") || strings.Contains(got, "never read") {
		t.Fatalf("<EOF> must not end the reply, <END> must: %q, %v", got, err)
	}
	got, err = pipeReply(t, "<RESPONSE>x</RESPONSE></html>", "never read")
	if err != nil || strings.Contains(got, "never read") {
		t.Fatalf("</html>: %q, %v", got, err)
	}
	long := strings.Repeat("a", 120_000)
	got, err = pipeReply(t, long+"<RESPONSE>tail</RESPONSE><END>")
	if err != nil || !strings.Contains(strings.ReplaceAll(got, "\n", ""), long+"<RESPONSE>tail</RESPONSE>") || strings.Count(got, "\n") < 3 {
		t.Fatalf("long lines: %d bytes, %v", len(got), err)
	}
	// PP's readytomine2 had no terminator: the close ends it.
	a, b := net.Pipe()
	go func() { b.Write([]byte("<RESPONSE> <ADDRESS>x</ADDRESS></RESPONSE>")); b.Close() }()
	if got, err := simminer.ReadResponse(a); err != nil || !strings.Contains(got, "<ADDRESS>x</ADDRESS>") {
		t.Fatalf("close-terminated: %q, %v", got, err)
	}
}

func TestParseWorkAppliesTheWalletsChecks(t *testing.T) {
	net := biblepay.Networks["test"]
	addr := net.Address([20]byte{1})
	ok := func(a, target, g, w string) string {
		return fmt.Sprintf("<RESPONSE> <ADDRESS>%s</ADDRESS><HASHTARGET>%s</HASHTARGET><MINERGUID>%s</MINERGUID><WORKID>%s</WORKID></RESPONSE>", a, target, g, w)
	}
	wid := uuid.NewString()
	for _, tc := range []struct {
		name, raw, reason string
	}{
		{"error wins over response", ok(addr, biblepay.DefaultTarget, guid, wid) + "<ERROR>Miner x is disabled</ERROR>", "Miner x is disabled"},
		{"no address", ok("", biblepay.DefaultTarget, guid, wid), simminer.ReasonNoAddress},
		{"main address on test", ok("B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", biblepay.DefaultTarget, guid, wid), simminer.ReasonInvalidAddress},
		{"no target", ok(addr, "", guid, wid), simminer.ReasonNoWork},
		{"no guid", ok(addr, biblepay.DefaultTarget, "", wid), simminer.ReasonNoMinerGUID},
		{"no work id", ok(addr, biblepay.DefaultTarget, guid, ""), simminer.ReasonNoWork},
		{"fields outside RESPONSE", "<ADDRESS>" + addr + "</ADDRESS>", simminer.ReasonNoAddress},
	} {
		_, err := simminer.ParseWork(tc.raw, net)
		var pe *simminer.PoolError
		if !errors.As(err, &pe) || pe.Reason != tc.reason {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.reason)
		}
	}
	w, err := simminer.ParseWork(ok(addr, biblepay.DefaultTarget, guid, wid)+"<END>", net)
	want, _ := biblepay.ParseHash(biblepay.DefaultTarget)
	if err != nil || w.Address != addr || w.MinerGUID != guid || w.WorkID != wid || w.Target.Cmp(want) != 0 {
		t.Fatalf("ParseWork = %+v, %v", w, err)
	}
	// A short target is read as a small number: a far harder target.
	w, err = simminer.ParseWork(ok(addr, "0000011110", guid, wid), net)
	if err != nil || w.Target.Cmp(big.NewInt(0x11110)) != 0 {
		t.Fatalf("short target = %v, %v", w.Target, err)
	}
}

func TestShareIsAValidWalletSolution(t *testing.T) {
	r := newRig(t, "")
	if _, err := r.node.Node.Generate(3); err != nil {
		t.Fatal(err)
	}
	m := r.miner(t, simminer.Config{})
	w, err := m.RequestWork(r.ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	tip, _ := r.client.GetBlockCount(r.ctx)
	tipHash, _ := r.client.GetBlockHash(r.ctx, tip)
	tipBlock, _ := r.client.GetBlock(r.ctx, tipHash)
	s, err := m.Mine(r.ctx, w, 0)
	if err != nil {
		t.Fatal(err)
	}
	sol, err := biblepay.ParseSolution(s.Solution, 0)
	if err != nil {
		t.Fatalf("solution does not parse strictly: %v", err)
	}
	block, _ := biblepay.ParseBlockHex(sol.BlockHex)
	if sol.BlockHash != biblepay.HashString(biblepay.SimBlockHash(block.Header.Bytes())) {
		t.Error("field 0 is not the header's hash")
	}
	if sol.PrevHeight != tip || sol.PrevBlockTime != tipBlock.Time || biblepay.HashString(block.Header.PrevBlock) != tipHash {
		t.Errorf("prev fields %d/%d, tip %d/%d", sol.PrevHeight, sol.PrevBlockTime, tip, tipBlock.Time)
	}
	if sol.MinerID.String() != guid || sol.WorkID.String() != w.WorkID || sol.ThreadID != 0 || sol.HashCounter == 0 || sol.TimerEnd < sol.TimerStart {
		t.Errorf("solution = %+v", sol)
	}
	if !biblepay.CheckNonce(sol.Nonce, sol.BlockTime, sol.PrevBlockTime) {
		t.Error("nonce breaks the max-nonce rule")
	}
	bh, err := r.client.ExecBibleHash(r.ctx, sol.BlockHash, sol.BlockTime, sol.PrevBlockTime, sol.PrevHeight, sol.Nonce)
	if err != nil || bh != sol.BibleHash {
		t.Errorf("node BibleHash %s, field 4 %s, %v", bh, sol.BibleHash, err)
	}
	if v, _ := biblepay.ParseHash(sol.BibleHash); v.Cmp(w.Target) > 0 {
		t.Error("share above the pool target")
	}
	cb, err := r.client.ExecHexBlockToCoinbase(r.ctx, sol.BlockHex, sol.TransactionHex)
	if err != nil || cb.Recipient != w.Address || cb.BlockVersion != "1.1.4.1" ||
		!strings.HasPrefix(cb.BlockMessage, "<VER>1.1.4.1</VER><MINERGUID>"+guid+"</MINERGUID>") || cb.BibleHash != sol.BibleHash {
		t.Errorf("hexblocktocoinbase = %+v, %v", cb, err)
	}

	reply, err := m.Submit(r.ctx, 0, s)
	if err != nil || reply.Status != "ok" || reply.WorkID != w.WorkID {
		t.Fatalf("submit: %+v, %v", reply, err)
	}
	sent := r.pool.requests("solution")
	if len(sent) != 1 || sent[0].solution != s.Solution || !bytes.Equal(sent[0].raw, m.Request("solution", 0, s.Solution).Bytes()) {
		t.Fatal("the pool did not get the solution as built")
	}
	if s.IsBlock {
		if h, _ := r.client.GetBlockCount(r.ctx); h != tip+1 {
			t.Errorf("block share not submitted: height %d", h)
		}
	}
}

func TestBlockSharesReachTheNode(t *testing.T) {
	// A pool target equal to the network's: every share is a block.
	r := newRig(t, "")
	r.pool.target = r.node.Node.Target()
	m := r.miner(t, simminer.Config{})
	for range 2 {
		w, err := m.RequestWork(r.ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.Mine(r.ctx, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !s.IsBlock {
			t.Fatal("share at the network target is not a block")
		}
		if _, err := m.Submit(r.ctx, 0, s); err != nil {
			t.Fatal(err)
		}
		sub, err := r.client.ExecSubsidy(r.ctx, s.Height)
		if err != nil || sub.Recipient != r.node.Node.WalletAddress() || sub.MinerGUID != guid {
			t.Fatalf("pool block at %d: %+v, %v", s.Height, sub, err)
		}
	}
	if rep := m.Report(); rep.Blocks != 2 || rep.Shares != 2 {
		t.Errorf("report %v", rep)
	}
}

func TestMisbehaviours(t *testing.T) {
	r := newRig(t, "")
	if _, err := r.node.Node.Generate(10); err != nil {
		t.Fatal(err)
	}
	oneShare := func(mb simminer.Misbehaviour, extra simminer.Config) (simminer.Share, []received) {
		t.Helper()
		before := len(r.pool.requests("solution"))
		extra.Misbehave = mb
		m := r.miner(t, extra)
		w, err := m.RequestWork(r.ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, err := m.Mine(r.ctx, w, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Submit(r.ctx, 1, s); err != nil {
			t.Fatal(err)
		}
		return s, r.pool.requests("solution")[before:]
	}
	t.Run("stale height", func(t *testing.T) {
		s, _ := oneShare(simminer.StaleHeight, simminer.Config{})
		tip := r.node.Node.Height()
		if s.Fields[3] != fmt.Sprint(tip-5) && s.Fields[3] != fmt.Sprint(tip-6) {
			t.Errorf("prev height %s, tip %d", s.Fields[3], tip)
		}
	})
	t.Run("foreign recipient", func(t *testing.T) {
		foreign := r.node.Node.Network().Address([20]byte{0xee})
		s, _ := oneShare(simminer.ForeignRecipient, simminer.Config{ForeignAddress: foreign})
		cb, err := r.client.ExecHexBlockToCoinbase(r.ctx, s.Fields[14], s.Fields[15])
		if err != nil || cb.Recipient != foreign {
			t.Errorf("recipient %+v, %v", cb, err)
		}
	})
	t.Run("reused solution", func(t *testing.T) {
		s, sent := oneShare(simminer.ReuseSolution, simminer.Config{})
		if len(sent) != 2 || sent[0].solution != s.Solution || sent[1].solution != s.Solution {
			t.Errorf("%d solution requests", len(sent))
		}
	})
	t.Run("garbage fields", func(t *testing.T) {
		_, sent := oneShare(simminer.GarbageFields, simminer.Config{})
		if _, err := biblepay.ParseSolution(sent[0].solution, 0); err == nil {
			t.Error("garbage solution parses")
		}
	})
	t.Run("huge header", func(t *testing.T) {
		_, sent := oneShare(simminer.HugeHeader, simminer.Config{HugeHeaderBytes: 300_000})
		if len(sent[0].solution) < 300_000 {
			t.Errorf("Solution header of %d bytes", len(sent[0].solution))
		}
	})
	t.Run("unsolved", func(t *testing.T) {
		r.pool.target = biblepay.DefaultTarget
		s, _ := oneShare(simminer.Unsolved, simminer.Config{})
		if biblepay.HashBelow(s.BibleHash, biblepay.DefaultTarget) && s.Fields[13] != "0" {
			t.Errorf("unsolved share searched: nonce %s", s.Fields[13])
		}
	})
}

func TestRunPacedAndUnpaced(t *testing.T) {
	r := newRig(t, "")
	m := r.miner(t, simminer.Config{Threads: 3, Paced: true, ShareInterval: 150 * time.Millisecond, WorkInterval: 250 * time.Millisecond})
	ctx, cancel := context.WithTimeout(r.ctx, 2*time.Second)
	if err := m.Run(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	// Arrival times at the pool carry scheduling noise (a loaded CI machine
	// can delay one request and not the next); unpaced requests come
	// milliseconds apart, far below interval − slack.
	const slack = 100 * time.Millisecond
	byThread := func(rs []received) map[string][]time.Time {
		out := map[string][]time.Time{}
		for _, x := range rs {
			id := x.req.Header.Get("ThreadID")
			out[id] = append(out[id], x.at)
		}
		return out
	}
	sols := r.pool.requests("solution")
	if len(sols) == 0 {
		t.Fatal("no shares")
	}
	for id, ts := range byThread(r.pool.requests("readytomine2")) {
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) < 250*time.Millisecond-slack {
				t.Errorf("thread %s asked for work after %s", id, ts[i].Sub(ts[i-1]))
			}
		}
	}
	for id, ts := range byThread(sols) {
		for i := 1; i < len(ts); i++ {
			if ts[i].Sub(ts[i-1]) < 150*time.Millisecond-slack {
				t.Errorf("thread %s shared after %s", id, ts[i].Sub(ts[i-1]))
			}
		}
	}
	for _, s := range sols {
		wid := strings.Split(s.solution, ",")[6]
		if !r.pool.workIDs[wid] {
			t.Errorf("solution for unknown work %s", wid)
		}
	}

	// Unpaced: a load generator; its report counts what the pool saw.
	before := len(r.pool.requests("readytomine2")) + len(r.pool.requests("solution"))
	load := r.miner(t, simminer.Config{Threads: 2})
	ctx, cancel = context.WithTimeout(r.ctx, 500*time.Millisecond)
	load.Run(ctx)
	cancel()
	rep := load.Report()
	seen := len(r.pool.requests("readytomine2")) + len(r.pool.requests("solution")) - before
	if rep.Requests == 0 || rep.Requests-rep.Failures > int64(seen) || rep.Requests < int64(seen) || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.RequestsPerSecond <= 0 {
		t.Errorf("report %v, pool saw %d", rep, seen)
	}
}

func TestHTTPSWithoutSNI(t *testing.T) {
	addr := biblepay.Networks["test"].Address([20]byte{1})
	var sni, host string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sni, host = r.TLS.ServerName, r.Host
		fmt.Fprintf(w, "<RESPONSE> <ADDRESS>%s</ADDRESS><HASHTARGET>%s</HASHTARGET><MINERGUID>%s</MINERGUID><WORKID>%s</WORKID></RESPONSE><END></HTML><EOF></EOF>\r\n",
			addr, biblepay.DefaultTarget, guid, uuid.NewString())
	}))
	defer srv.Close()
	m, err := simminer.New(simminer.Config{Pool: srv.URL, Worker: addr})
	if err != nil {
		t.Fatal(err)
	}
	w, err := m.RequestWork(context.Background(), 0)
	if err != nil || w.Address != addr {
		t.Fatalf("over TLS: %+v, %v", w, err)
	}
	if sni != "" || host != "127.0.0.1" {
		t.Errorf("SNI %q, Host %q", sni, host)
	}
}

func TestPacedThreadsShareWork(t *testing.T) {
	r := newRig(t, "")
	r.pool.delay = 300 * time.Millisecond // threads 1 and 2 arrive while thread 0 waits for work
	// Within ShareInterval no thread shares twice: the first three shares
	// are one per thread.
	m := r.miner(t, simminer.Config{Threads: 3, Paced: true, ShareInterval: 5 * time.Second, WorkInterval: 5 * time.Second})
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	for ctx.Err() == nil && len(r.pool.requests("solution")) < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	works := r.pool.requests("readytomine2")
	sols := r.pool.requests("solution")
	if len(works) == 0 || len(sols) < 3 {
		t.Fatalf("%d work requests, %d solutions", len(works), len(sols))
	}
	threads := map[string]bool{}
	for _, s := range sols[:3] {
		threads[s.req.Header.Get("ThreadID")] = true
	}
	w0 := strings.Split(sols[0].solution, ",")[6]
	for _, s := range sols[1:3] {
		if strings.Split(s.solution, ",")[6] != w0 {
			t.Errorf("first shares on different work: %s vs %s", strings.Split(s.solution, ",")[6], w0)
		}
	}
	if len(threads) != 3 {
		t.Errorf("first three shares came from threads %v", threads)
	}
	if works[0].req.Header.Get("ThreadID") != "0" {
		t.Errorf("first work request from thread %s", works[0].req.Header.Get("ThreadID"))
	}
}
