package http_test

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/inproc"
	"github.com/purepool/purepool/events"
	pphttp "github.com/purepool/purepool/http"
)

var workAnswerRE = regexp.MustCompile(`^ <ADDRESS>([^<]*)</ADDRESS><HASHTARGET>([0-9a-f]{64})</HASHTARGET><MINERGUID>([0-9a-f-]{36})</MINERGUID><WORKID>([0-9a-f-]{36})</WORKID>$`)

// work is a parsed readytomine2 answer, read the way GetPoolMiningMode does.
type work struct {
	Address, Target, MinerGUID, WorkID string
}

func mustWork(t testing.TB, a walletAnswer) work {
	t.Helper()
	if a.Error != "" {
		t.Fatalf("readytomine2 answered error %q (raw %q)", a.Error, a.Raw)
	}
	m := workAnswerRE.FindStringSubmatch(a.Response)
	if m == nil {
		t.Fatalf("readytomine2 answer %q does not match %s", a.Response, workAnswerRE)
	}
	w := work{Address: m[1], Target: m[2], MinerGUID: m[3], WorkID: m[4]}
	// The wallet's own checks: each tag non-empty, the address valid.
	for tag, v := range map[string]string{"ADDRESS": w.Address, "HASHTARGET": w.Target, "MINERGUID": w.MinerGUID, "WORKID": w.WorkID} {
		if biblepay.ExtractXML(a.Raw, "<"+tag+">", "</"+tag+">") != v {
			t.Fatalf("wallet extracts %s differently from %q", tag, v)
		}
	}
	return w
}

// checkHTTP checks the framing every answer must have: 200, Connection:
// close, Content-Length of the body as the last header, the terminator.
func checkHTTP(t testing.TB, raw string) {
	t.Helper()
	head, body, ok := strings.Cut(raw, "\r\n\r\n")
	if !ok {
		t.Fatalf("no header/body separator in %q", raw)
	}
	lines := strings.Split(head, "\r\n")
	if lines[0] != "HTTP/1.1 200 OK" {
		t.Fatalf("status line %q, want HTTP/1.1 200 OK", lines[0])
	}
	if !strings.Contains(head, "\r\nConnection: close") {
		t.Fatalf("no Connection: close in %q", head)
	}
	last := lines[len(lines)-1]
	cl, found := strings.CutPrefix(last, "Content-Length: ")
	if !found {
		t.Fatalf("last header line is %q, want Content-Length", last)
	}
	if n, _ := strconv.Atoi(cl); n != len(body) {
		t.Fatalf("Content-Length %s but body of %d bytes: %q", cl, len(body), body)
	}
	if !strings.HasSuffix(body, pphttp.Terminator) {
		t.Fatalf("body %q does not end with the terminator", body)
	}
}

func TestReadyToMine_NewMinerGetsWork(t *testing.T) {
	f := newFixture(t)
	a := post(t, f.addr, readyToMine(mainMiner+"/rig1", "main"))
	checkHTTP(t, a.Full)
	w := mustWork(t, a)
	if w.Address != mainPool {
		t.Errorf("ADDRESS %s, want the main pool address %s", w.Address, mainPool)
	}
	if err := biblepay.Networks["main"].ValidateAddress(w.Address); err != nil {
		t.Errorf("wallet would say INVALID POOL ADDRESS: %v", err)
	}
	if w.Target != biblepay.DefaultTarget {
		t.Errorf("HASHTARGET %s, want the default %s", w.Target, biblepay.DefaultTarget)
	}
	if want := events.MinerID("main", mainMiner).String(); w.MinerGUID != want {
		t.Errorf("MINERGUID %s, want %s", w.MinerGUID, want)
	}
	if !strings.HasPrefix(a.Raw[strings.Index(a.Raw, "\r\n\r\n")+4:], "<RESPONSE> <ADDRESS>") {
		t.Errorf("body does not start like the earlier pools': %q", a.Raw)
	}

	cmds := f.published(t)
	if len(cmds) != 1 {
		t.Fatalf("published %d commands, want 1 IssueWork", len(cmds))
	}
	iw, ok := cmds[0].(commands.IssueWork)
	if !ok {
		t.Fatalf("published %T, want IssueWork", cmds[0])
	}
	if iw.WorkID.String() != w.WorkID || iw.MinerID.String() != w.MinerGUID || iw.Target != w.Target ||
		iw.Network != "main" || iw.Address != mainMiner || iw.Worker != "rig1" || iw.ThreadID != 0 ||
		iw.Agent != "1.1.4.1" || iw.OS != "LIN" || iw.RemoteIP != "127.0.0.1" || iw.IssuedAt.IsZero() || iw.ID == uuid.Nil {
		t.Errorf("IssueWork %+v does not record the work answered %+v", iw, w)
	}

	// A second request is new work for the same miner.
	w2 := mustWork(t, post(t, f.addr, readyToMine(mainMiner+"/rig1", "main")))
	if w2.WorkID == w.WorkID || w2.MinerGUID != w.MinerGUID {
		t.Errorf("second work %+v vs first %+v: want a new work id, the same miner id", w2, w)
	}
}

