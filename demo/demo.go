// Package demo runs the whole pool in one process against a simulated
// BiblePay test network: a simulated node (package simnode) with a fast
// block time and a short maturity, simulated wallet miners (package
// simminer), and every role of package app on the embedded default (SQLite
// files and the in-process command bus) in one data folder. Within a minute
// the website shows accepted shares, pool blocks, matured credits and
// payouts. On exit the event log is audited (package audit).
//
// Everything lives in the data folder (events.db, readmodel.db and the
// node's simnode.json), so a restart continues the same chain, wallet and
// ledger.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/run"

	"github.com/purepool/purepool/app"
	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/rpcclient"
	"github.com/purepool/purepool/simminer"
	"github.com/purepool/purepool/simnode"
)

// Network is the network the demo mines on.
const Network = "test"

// StateFile is the simulated node's state inside the data folder.
const StateFile = "simnode.json"

// Options configure a demo. The zero value of a field takes its default.
type Options struct {
	Addr      string        // frontend + website listen address (default 127.0.0.1:8080)
	DataDir   string        // default ./purepool-data
	Miners    int           // simulated miners (default 4)
	BlockTime time.Duration // the network's block interval (default 2s)
	Duration  time.Duration // stop after this long (0: until ctx ends)
	// Maturity is the confirmations before a pool block is credited and its
	// coinbase spendable (default 10).
	Maturity int64
	// ShareDifficulty is the miners' fixed share difficulty (default 2000:
	// a few milliseconds of the stand-in hash).
	ShareDifficulty int64
	// SharesPerBlock is how many shares, on average, also solve a block
	// (the network target over the share target; default 8).
	SharesPerBlock int64
	// ShareInterval is each miner's pause between shares (default 1s).
	ShareInterval time.Duration
	// PayoutInterval (default 5s) and MinPayout in satoshis (default 1 BBP).
	PayoutInterval time.Duration
	MinPayoutSat   int64
	FeeBps         int64 // default 100 (1 %)
	// ChainPoll is the chain follower's period (default BlockTime/4).
	ChainPoll time.Duration
	// StatusEvery is the period of the status line (default 1s).
	StatusEvery time.Duration
	// Stdout receives the status line and the summary; Live makes the
	// status line one \r-updated line (for a terminal).
	Stdout io.Writer
	Live   bool
	// Columns, if set, is the terminal's width; the live line is cut to it.
	Columns func() int
	// Logger receives the roles' logs (default: discarded; warnings matter
	// little in a demo and would tear the status line).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:8080"
	}
	if o.DataDir == "" {
		o.DataDir = "purepool-data"
	}
	if o.Miners <= 0 {
		o.Miners = 4
	}
	if o.BlockTime <= 0 {
		o.BlockTime = 2 * time.Second
	}
	if o.Maturity <= 0 {
		o.Maturity = 10
	}
	if o.ShareDifficulty <= 0 {
		o.ShareDifficulty = 2000
	}
	if o.SharesPerBlock <= 0 {
		o.SharesPerBlock = 8
	}
	if o.ShareInterval <= 0 {
		o.ShareInterval = time.Second
	}
	if o.PayoutInterval <= 0 {
		o.PayoutInterval = 5 * time.Second
	}
	if o.MinPayoutSat <= 0 {
		o.MinPayoutSat = biblepay.Coin
	}
	if o.FeeBps == 0 {
		o.FeeBps = 100
	}
	if o.ChainPoll <= 0 {
		o.ChainPoll = max(o.BlockTime/4, 20*time.Millisecond)
	}
	if o.StatusEvery <= 0 {
		o.StatusEvery = time.Second
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Milestones are how long after the start the website first showed a new
// share, pool block, matured credit and payout (zero: not reached).
type Milestones struct {
	Share, PoolBlock, Matured, Payout time.Duration
}

// Summary is the outcome of a demo run.
type Summary struct {
	Ran    time.Duration
	URL    string
	Totals audit.Totals // the test network's ledger, replayed from the event log
	// FeeBalanceSat is the pool fee account's balance (in Totals.BalanceSat
	// with the miners').
	FeeBalanceSat int64
	Milestones    Milestones
	Audit         *audit.Report
}

// MinerAddress is the address of simulated miner i (deterministic, so a
// restart mines for the same miners).
func MinerAddress(i int) string {
	return biblepay.Networks[Network].Address([20]byte{0xde, 0x30, byte(i >> 8), byte(i)})
}

// Run runs the demo until opt.Duration passes or ctx ends, then prints and
// returns the summary. It returns an error if the pool failed or the audit
// found violations (the summary is returned too).
func Run(ctx context.Context, opt Options) (*Summary, error) {
	opt.defaults()
	start := time.Now()
	if err := os.MkdirAll(opt.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("demo: data folder: %w", err)
	}
	net := biblepay.Networks[Network]

	// The network target makes SharesPerBlock shares per block on average:
	// network difficulty = hash rate × block time (simnode).
	netDifficulty := float64(opt.ShareDifficulty * opt.SharesPerBlock)
	hashRate := netDifficulty / opt.BlockTime.Seconds()
	node, err := simnode.Start(simnode.Config{
		Network: net, User: "purepool", Password: "demo", BlockTime: opt.BlockTime, Maturity: opt.Maturity,
		NetworkHashRate: hashRate, StateFile: filepath.Join(opt.DataDir, StateFile), Seed: 1,
		Logger: opt.Logger.With("role", "simnode"),
	}, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: simulated node: %w", err)
	}
	defer node.Close()
	// A restart may use another block time: keep the odds the same.
	if err := node.Node.SetHashRate(hashRate); err != nil {
		return nil, fmt.Errorf("demo: simulated node: %w", err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	// Before the node stops: a connection dialled for a request that was
	// then cancelled waits in the pool unused, and the node's HTTP server
	// waits 5 s for such a connection before it counts as idle.
	defer transport.CloseIdleConnections()
	client, err := rpcclient.New(rpcclient.Config{URL: node.URL, User: "purepool", Password: "demo", Network: net, Timeout: 10 * time.Second,
		HTTPClient: &http.Client{Transport: transport}})
	if err != nil {
		return nil, err
	}

	cfg := config.Defaults()
	cfg.PoolName = "Purepool demo"
	cfg.PoolURL = "http://127.0.0.1"
	cfg.DataDir = opt.DataDir
	cfg.Frontend.Listen = opt.Addr
	cfg.Frontend.RatePerMinute = -1 // every simulated miner comes from 127.0.0.1
	cfg.Backend.ChainPoll = config.Duration{Duration: opt.ChainPoll}
	cfg.Backend.SolutionRetry = config.Duration{Duration: 10 * time.Second}
	cfg.Backend.FundingCheck = config.Duration{Duration: 10 * time.Second}
	cfg.Backend.VardiffInterval = config.Duration{} // a fixed share target: the demo's pace is chosen
	cfg.Networks = []config.Network{{
		Name: Network, PoolAddress: node.Node.WalletAddress(), FeeBps: opt.FeeBps, Scheme: events.SchemePROP,
		PPLNSWindow: 10_000, Maturity: opt.Maturity, MinPayout: config.Amount(opt.MinPayoutSat),
		PayoutInterval: config.Duration{Duration: opt.PayoutInterval}, MaxRecipients: 100,
		DefaultTarget: biblepay.TargetForDifficulty(opt.ShareDifficulty), StaleTolerance: 1,
		SharesPerMinute: 60, MinConfirmations: 2,
	}}
	pool, err := app.Open(ctx, cfg, app.Options{
		Roles: app.AllRoles, Nodes: map[string]backend.Node{Network: client}, Logger: opt.Logger,
		TuneBackend: func(bc *backend.Config) {
			bc.Networks[0].ConfirmStep = 2
			bc.WorkWait = 10 * time.Second
		},
	})
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	url := "http://" + pool.Addrs()[0].String()
	fmt.Fprintf(opt.Stdout, "purepool demo: website %s/%s/  (data %s, %d miners, block time %s, maturity %d)\n",
		url, Network, opt.DataDir, opt.Miners, opt.BlockTime, opt.Maturity)

	miners := make([]*simminer.Miner, opt.Miners)
	for i := range miners {
		miners[i], err = simminer.New(simminer.Config{
			Pool: url, Worker: fmt.Sprintf("%s/rig%d", MinerAddress(i), i+1), Network: net, Node: client,
			Paced: true, ShareInterval: opt.ShareInterval, WorkInterval: opt.ShareInterval,
			Logger: opt.Logger.With("role", "simminer", "miner", i+1),
		})
		if err != nil {
			return nil, err
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opt.Duration > 0 {
		var c2 context.CancelFunc
		runCtx, c2 = context.WithTimeout(runCtx, opt.Duration)
		defer c2()
	}
	st := &status{start: start, reader: pool.Reader(), out: opt.Stdout, live: opt.Live, columns: opt.Columns}
	// Milestones count from what the website showed before this run (a
	// restart starts from the data folder's totals).
	if st.base, err = pool.Reader().Pool(ctx, Network); err != nil {
		return nil, fmt.Errorf("demo: read model: %w", err)
	}
	var g run.Group
	{
		pctx, pcancel := context.WithCancel(runCtx)
		g.Add(func() error { return pool.Run(pctx) }, func(error) { pcancel() })
	}
	for _, m := range miners {
		mctx, mcancel := context.WithCancel(runCtx)
		g.Add(func() error { return m.Run(mctx) }, func(error) { mcancel() })
	}
	{
		sctx, scancel := context.WithCancel(runCtx)
		g.Add(func() error { st.loop(sctx, opt.StatusEvery); return nil }, func(error) { scancel() })
	}
	{
		// The run ends when the duration passes or ctx ends.
		g.Add(func() error { <-runCtx.Done(); return nil }, func(error) { cancel() })
	}
	runErr := g.Run()
	if runErr != nil && ctx.Err() == nil {
		runErr = fmt.Errorf("demo: %w", runErr)
	} else {
		runErr = nil
	}
	// The projector may lag a little: one last status line from it.
	final := context.WithoutCancel(ctx)
	st.print(final)
	if opt.Live {
		fmt.Fprintln(opt.Stdout)
	}
	rep, err := audit.Run(final, pool.Store(), audit.Options{
		ReadModel: &audit.SQLReadModel{DB: pool.ReadModel().SQL, Dialect: pool.ReadModel().Dialect},
	})
	if err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("demo: audit: %w", err))
	}
	sum := &Summary{Ran: time.Since(start), URL: url, Audit: rep, Milestones: st.milestones()}
	for _, t := range rep.Networks {
		if t.Network == Network {
			sum.Totals = t
		}
	}
	for _, a := range rep.Accounts {
		if a.Network == Network && a.Fee {
			sum.FeeBalanceSat += a.BalanceSat
		}
	}
	sum.Write(opt.Stdout)
	if runErr != nil {
		return sum, runErr
	}
	if !rep.OK() {
		return sum, fmt.Errorf("demo: the audit found %d violation(s)", len(rep.Violations))
	}
	return sum, nil
}

// Write prints the summary.
func (s *Summary) Write(w io.Writer) {
	t := s.Totals
	fmt.Fprintf(w, "summary after %s (%s); totals of the data folder's ledger:\n", s.Ran.Round(100*time.Millisecond), s.URL)
	fmt.Fprintf(w, "  shares:      %d accepted, %d rejected, %d miners\n", t.AcceptedShares, t.RejectedShares, t.Miners)
	fmt.Fprintf(w, "  pool blocks: %d found, %d matured, %d orphaned\n", t.BlocksDiscovered, t.BlocksMatured, t.BlocksOrphaned)
	exact := "exact"
	if t.CreditedSat+t.FeeSat+t.CarriedOutSat != t.RewardSat+t.CarriedInSat {
		exact = "NOT EXACT"
	}
	fmt.Fprintf(w, "  credited:    %s BBP to miners + %s BBP pool fee", audit.FormatBBP(t.CreditedSat), audit.FormatBBP(t.FeeSat))
	if t.CarriedInSat != 0 || t.CarriedOutSat != 0 {
		fmt.Fprintf(w, " + %s BBP carried to a later round − %s BBP taken from earlier ones",
			audit.FormatBBP(t.CarriedOutSat), audit.FormatBBP(t.CarriedInSat))
	}
	fmt.Fprintf(w, " = %s BBP of matured rewards (%s)\n", audit.FormatBBP(t.RewardSat), exact)
	fmt.Fprintf(w, "  rounds:      %d by height, %d by position, %d empty (%d to the finder, %d carried), %d late shares; effective fee %s\n",
		t.RoundsByHeight, t.RoundsByPosition, t.EmptyRounds, t.EmptyToFinder, t.EmptyCarried, t.LateShares, feeRate(t.FeeSat, t.RewardSat))
	fmt.Fprintf(w, "  paid:        %s BBP in %d payout(s), %d sent; owed to miners %s BBP, carried %s BBP; pool fee account %s BBP\n",
		audit.FormatBBP(t.PaidSat), t.Payouts, t.PayoutsSent, audit.FormatBBP(t.MinerBalanceSat), audit.FormatBBP(t.CarrySat),
		audit.FormatBBP(t.FeeBalanceSat))
	m := s.Milestones
	fmt.Fprintf(w, "  first seen on the website: share %s, pool block %s, matured credit %s, payout %s\n",
		since(m.Share), since(m.PoolBlock), since(m.Matured), since(m.Payout))
	if s.Audit.ChainWarning != "" {
		fmt.Fprintf(w, "audit: WARNING: %s\n", s.Audit.ChainWarning)
	}
	if s.Audit.OK() && s.Audit.ChainKept {
		fmt.Fprintf(w, "audit: clean — %d events replayed, hash chain and ledger invariants hold, read model agrees\n", s.Audit.Events)
		return
	}
	if s.Audit.OK() {
		fmt.Fprintf(w, "audit: %d events replayed, ledger invariants hold, read model agrees; the hash chain is not kept\n", s.Audit.Events)
		return
	}
	fmt.Fprintf(w, "audit: %d VIOLATION(S)\n", len(s.Audit.Violations))
	for _, v := range s.Audit.Violations {
		fmt.Fprintf(w, "  %s\n", v)
	}
}

// feeRate is fee/reward in basis points with two decimals, rounded half
// up, from integers (each block's fee is rounded down to the satoshi, so
// the floor would read 99.99 for an exact 1 %).
func feeRate(fee, reward int64) string {
	if reward <= 0 {
		return "-"
	}
	// hundredths of a basis point: fee × 10^6 / reward, rounded
	n := new(big.Int).Mul(big.NewInt(fee), big.NewInt(2_000_000))
	n.Add(n, big.NewInt(reward))
	n.Quo(n, big.NewInt(2*reward))
	v := n.Int64()
	return fmt.Sprintf("%d.%02d bps", v/100, v%100)
}

func since(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(100 * time.Millisecond).String()
}

// status prints the live status line from the read model (what the
// website shows) and notes the milestones.
type status struct {
	start   time.Time
	reader  *projections.Reader
	out     io.Writer
	live    bool
	columns func() int
	base    projections.Pool

	mu sync.Mutex
	ms Milestones
}

func (s *status) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.print(ctx)
		}
	}
}

