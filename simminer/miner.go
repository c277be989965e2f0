// Package simminer is a simulated BiblePay wallet miner. It speaks the pool
// protocol byte for byte as the 2018 wallet does (spec §1.2–1.7), builds
// its shares from real block templates of a (simulated) node, searches the
// stand-in BibleHash like the wallet searches the real one, and submits a
// block to the node when a share also beats the network target. It doubles
// as a load generator and can misbehave on purpose for tests.
//
//	m, err := simminer.New(simminer.Config{Pool: "http://127.0.0.1:8080", Worker: addr + "/rig1",
//		Network: biblepay.Networks["test"], Node: client, Threads: 2, Paced: true})
//	err = m.Run(ctx)                     // mine until ctx ends; m.Report() has requests/s and latencies
//
//	w, err := m.RequestWork(ctx, 0)       // one readytomine2, with the wallet's checks
//	s, err := m.Mine(ctx, w, 0)           // a share from a fresh template (s.Solution, s.IsBlock)
//	reply, err := m.Submit(ctx, 0, s)     // the solution request; submitblock too if s.IsBlock
//	reply, err = m.SubmitSolution(ctx, 0, "any,string") // a raw solution header
package simminer

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/rpcclient"
)

// Misbehaviour makes the miner send bad shares on purpose.
type Misbehaviour int

const (
	Honest           Misbehaviour = iota
	StaleHeight                   // field 3 is 5 below the tip (BibleHash computed with it)
	ForeignRecipient              // the coinbase pays ForeignAddress instead of the pool
	ReuseSolution                 // every solution is sent twice
	GarbageFields                 // a field of the solution is replaced by garbage
	HugeHeader                    // the Solution header is padded to HugeHeaderBytes
	Unsolved                      // the first nonce is sent without searching (high hash)
)

// Misbehaviours by name, for flags.
var Misbehaviours = map[string]Misbehaviour{
	"honest": Honest, "stale": StaleHeight, "foreign": ForeignRecipient, "reuse": ReuseSolution,
	"garbage": GarbageFields, "huge": HugeHeader, "unsolved": Unsolved,
}

// Config configures a miner.
type Config struct {
	// Pool is the pool URL as in the wallet's pool= setting, http://host or
	// https://host. A :port here is taken as the wallet's poolport setting
	// (default 80, or 443 for https); the Host header never carries it.
	Pool string
	// Worker is the workerid setting: address[/worker[/email]].
	Worker  string
	Network biblepay.Network // default test
	Version string           // wallet version, default 1.1.4.1
	OS      string           // default LIN
	Threads int              // default 1
	// HashRate is each thread's hash rate (hashes/s); 0 hashes as fast as
	// the CPU allows.
	HashRate float64
	// Paced applies the wallet's timing: a thread submits at most one share
	// per ShareInterval and asks for work at most once per WorkInterval,
	// threads share the cached work (same WORKID) and the cache is cleared
	// after each share. Unpaced, every thread asks for work before each
	// share and never waits: a load generator.
	Paced         bool
	ShareInterval time.Duration // default 2 min
	WorkInterval  time.Duration // default 3 min
	// Node supplies block templates and receives blocks.
	Node            *rpcclient.Client
	Misbehave       Misbehaviour
	ForeignAddress  string // for ForeignRecipient; default a fixed address of the network
	HugeHeaderBytes int    // for HugeHeader; default 2 MiB
	Timeout         time.Duration
	Logger          *slog.Logger
}

// Miner is a simulated wallet miner.
type Miner struct {
	cfg      Config
	host     string
	addr     string
	tls      bool
	log      *slog.Logger
	start    time.Time
	hashes   atomic.Uint64
	prevTime sync.Map // prev block hash → time

	busy    chan struct{} // the wallet's BusyWait: one thread talks to the pool at a time
	cacheMu sync.Mutex
	cache   *Work // the wallet's poolcache, shared by threads
	cached  time.Time

	statsMu   sync.Mutex
	latencies []time.Duration
	requests  int64
	failures  int64
	shares    int64
	blocks    int64
	poolErrs  map[string]int64
}