func TestReadyToMine_DefaultWorkerAndNetworks(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		miner, network, pool, worker string
		thread                       string
	}{
		{mainMiner, "main", mainPool, "Default", "3"},
		{mainMiner + "/", "main", mainPool, "Default", "0"},
		{mainMiner + "//me@example.org", "main", mainPool, "Default", "1"},
		{testMiner + "/box", "test", testPool, "box", "1024"},
	} {
		q := readyToMine(tc.miner, tc.network)
		q.ThreadID = tc.thread
		w := mustWork(t, post(t, f.addr, q))
		if w.Address != tc.pool {
			t.Errorf("%s on %s: ADDRESS %s, want %s", tc.miner, tc.network, w.Address, tc.pool)
		}
		addr := strings.SplitN(tc.miner, "/", 2)[0]
		if w.MinerGUID != events.MinerID(tc.network, addr).String() {
			t.Errorf("%s on %s: MINERGUID %s", tc.miner, tc.network, w.MinerGUID)
		}
		cmds := f.published(t)
		if len(cmds) != 1 {
			t.Fatalf("%d commands", len(cmds))
		}
		iw := cmds[0].(commands.IssueWork)
		if iw.Worker != tc.worker || strconv.Itoa(iw.ThreadID) != tc.thread || iw.Network != tc.network {
			t.Errorf("%s: IssueWork worker %q thread %d network %s, want %q %s %s", tc.miner, iw.Worker, iw.ThreadID, iw.Network, tc.worker, tc.thread, tc.network)
		}
	}
}

func TestReadyToMine_MinerTargetFromReadModel(t *testing.T) {
	f := newFixture(t)
	target := strings.Repeat("0", 8) + "ABCD" + strings.Repeat("0", 52)
	f.miners.set("main", mainMiner, pphttp.Miner{Target: target})
	w := mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main")))
	if w.Target != strings.ToLower(target) {
		t.Errorf("HASHTARGET %s, want the miner's %s", w.Target, strings.ToLower(target))
	}
	// The same address on test is another miner, with the default target.
	w = mustWork(t, post(t, f.addr, readyToMine(testMiner, "test")))
	if w.Target != biblepay.DefaultTarget {
		t.Errorf("test miner HASHTARGET %s", w.Target)
	}
}

func TestReadyToMine_ConfiguredDefaultTarget(t *testing.T) {
	target := biblepay.TargetForDifficulty(1 << 20)
	f := newFixture(t, withConfig(func(c *pphttp.Config) {
		c.Networks["main"] = pphttp.NetworkConfig{PoolAddress: mainPool, DefaultTarget: target}
	}))
	if w := mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main"))); w.Target != target {
		t.Errorf("HASHTARGET %s, want the configured %s", w.Target, target)
	}
}