func (s *status) milestones() Milestones {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ms
}

func (s *status) print(ctx context.Context) {
	p, err := s.reader.Pool(ctx, Network)
	if err != nil {
		return
	}
	el := time.Since(s.start)
	s.mu.Lock()
	note := func(d *time.Duration, reached bool) {
		if reached && *d == 0 {
			*d = el
		}
	}
	note(&s.ms.Share, p.Shares > s.base.Shares)
	note(&s.ms.PoolBlock, p.BlocksFound > s.base.BlocksFound)
	note(&s.ms.Matured, p.CreditedSat > s.base.CreditedSat)
	note(&s.ms.Payout, p.PaidSat > s.base.PaidSat)
	s.mu.Unlock()
	line := fmt.Sprintf("[%4.0fs] shares %d accepted, %d rejected | blocks %d found, %d matured | credited %s | paid %s | miners %d | height %d",
		el.Seconds(), p.Shares, p.Rejected, p.BlocksFound, p.BlocksMatured,
		wholeBBP(p.CreditedSat), wholeBBP(p.PaidSat), p.Miners, p.Height)
	if s.live {
		// One line rewritten in place: cut to the terminal's width, since
		// a wrapped line cannot be rewritten with \r.
		if s.columns != nil {
			if w := s.columns(); w > 1 && len(line) >= w {
				line = line[:w-1]
			}
		}
		fmt.Fprintf(s.out, "\r%s\033[K", line)
		return
	}
	fmt.Fprintln(s.out, line)
}

// wholeBBP shows an amount in whole BBP (the status line's rounding down;
// the summary shows satoshis exactly).
func wholeBBP(sat int64) string {
	return strconv.FormatInt(projections.WholeBBP(sat), 10) + " BBP"
}