// New checks the configuration and returns a miner.
func New(cfg Config) (*Miner, error) {
	if cfg.Network.Name == "" {
		cfg.Network = biblepay.Networks["test"]
	}
	if cfg.Version == "" {
		cfg.Version = "1.1.4.1"
	}
	if cfg.OS == "" {
		cfg.OS = "LIN"
	}
	if cfg.Threads <= 0 {
		cfg.Threads = 1
	}
	if cfg.ShareInterval <= 0 {
		cfg.ShareInterval = 2 * time.Minute
	}
	if cfg.WorkInterval <= 0 {
		cfg.WorkInterval = 3 * time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if cfg.HugeHeaderBytes <= 0 {
		cfg.HugeHeaderBytes = 2 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ForeignAddress == "" {
		cfg.ForeignAddress = cfg.Network.Address([20]byte{0xf0, 0xe1, 0xd2})
	}
	u, err := url.Parse(cfg.Pool)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("simminer: pool URL %q must be http://host or https://host", cfg.Pool)
	}
	m := &Miner{cfg: cfg, host: u.Hostname(), tls: u.Scheme == "https", log: cfg.Logger, start: time.Now(), poolErrs: map[string]int64{}, busy: make(chan struct{}, 1)}
	port := u.Port()
	if port == "" {
		port = map[bool]string{false: "80", true: "443"}[m.tls]
	}
	m.addr = net.JoinHostPort(u.Hostname(), port)
	return m, nil
}

// Request builds the wallet's request for an action.
func (m *Miner) Request(action string, threadID int, solution string) Request {
	return Request{Host: m.host, Version: m.cfg.Version, Action: action, Miner: m.cfg.Worker,
		NetworkID: m.cfg.Network.Name, OS: m.cfg.OS, Solution: solution, ThreadID: threadID}
}

// Do sends raw request bytes and reads the reply as the wallet does.
func (m *Miner) Do(ctx context.Context, req []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	began := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		m.record(0, err)
		return "", err
	}
	defer conn.Close()
	if m.tls {
		// The wallet sets no SNI and verifies nothing (spec §1.1).
		tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true})
		if err := tc.HandshakeContext(ctx); err != nil {
			m.record(0, err)
			return "", err
		}
		conn = tc
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	if _, err := conn.Write(req); err != nil {
		m.record(0, err)
		return "", err
	}
	raw, err := ReadResponse(conn)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() && raw != "" {
		err = nil // the wallet's timeout just ends the read; it parses what it has
	}
	m.record(time.Since(began), err)
	return raw, err
}

// RequestWork asks the pool for work (readytomine2) and applies the
// wallet's checks; a failure the wallet would show is a *PoolError.
func (m *Miner) RequestWork(ctx context.Context, threadID int) (Work, error) {
	raw, err := m.Do(ctx, m.Request("readytomine2", threadID, "").Bytes())
	if err != nil {
		return Work{}, fmtErr("readytomine2", err)
	}
	w, err := ParseWork(raw, m.cfg.Network)
	if err != nil {
		m.poolError(err)
		return Work{}, fmtErr("readytomine2", err)
	}
	return w, nil
}

// SubmitSolution sends a solution string and returns the pool's reply.
func (m *Miner) SubmitSolution(ctx context.Context, threadID int, solution string) (SubmitReply, error) {
	raw, err := m.Do(ctx, m.Request("solution", threadID, solution).Bytes())
	if err != nil {
		return SubmitReply{Raw: raw}, fmtErr("solution", err)
	}
	r := ParseSubmitReply(raw)
	if r.Error != "" {
		m.poolError(&PoolError{Reason: r.Error})
	}
	return r, nil
}

// Share is a found share.
type Share struct {
	Fields    []string // the 16 fields
	Solution  string   // the comma-joined solution string
	BlockHex  string
	BibleHash string
	IsBlock   bool // the BibleHash also meets the network target
	Height    int64
}

// thread is one mining thread's counters.
type thread struct {
	id          int
	start       int64 // ms
	hashCounter uint64
	extraNonce  uint64
}

// Mine finds a share for the work on a fresh block template: the coinbase
// pays work.Address with <VER>…</VER><MINERGUID>…</MINERGUID>, nonces run
// from 0 to min(0x9FFF, the max-nonce rule) and the extra nonce moves on
// after each range, as the wallet does.
func (m *Miner) Mine(ctx context.Context, w Work, threadID int) (Share, error) {
	return m.mine(ctx, w, &thread{id: threadID, start: time.Now().UnixMilli()})
}