func TestSolution_AcknowledgedAfterPublish(t *testing.T) {
	f := newFixture(t)
	w := mustWork(t, post(t, f.addr, readyToMine(mainMiner+"/rig1", "main")))
	f.published(t)
	sol := shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()
	q := solutionRequest(mainMiner+"/rig1", "main", sol)
	q.ThreadID = "2"
	a := post(t, f.addr, q)
	checkHTTP(t, a.Full)
	if a.Error != "" {
		t.Fatalf("solution answered error %q", a.Error)
	}
	if want := "<STATUS>ok</STATUS><WORKID>" + w.WorkID + "</WORKID>"; a.Response != want {
		t.Errorf("RESPONSE %q, want %q", a.Response, want)
	}
	if !strings.Contains(a.Full, "<RESPONSE><STATUS>ok</STATUS><WORKID>"+w.WorkID+"</WORKID></RESPONSE><END></HTML>") {
		t.Errorf("answer %q is not the earlier pools' ok", a.Full)
	}
	cmds := f.published(t)
	if len(cmds) != 1 {
		t.Fatalf("published %d commands, want 1 SubmitSolution", len(cmds))
	}
	ss, ok := cmds[0].(commands.SubmitSolution)
	if !ok {
		t.Fatalf("published %T", cmds[0])
	}
	if ss.Solution != sol || ss.Network != "main" || ss.Address != mainMiner || ss.Worker != "rig1" ||
		ss.MinerID != events.MinerID("main", mainMiner) || ss.ThreadID != 2 || ss.RemoteIP != "127.0.0.1" ||
		ss.Agent != "1.1.4.1" || ss.OS != "LIN" || ss.ReceivedAt.IsZero() || ss.ID == uuid.Nil {
		t.Errorf("SubmitSolution %+v does not carry the share as sent", ss)
	}
}

func TestAnswersOverTLSWithoutSNI(t *testing.T) {
	cert := selfSigned(t)
	f2 := newFixture(t, withTLS(cert)) // plain and TLS listeners
	a, st := postTLS(t, f2.tlsAddr, readyToMine(mainMiner, "main"))
	if len(st.PeerCertificates) == 0 || !st.PeerCertificates[0].Equal(cert.Leaf) {
		t.Fatal("server did not present its certificate to a client without SNI")
	}
	if st.NegotiatedProtocol == "h2" {
		t.Error("HTTP/2 negotiated; the wallet speaks HTTP/1.1")
	}
	checkHTTP(t, a.Full)
	w := mustWork(t, a)
	sol := shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()
	a, _ = postTLS(t, f2.tlsAddr, solutionRequest(mainMiner, "main", sol))
	if a.Error != "" || a.Response != "<STATUS>ok</STATUS><WORKID>"+w.WorkID+"</WORKID>" {
		t.Errorf("solution over TLS: %q", a.Raw)
	}
	a, _ = postTLS(t, f2.tlsAddr, walletRequest{Action: "nope", Network: "main"})
	if a.Error != "UNKNOWN ACTION nope" {
		t.Errorf("error over TLS: %q", a.Raw)
	}
	// And the plain listener of the same server still answers.
	mustWork(t, post(t, f2.addr, readyToMine(mainMiner, "main")))
}

func TestErrorPaths(t *testing.T) {
	f := newFixture(t)
	other := events.MinerID("main", biblepay.Networks["main"].Address([20]byte{9}))
	tests := []struct {
		name  string
		setup func()
		q     walletRequest
		want  string
	}{
		{"disabled miner", func() { f.miners.set("main", mainMiner, pphttp.Miner{Disabled: true}) },
			readyToMine(mainMiner+"/rig", "main"), "Miner " + mainMiner + " is disabled"},
		{"disabled on main is not disabled on test", func() {},
			readyToMine(testMiner, "test"), ""},
		{"read model down", func() { f.miners.err = errors.New("connection refused") },
			readyToMine(mainMiner, "main"), "HEALTH_DOWN"},
		{"node stale on main", func() { f.miners.err = nil; f.health.setDown("main", errors.New("node tip 20 min old")) },
			readyToMine(testMiner, "main"), "WorkerID " + testMiner + " is invalid"},
		{"node stale on main: work", func() {},
			readyToMine(biblepay.Networks["main"].Address([20]byte{5}), "main"), "HEALTH_DOWN"},
		{"node stale on main: solution", func() {},
			solutionRequest(mainMiner, "main", shareOf(t, "main", mainMiner, uuid.New()).String()), "HEALTH_DOWN"},
		{"test still healthy", func() {},
			readyToMine(testMiner, "test"), ""},
		{"solution of another miner", func() { f.health.setDown("main", nil) },
			solutionRequest(mainMiner, "main", func() string {
				s := shareOf(t, "main", mainMiner, uuid.New())
				s.MinerID = other
				return s.String()
			}()), "Invalid solution: field 5 (miner guid) " + other.String() + " is not the miner id of " + mainMiner + " on main"},
		{"solution with a test miner id on main", func() {},
			solutionRequest(mainMiner, "main", func() string {
				s := shareOf(t, "main", mainMiner, uuid.New())
				s.MinerID = events.MinerID("test", mainMiner)
				return s.String()
			}()), "Invalid solution: field 5"},
	}
	for _, tc := range tests {
		tc.setup()
		a := post(t, f.addr, tc.q)
		checkHTTP(t, a.Full)
		cmds := f.published(t)
		if tc.want == "" {
			if a.Error != "" || len(cmds) != 1 {
				t.Errorf("%s: answered %q, published %d", tc.name, a.Raw, len(cmds))
			}
			continue
		}
		if !strings.HasPrefix(a.Error, tc.want) {
			t.Errorf("%s: ERROR %q, want %q", tc.name, a.Error, tc.want)
		}
		if len(cmds) != 0 {
			t.Errorf("%s: published %d commands on an error", tc.name, len(cmds))
		}
		// The exact protocol error format: <RESPONSE>m</RESPONSE><ERROR>m</ERROR><EOF>.
		body := a.Full[strings.Index(a.Full, "\r\n\r\n")+4:]
		if want := "<RESPONSE>" + a.Error + "</RESPONSE><ERROR>" + a.Error + "</ERROR><EOF>" + pphttp.Terminator; body != want {
			t.Errorf("%s: body %q, want %q", tc.name, body, want)
		}
	}
}

func TestHealthDownIsTheOfficialPoolsString(t *testing.T) {
	f := newFixture(t)
	f.health.setDown("main", errors.New("broker disconnected"))
	for _, q := range []walletRequest{
		readyToMine(mainMiner, "main"),
		solutionRequest(mainMiner, "main", shareOf(t, "main", mainMiner, uuid.New()).String()),
	} {
		a := post(t, f.addr, q)
		if !strings.Contains(a.Raw, "\r\n\r\n<RESPONSE>HEALTH_DOWN</RESPONSE><ERROR>HEALTH_DOWN</ERROR><EOF>") {
			t.Errorf("%s: %q", q.Action, a.Raw)
		}
	}
	if n := f.bus.Len(); n != 0 {
		t.Errorf("published %d commands while down", n)
	}
}

func TestBrokerDownNothingAcknowledged(t *testing.T) {
	f := newFixture(t)
	w := mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main")))
	f.published(t)
	f.bus.Close() // the broker is gone: every Publish fails
	sol := shareOf(t, "main", mainMiner, uuid.MustParse(w.WorkID)).String()
	a := post(t, f.addr, solutionRequest(mainMiner, "main", sol))
	if a.Error != "HEALTH_DOWN" || strings.Contains(a.Raw, "<STATUS>ok") {
		t.Errorf("solution with the broker down answered %q", a.Raw)
	}
	a = post(t, f.addr, readyToMine(mainMiner, "main"))
	if a.Error != "HEALTH_DOWN" || strings.Contains(a.Raw, "<WORKID>") {
		t.Errorf("readytomine2 with the broker down answered %q (wallets must mine solo)", a.Raw)
	}
	if !strings.Contains(f.logs.String(), "inproc: bus closed") {
		t.Error("the publish failure is not logged")
	}
}