func (m *Miner) mine(ctx context.Context, w Work, th *thread) (Share, error) {
	if m.cfg.Node == nil {
		return Share{}, errors.New("simminer: no node for block templates")
	}
	payTo := w.Address
	if m.cfg.Misbehave == ForeignRecipient {
		payTo = m.cfg.ForeignAddress
	}
	script, err := m.cfg.Network.ScriptForAddress(payTo)
	if err != nil {
		return Share{}, fmt.Errorf("simminer: pay to %q: %w", payTo, err)
	}
	for {
		tmpl, err := m.cfg.Node.GetBlockTemplate(ctx)
		if err != nil {
			return Share{}, fmt.Errorf("simminer: getblocktemplate: %w", err)
		}
		prevTime, err := m.blockTime(ctx, tmpl.PreviousBlockHash)
		if err != nil {
			return Share{}, err
		}
		prev, err := biblepay.ParseHashString(tmpl.PreviousBlockHash)
		if err != nil {
			return Share{}, fmt.Errorf("simminer: template: %w", err)
		}
		bits, err := strconv.ParseUint(tmpl.Bits, 16, 32)
		if err != nil {
			return Share{}, fmt.Errorf("simminer: template bits %q: %w", tmpl.Bits, err)
		}
		netTarget := biblepay.CompactToTarget(uint32(bits))
		var mempool []biblepay.Tx
		for _, t := range tmpl.Transactions {
			tx, err := biblepay.ParseTxHex(t.Data)
			if err != nil {
				return Share{}, fmt.Errorf("simminer: template transaction: %w", err)
			}
			mempool = append(mempool, tx)
		}
		prevHeight := tmpl.Height - 1
		claimedPrevHeight := prevHeight
		if m.cfg.Misbehave == StaleHeight {
			claimedPrevHeight = max(prevHeight-5, 0)
		}
		// Rebuild the template every few extra nonces so the tip is fresh.
		for range 16 {
			th.extraNonce++
			cb := biblepay.Tx{Version: 1,
				Inputs: []biblepay.TxIn{{PrevOut: biblepay.OutPoint{Index: 0xffffffff},
					ScriptSig: biblepay.CoinbaseScript(tmpl.Height, th.extraNonce^uint64(th.id)<<48), Sequence: 0xffffffff}},
				Outputs: []biblepay.TxOut{{Value: tmpl.CoinbaseValue, ScriptPubKey: script,
					Message: biblepay.PoolCoinbaseMessage(m.cfg.Version, w.MinerGUID)}},
			}
			txs := append([]biblepay.Tx{cb}, mempool...)
			h := biblepay.Header{Version: tmpl.Version, PrevBlock: prev, MerkleRoot: biblepay.MerkleRoot(txs),
				Time: uint32(max(time.Now().Unix(), tmpl.MinTime)), Bits: uint32(bits)}
			maxNonce := min(biblepay.MaxNonce(int64(h.Time)-prevTime), 0x9FFF)
			for nonce := int64(0); nonce <= maxNonce; nonce++ {
				if nonce&255 == 0 {
					if err := ctx.Err(); err != nil {
						return Share{}, err
					}
					m.throttle(th)
				}
				h.Nonce = uint32(nonce)
				hdr := h.Bytes()
				blockHash := biblepay.SimBlockHash(hdr)
				bh := biblepay.SimBibleHash(blockHash, int64(h.Time), prevTime, claimedPrevHeight, h.Nonce)
				th.hashCounter++
				m.hashes.Add(1)
				v, _ := biblepay.ParseHash(bh)
				if m.cfg.Misbehave != Unsolved && v.Cmp(w.Target) > 0 {
					continue
				}
				block := biblepay.Block{Header: h, Txs: txs}
				return m.share(w, th, block, blockHash, bh, prevTime, claimedPrevHeight, v.Cmp(netTarget) <= 0 && m.cfg.Misbehave != StaleHeight && m.cfg.Misbehave != Unsolved, tmpl.Height), nil
			}
		}
	}
}