func TestPanicAnswersInProtocolFormat(t *testing.T) {
	f := newFixture(t)
	f.miners.panic = true
	a := post(t, f.addr, readyToMine(mainMiner, "main"))
	checkHTTP(t, a.Full)
	if a.Error != "Internal error" {
		t.Errorf("panic answered %q", a.Raw)
	}
	if !strings.Contains(f.logs.String(), "directory exploded") {
		t.Error("panic not logged")
	}
	f.miners.panic = false
	mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main"))) // still serving
}

func TestRateLimitPerIP(t *testing.T) {
	f := newFixture(t, withConfig(func(c *pphttp.Config) { c.RateLimit = 3 }))
	for i := range 3 {
		if a := post(t, f.addr, readyToMine(mainMiner, "main")); a.Error != "" {
			t.Fatalf("request %d within the limit answered %q", i, a.Error)
		}
	}
	f.published(t)
	a := post(t, f.addr, readyToMine(mainMiner, "main"))
	checkHTTP(t, a.Full)
	if a.Error != "Rate limit exceeded" {
		t.Errorf("4th request answered %q", a.Raw)
	}
	if strings.Contains(a.Raw, "X-Ratelimit") || strings.Contains(a.Raw, "X-RateLimit") {
		t.Errorf("rate limit headers sent: %q", a.Raw)
	}
	if n := f.bus.Len(); n != 0 {
		t.Errorf("rate-limited request published %d commands", n)
	}
}

func TestUnknownAndMissingAction(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct{ action, want string }{
		{"", "UNKNOWN ACTION EMPTY"},
		{"getwork", "UNKNOWN ACTION getwork"},
		{"<ERROR>x</ERROR>", "UNKNOWN ACTION ?ERROR?x?/ERROR?"},
	} {
		q := readyToMine(mainMiner, "main")
		q.Action = tc.action
		if tc.action == "" {
			q.Omit = map[string]bool{"Action": true}
		}
		a := post(t, f.addr, q)
		if resp := biblepay.ExtractXML(a.Full, "<RESPONSE>", "</RESPONSE>"); a.Error != tc.want || resp != tc.want {
			t.Errorf("Action %q: ERROR %q RESPONSE %q, want %q", tc.action, a.Error, resp, tc.want)
		}
	}
}

// TestMalformedInputs: every malformed header or solution gets a protocol
// error and publishes nothing.
func TestMalformedInputs(t *testing.T) {
	f := newFixture(t)
	good := func() biblepay.Solution { return shareOf(t, "main", mainMiner, uuid.New()) }
	field := func(i int, v string) string {
		parts := strings.Split(good().String(), ",")
		parts[i] = v
		return strings.Join(parts, ",")
	}
	sol := func(mod func(*biblepay.Solution)) string {
		s := good()
		mod(&s)
		return s.String()
	}
	badChecksum := mainMiner[:len(mainMiner)-1] + map[bool]string{true: "2", false: "3"}[mainMiner[len(mainMiner)-1] != '2']
	p2sh := biblepay.Networks["main"]
	p2sh.PubKeyHashVer = p2sh.ScriptHashVer
	withQ := func(mod func(*walletRequest)) walletRequest {
		q := readyToMine(mainMiner, "main")
		mod(&q)
		return q
	}
	withS := func(s string) walletRequest { return solutionRequest(mainMiner, "main", s) }
	longBody := strings.Repeat("x", 100)

	tests := []struct {
		name string
		q    walletRequest
		want string // the whole message, or its start when it ends in "…"
	}{
		{"action upper case", withQ(func(q *walletRequest) { q.Action = "READYTOMINE2" }), "UNKNOWN ACTION READYTOMINE2"},
		{"action twice", withQ(func(q *walletRequest) { q.Extra = map[string]string{"ACTION": "solution"} }), "Invalid Action header"},
		{"network missing", withQ(func(q *walletRequest) { q.Omit = map[string]bool{"NetworkID": true} }), "Invalid network"},
		{"network empty", withQ(func(q *walletRequest) { q.Network = "" }), "Invalid network"},
		{"network not configured", withQ(func(q *walletRequest) { q.Network = "regtest" }), "Invalid network"},
		{"network wrong case", withQ(func(q *walletRequest) { q.Network = "Main" }), "Invalid network"},
		{"miner missing", withQ(func(q *walletRequest) { q.Omit = map[string]bool{"Miner": true} }), "WorkerID is missing"},
		{"miner empty", withQ(func(q *walletRequest) { q.Miner = "" }), "WorkerID is missing"},
		{"miner slash", withQ(func(q *walletRequest) { q.Miner = "/" }), "WorkerID / is invalid"},
		{"miner two slashes", withQ(func(q *walletRequest) { q.Miner = "//" }), "WorkerID // is invalid"},
		{"miner not an address", withQ(func(q *walletRequest) { q.Miner = "notanaddress/rig" }), "WorkerID notanaddress/rig is invalid"},
		{"miner PP-style fake", withQ(func(q *walletRequest) { q.Miner = "B" + strings.Repeat("1", 33) }), "WorkerID B" + strings.Repeat("1", 33) + " is invalid"},
		{"miner bad checksum", withQ(func(q *walletRequest) { q.Miner = badChecksum }), "WorkerID " + badChecksum + " is invalid"},
		{"miner test address on main", withQ(func(q *walletRequest) { q.Miner = testMiner }), "WorkerID " + testMiner + " is invalid"},
		{"miner P2SH address", withQ(func(q *walletRequest) { q.Miner = p2sh.Address([20]byte{1}) }), "WorkerID " + p2sh.Address([20]byte{1}) + " is invalid"},
		{"miner worker too long", withQ(func(q *walletRequest) { q.Miner = mainMiner + "/" + strings.Repeat("w", 65) }), "WorkerID " + mainMiner + "/wwwwwwwwwwwwwwwwwwwwwwwwwwwww... is invalid"},
		{"miner worker with markup", withQ(func(q *walletRequest) { q.Miner = mainMiner + "/<b>" }), "WorkerID " + mainMiner + "/?b? is invalid"},
		{"miner twice", withQ(func(q *walletRequest) { q.Extra = map[string]string{"MINER": mainMiner} }), "Invalid Miner header"},
		{"thread id not a number", withQ(func(q *walletRequest) { q.ThreadID = "abc" }), "ThreadID abc is invalid"},
		{"thread id negative", withQ(func(q *walletRequest) { q.ThreadID = "-1" }), "ThreadID -1 is invalid"},
		{"thread id too large", withQ(func(q *walletRequest) { q.ThreadID = "99999" }), "ThreadID 99999 is invalid"},
		{"thread id leading zero", withQ(func(q *walletRequest) { q.ThreadID = "01" }), "ThreadID 01 is invalid"},
		{"thread id plus sign", withQ(func(q *walletRequest) { q.ThreadID = "+1" }), "ThreadID +1 is invalid"},
		{"agent too long", withQ(func(q *walletRequest) { q.Agent = strings.Repeat("1.", 40) }), "Invalid Agent header"},
		{"agent with markup", withQ(func(q *walletRequest) { q.Agent = "<script>" }), "Invalid Agent header"},
		{"os too long", withQ(func(q *walletRequest) { q.OS = strings.Repeat("L", 17) }), "Invalid OS header"},
		{"os with a control character", withQ(func(q *walletRequest) { q.OS = "LIN\x01" }), "Bad request"},
		{"body too large", withQ(func(q *walletRequest) { q.Body = &longBody }), "Request too large"},
		{"solution missing", withQ(func(q *walletRequest) { q.Action = "solution"; q.Solution = "" }), "Solution is missing"},
		{"solution header absent", withQ(func(q *walletRequest) { q.Action = "solution"; q.Omit = map[string]bool{"Solution": true} }), "Solution is missing"},
		{"solution twice", withQ(func(q *walletRequest) {
			q.Action = "solution"
			q.Solution = good().String()
			q.Extra = map[string]string{"SOLUTION": good().String()}
		}), "Invalid Solution header"},
		{"solution 15 fields", withS(strings.Join(strings.Split(good().String(), ",")[:15], ",")), "Invalid solution: 15 fields, want 16"},
		{"solution 17 fields", withS(good().String() + ",x"), "Invalid solution: 17 fields, want 16"},
		{"solution 12 fields (1.0.6.6)", withS(strings.Join(strings.Split(good().String(), ",")[:12], ",")), "Invalid solution: 12 fields, want 16"},
		{"solution garbage", withS("hello"), "Invalid solution: 1 fields, want 16"},
		{"block hash not hex", withS(field(0, strings.Repeat("z", 64))), "Invalid solution: field 0 (block hash)…"},
		{"block hash short", withS(field(0, "abc")), "Invalid solution: field 0 (block hash)…"},
		{"block time not a number", withS(field(1, "abc")), "Invalid solution: field 1 (block time)…"},
		{"block time not the header's", withS(sol(func(s *biblepay.Solution) { s.BlockTime++ })), "Invalid solution: field 1 (block time): header time is 1518041523"},
		{"previous block time zero", withS(field(2, "0")), "Invalid solution: field 2 (previous block time)…"},
		{"previous height negative", withS(field(3, "-1")), "Invalid solution: field 3 (previous height)…"},
		{"bible hash short", withS(field(4, "0000000e5b")), "Invalid solution: field 4 (bible hash)…"},
		{"miner guid not a uuid", withS(field(5, "not-a-guid")), "Invalid solution: field 5 (miner guid)…"},
		{"miner guid without dashes", withS(field(5, strings.ReplaceAll(events.MinerID("main", mainMiner).String(), "-", ""))), "Invalid solution: field 5 (miner guid)…"},
		{"work id empty", withS(field(6, "")), "Invalid solution: field 6 (work id)…"},
		{"thread id too large", withS(field(7, "5000")), "Invalid solution: field 7 (thread id)…"},
		{"hash counter with a space", withS(field(10, "1 2")), "Invalid solution: field 10 (hash counter)…"},
		{"nonce not the header's", withS(sol(func(s *biblepay.Solution) { s.Nonce++ })), "Invalid solution: field 13 (nonce): header nonce is 14217"},
		{"nonce beyond 32 bits", withS(field(13, "4294967296")), "Invalid solution: field 13 (nonce)…"},
		{"block hex odd", withS(sol(func(s *biblepay.Solution) { s.BlockHex += "a" })), "Invalid solution: field 14 (block hex): odd number of hex digits…"},
		{"block hex only a header", withS(sol(func(s *biblepay.Solution) { s.BlockHex = s.BlockHex[:160] })), "Invalid solution: field 14 (block hex)…"},
		{"block hex not hex", withS(sol(func(s *biblepay.Solution) { s.BlockHex = strings.Repeat("g", 200) })), "Invalid solution: field 14 (block hex)…"},
		{"coinbase empty", withS(sol(func(s *biblepay.Solution) { s.TransactionHex = "" })), "Invalid solution: field 15 (coinbase hex)…"},
		{"coinbase not in the block", withS(sol(func(s *biblepay.Solution) { s.TransactionHex = "deadbeef" })), "Invalid solution: field 15 (coinbase hex): not part of the block"},
		{"markup in a field", withS(field(1, "<END>")), "Invalid solution: field 1 (block time): \"?END?\" is not a decimal number"},
	}
	if len(tests) < 30 {
		t.Fatalf("only %d malformed inputs", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, f.addr, tc.q)
			checkHTTP(t, a.Full)
			if prefix, ok := strings.CutSuffix(tc.want, "…"); ok {
				if !strings.HasPrefix(a.Error, prefix) {
					t.Errorf("ERROR %q, want it to start with %q", a.Error, prefix)
				}
			} else if a.Error != tc.want {
				t.Errorf("ERROR %q, want %q", a.Error, tc.want)
			}
			if a.Response != "" {
				t.Errorf("the wallet would use RESPONSE %q", a.Response)
			}
			if strings.Contains(a.Raw, "<WORKID>") || strings.Contains(a.Raw, "<STATUS>") {
				t.Errorf("error answer carries work or status: %q", a.Raw)
			}
			if n := f.bus.Len(); n != 0 {
				f.published(t)
				t.Errorf("published %d commands for malformed input", n)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	f := newFixture(t)
	get := func() (int, string) {
		a, err := tryGet(f.addr, "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		return a.status, a.body
	}
	if code, body := get(); code != 200 || !strings.Contains(body, `"main":"ok"`) || !strings.Contains(body, `"test":"ok"`) {
		t.Errorf("healthy: %d %s", code, body)
	}
	f.health.setDown("test", errors.New("node stale"))
	if code, body := get(); code != 503 || !strings.Contains(body, `"test":"down"`) || strings.Contains(body, "node stale") || !strings.Contains(body, `"main":"ok"`) {
		t.Errorf("test down: %d %s", code, body)
	}
	if !strings.Contains(f.logs.String(), "node stale") {
		t.Error("the reason is not logged")
	}
}

func TestWebMountedAtRoot(t *testing.T) {
	f := newFixture(t, withWeb(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "web:"+r.URL.Path)
	})))
	a, err := tryGet(f.addr, "/miners/x")
	if err != nil {
		t.Fatal(err)
	}
	if a.status != 200 || a.body != "web:/miners/x" {
		t.Errorf("website: %d %q", a.status, a.body)
	}
	mustWork(t, post(t, f.addr, readyToMine(mainMiner, "main"))) // Action.aspx still the pool's
	if a, _ := tryGet(f.addr, "/healthz"); a.status != 200 || !strings.Contains(a.body, "ok") {
		t.Errorf("healthz under a website: %d %q", a.status, a.body)
	}
}