// throttle sleeps to hold the thread's hash rate.
func (m *Miner) throttle(th *thread) {
	if m.cfg.HashRate <= 0 {
		return
	}
	due := time.UnixMilli(th.start).Add(time.Duration(float64(th.hashCounter) / m.cfg.HashRate * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

func (m *Miner) share(w Work, th *thread, bl biblepay.Block, blockHash [32]byte, bibleHash string, prevTime, prevHeight int64, isBlock bool, height int64) Share {
	blockHex := hex.EncodeToString(bl.Bytes())
	now := time.Now().UnixMilli()
	f := []string{
		biblepay.HashString(blockHash),
		strconv.FormatInt(int64(bl.Header.Time), 10),
		strconv.FormatInt(prevTime, 10),
		strconv.FormatInt(prevHeight, 10),
		bibleHash,
		w.MinerGUID,
		w.WorkID,
		strconv.Itoa(th.id),
		strconv.FormatUint(th.hashCounter, 10),
		strconv.FormatInt(th.start, 10),
		strconv.FormatUint(m.hashes.Load(), 10),
		strconv.FormatInt(m.start.UnixMilli(), 10),
		strconv.FormatInt(now, 10),
		strconv.FormatUint(uint64(bl.Header.Nonce), 10),
		blockHex,
		hex.EncodeToString(bl.Txs[0].Bytes()),
	}
	if m.cfg.Misbehave == GarbageFields {
		sum := sha256.Sum256([]byte(blockHex))
		i := int(sum[0]) % 14 // never the hex fields, which would just be long garbage
		f[i] = []string{"-1", "zz", "", "0x10", "1e5", "NaN", "<script>"}[int(sum[1])%7]
	}
	return Share{Fields: f, Solution: strings.Join(f, ","), BlockHex: blockHex, BibleHash: bibleHash, IsBlock: isBlock, Height: height}
}

// blockTime is a block's time, cached.
func (m *Miner) blockTime(ctx context.Context, hash string) (int64, error) {
	if v, ok := m.prevTime.Load(hash); ok {
		return v.(int64), nil
	}
	b, err := m.cfg.Node.GetBlock(ctx, hash)
	if err != nil {
		return 0, fmt.Errorf("simminer: getblock %s: %w", hash, err)
	}
	m.prevTime.Store(hash, b.Time)
	return b.Time, nil
}

// Submit sends a share as the wallet does (with this miner's
// misbehaviour), then submits the block to the node if it is one.
func (m *Miner) Submit(ctx context.Context, threadID int, s Share) (SubmitReply, error) {
	sol := s.Solution
	if m.cfg.Misbehave == HugeHeader {
		pad := m.cfg.HugeHeaderBytes - len(sol)
		if pad > 0 {
			sol += strings.Repeat("0", pad)
		}
	}
	r, err := m.SubmitSolution(ctx, threadID, sol)
	if err == nil && m.cfg.Misbehave == ReuseSolution {
		r, err = m.SubmitSolution(ctx, threadID, sol)
	}
	m.statsMu.Lock()
	m.shares++
	m.statsMu.Unlock()
	if s.IsBlock {
		if berr := m.cfg.Node.SubmitBlock(ctx, s.BlockHex); berr != nil {
			m.log.Warn("simminer: submitblock", "height", s.Height, "err", berr)
		} else {
			m.statsMu.Lock()
			m.blocks++
			m.statsMu.Unlock()
		}
	}
	return r, err
}

// Run mines with cfg.Threads threads until ctx ends.
func (m *Miner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for i := range m.cfg.Threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.runThread(ctx, i)
		}()
	}
	wg.Wait()
	if errors.Is(ctx.Err(), context.Canceled) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil
	}
	return ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (m *Miner) runThread(ctx context.Context, id int) {
	th := &thread{id: id, start: time.Now().UnixMilli()}
	var lastWork, lastShare time.Time
	if m.cfg.Paced && !sleep(ctx, time.Duration(id)*100*time.Millisecond) {
		return
	}
	for ctx.Err() == nil {
		var w Work
		if m.cfg.Paced {
			release, ok := m.busyWait(ctx)
			if !ok {
				return
			}
			m.cacheMu.Lock()
			if m.cache != nil && time.Since(m.cached) >= m.cfg.WorkInterval {
				m.cache = nil // threads also clear the cache every 3 minutes
			}
			cached := m.cache
			m.cacheMu.Unlock()
			if cached != nil {
				w = *cached
				release()
			} else {
				release()
				if !sleep(ctx, m.cfg.WorkInterval-time.Since(lastWork)) {
					return
				}
				if release, ok = m.busyWait(ctx); !ok {
					return
				}
				lastWork = time.Now()
				var err error
				w, err = m.RequestWork(ctx, id)
				if err == nil {
					m.cacheMu.Lock()
					m.cache, m.cached = &w, time.Now()
					m.cacheMu.Unlock()
				}
				release()
				if err != nil {
					m.log.Info("simminer: no work", "thread", id, "err", err)
					continue
				}
			}
		} else {
			var err error
			if w, err = m.RequestWork(ctx, id); err != nil {
				m.log.Info("simminer: no work", "thread", id, "err", err)
				if !sleep(ctx, 100*time.Millisecond) {
					return
				}
				continue
			}
		}
		s, err := m.mine(ctx, w, th)
		if err != nil {
			if ctx.Err() == nil {
				m.log.Warn("simminer: mine", "thread", id, "err", err)
				sleep(ctx, time.Second)
			}
			continue
		}
		if m.cfg.Paced && !sleep(ctx, m.cfg.ShareInterval-time.Since(lastShare)) {
			return
		}
		lastShare = time.Now()
		release := func() {}
		if m.cfg.Paced {
			var ok bool
			if release, ok = m.busyWait(ctx); !ok {
				return
			}
		}
		if _, err := m.Submit(ctx, id, s); err != nil && ctx.Err() == nil {
			m.log.Info("simminer: submit", "thread", id, "err", err)
		}
		release()
		th.hashCounter, th.start = 0, time.Now().UnixMilli()
		m.cacheMu.Lock()
		m.cache = nil // UpdatePoolProgress clears poolcache
		m.cacheMu.Unlock()
	}
}

// busyWait lets one thread at a time talk to the pool, waiting at most
// 10 s like the wallet, which then goes ahead anyway.
func (m *Miner) busyWait(ctx context.Context) (release func(), ok bool) {
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case m.busy <- struct{}{}:
		return func() { <-m.busy }, true
	case <-t.C:
		return func() {}, true
	case <-ctx.Done():
		return nil, false
	}
}