func TestGracefulShutdownFinishesSolutionsInFlight(t *testing.T) {
	bus := inproc.New()
	gate := &gatedPublisher{next: bus, entered: make(chan struct{}, 1), release: make(chan struct{})}
	f := newFixture(t, withPublisher(gate))
	sol := shareOf(t, "main", mainMiner, uuid.New())
	got := make(chan walletAnswer, 1)
	go func() {
		a, err := tryPost(f.addr, solutionRequest(mainMiner, "main", sol.String()))
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	<-gate.entered // the solution waits for its confirmation
	f.stop()       // SIGTERM
	select {
	case err := <-f.stopped:
		t.Fatalf("server stopped (%v) with a solution in flight", err)
	case <-timeAfter(200):
	}
	close(gate.release)
	a := <-got
	if a.Error != "" || a.Response != "<STATUS>ok</STATUS><WORKID>"+sol.WorkID.String()+"</WORKID>" {
		t.Errorf("in-flight solution answered %q", a.Raw)
	}
	if err := <-f.stopped; err != nil {
		t.Errorf("Run returned %v after a clean shutdown", err)
	}
	f.stopped <- nil // for the cleanup
	if bus.Len() != 1 {
		t.Errorf("the in-flight solution's command was not published")
	}
	if _, err := tryPost(f.addr, readyToMine(mainMiner, "main")); err == nil {
		t.Error("server still accepting after shutdown")
	}
}

func TestConfigRefused(t *testing.T) {
	d, b := newMemDirectory(), inproc.New()
	for name, cfg := range map[string]pphttp.Config{
		"no network":         {},
		"unknown network":    {Networks: map[string]pphttp.NetworkConfig{"moon": {PoolAddress: mainPool}}},
		"test pool on main":  {Networks: map[string]pphttp.NetworkConfig{"main": {PoolAddress: testPool}}},
		"bad default target": {Networks: map[string]pphttp.NetworkConfig{"main": {PoolAddress: mainPool, DefaultTarget: "1111"}}},
	} {
		if _, err := pphttp.NewActionHandler(cfg, d, nil, b, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := pphttp.NewActionHandler(testConfig(), nil, nil, b, nil); err == nil {
		t.Error("nil directory accepted")
	}
	if _, err := pphttp.NewActionHandler(testConfig(), d, nil, nil, nil); err == nil {
		t.Error("nil publisher accepted")
	}
}