func (m *Miner) record(d time.Duration, err error) {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	m.requests++
	if err != nil {
		m.failures++
		return
	}
	m.latencies = append(m.latencies, d)
}

func (m *Miner) poolError(err error) {
	var pe *PoolError
	if errors.As(err, &pe) {
		m.statsMu.Lock()
		m.poolErrs[pe.Reason]++
		m.statsMu.Unlock()
	}
}

// Report is the miner's load figures.
type Report struct {
	Elapsed           time.Duration
	Requests          int64
	Failures          int64 // transport failures (no reply)
	Shares            int64
	Blocks            int64
	PoolErrors        map[string]int64
	RequestsPerSecond float64
	P50, P90, P99     time.Duration
	Max               time.Duration
	Hashes            uint64
}

// Report summarises the requests so far.
func (m *Miner) Report() Report {
	m.statsMu.Lock()
	defer m.statsMu.Unlock()
	r := Report{Elapsed: time.Since(m.start), Requests: m.requests, Failures: m.failures, Shares: m.shares,
		Blocks: m.blocks, PoolErrors: map[string]int64{}, Hashes: m.hashes.Load()}
	for k, v := range m.poolErrs {
		r.PoolErrors[k] = v
	}
	if r.Elapsed > 0 {
		r.RequestsPerSecond = float64(r.Requests) / r.Elapsed.Seconds()
	}
	l := append([]time.Duration(nil), m.latencies...)
	if len(l) > 0 {
		sortDurations(l)
		pct := func(p float64) time.Duration { return l[min(len(l)-1, int(p*float64(len(l))))] }
		r.P50, r.P90, r.P99, r.Max = pct(0.50), pct(0.90), pct(0.99), l[len(l)-1]
	}
	return r
}

func (r Report) String() string {
	return fmt.Sprintf("%d requests in %s (%.1f/s), %d failed; latency p50 %s p90 %s p99 %s max %s; %d shares, %d blocks, %d hashes; pool errors %v",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.RequestsPerSecond, r.Failures, r.P50, r.P90, r.P99, r.Max, r.Shares, r.Blocks, r.Hashes, r.PoolErrors)
}

func sortDurations(l []time.Duration) { slices.Sort(l) }
