// Package fairreport measures the fairness figures of issue 12 from an event
// log: the effective fee of matured pool blocks against the configured one,
// empty rounds, whether each block's winning share counted in its own round,
// and what became of shares (by reason, by id list, by receive-time window).
//
// It only reads. It decodes the catalogue events that every release wrote
// with events.Decode and reads the fields and events added by the rounds by
// height (RoundClosed.rule/from_height, LateSharesCounted, RoundEmpty,
// PoolPolicySet) from their JSON, so the same build reads a log written by
// the release before issue 12 and one written after it. Event types it does
// not know are counted and skipped.
package fairreport

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
)

// Reader is the part of the event store the report needs.
type Reader interface {
	ReadAll(ctx context.Context, after uint64, max int) ([]events.Envelope, error)
	Close() error
}

// Open opens an event store for reading: a PostgreSQL URL
// (postgres://… or postgresql://…) or the path of an existing SQLite file
// (a demo's data folder holds events.db). It never creates or migrates.
func Open(ctx context.Context, src string) (Reader, error) {
	if strings.HasPrefix(src, "postgres://") || strings.HasPrefix(src, "postgresql://") {
		return postgres.Open(ctx, src)
	}
	if fi, err := os.Stat(src); err != nil {
		return nil, fmt.Errorf("fairreport: event store %s: %w", src, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("fairreport: %s is a folder; give its events.db", src)
	}
	return sqlite.Open(ctx, src)
}

// Options select the share outcomes to report besides the totals.
type Options struct {
	// OKIDs are solution ids (or SubmitSolution command ids) the frontend
	// answered ok; the report says what became of each.
	OKIDs []string
	// From and To (both set) select the shares received in [From, To)
	// (SolutionAccepted/SolutionRejected At, the frontend's receive time).
	From, To time.Time
}

// Report is the whole measurement.
type Report struct {
	Head     uint64         `json:"head_position"`
	Events   int            `json:"events"`
	Skipped  map[string]int `json:"skipped_events,omitempty"` // unknown or undecodable types
	Networks []*Network     `json:"networks"`
}

// Network holds the figures of one network.
type Network struct {
	Name string `json:"network"`

	RecordedTip            int64          `json:"recorded_tip"`      // highest ChainBlockRecorded height
	PendingBlocks          int            `json:"pending_blocks"`    // discovered, neither matured nor orphaned
	DiscoveredBlocks       int            `json:"discovered_blocks"` // distinct BlockDiscovered
	OrphanedBlocks         int            `json:"orphaned_blocks"`   // distinct BlockOrphaned
	MaturedBlocks          int            `json:"matured_blocks"`
	OrphanedAfterMaturity  int            `json:"orphaned_after_maturity"`
	RewardSat              int64          `json:"reward_sat"`
	FeeSat                 int64          `json:"fee_sat"`
	FeeReversedSat         int64          `json:"fee_reversed_sat"`
	EffectiveFeeBps        int64          `json:"effective_fee_bps"`         // floor(fee*10000/reward)
	EffectiveFeeBpsRounded int64          `json:"effective_fee_bps_rounded"` // fee*10000/reward, rounded half up
	EffectiveFeeBps2       string         `json:"effective_fee_bps_2dp"`     // fee*10000/reward, 2 decimals, rounded half up
	EffectiveFeePercent2   string         `json:"effective_fee_percent_2dp"` // fee*100/reward, 2 decimals, rounded half up
	ConfiguredFeeBps       []int          `json:"configured_fee_bps"`        // distinct FeeCredited.FeeBps
	PolicyFeeBps           []int          `json:"policy_fee_bps,omitempty"`  // distinct PoolPolicySet.FeeBps (new release)
	FeeOffBlocks           int            `json:"fee_off_configured_blocks"` // matured blocks whose fee is not FeeBps of the reward (±1 sat), or without FeeCredited
	FeeOffExamples         []string       `json:"fee_off_examples,omitempty"`
	MaturedWithoutRound    int            `json:"matured_without_round"`
	EmptyRounds            int            `json:"empty_rounds"` // matured blocks whose RoundClosed.TotalShares == 0
	EmptyRoundHeights      []int64        `json:"empty_round_heights,omitempty"`
	RoundEmptyEvents       map[string]int `json:"round_empty_events,omitempty"` // by outcome (new release)
	RoundsByRule           map[string]int `json:"rounds_by_rule"`               // matured blocks' rounds: "position" or "height"
	LateSharesCounted      int            `json:"late_shares_counted"`
	WinningInOwnRound      int            `json:"winning_share_in_own_round"`
	WinningOutside         int            `json:"winning_share_outside_own_round"`
	WinningNeverAccepted   int            `json:"winning_share_never_accepted"`
	WinningOutsideExamples []string       `json:"winning_outside_examples,omitempty"`

	Accepted int            `json:"accepted"`
	Rejected map[string]int `json:"rejected_by_reason"`

	Window *Outcome `json:"window,omitempty"`
	OKLog  *Outcome `json:"ok_log,omitempty"`
}

// Outcome says what became of a set of shares.
type Outcome struct {
	From     string         `json:"from,omitempty"`
	To       string         `json:"to,omitempty"`
	Total    int            `json:"total"` // ids given, or shares received in the window
	Accepted int            `json:"accepted"`
	Credited int            `json:"accepted_in_matured_round"` // accepted and counted in a matured block's round
	Rejected map[string]int `json:"rejected_by_reason"`
	Missing  int            `json:"missing,omitempty"` // ids with no outcome stored (ok log only)
}

// Fields the rounds by height added; read from the JSON so that this
// package does not depend on the new Go types.
type roundExtra struct {
	Rule       string `json:"rule"`
	FromHeight int64  `json:"from_height"`
}
type lateShares struct {
	Network   string `json:"network"`
	BlockHash string `json:"block_hash"`
	Shares    []struct {
		SolutionID string `json:"solution_id"`
	} `json:"shares"`
}
type roundEmpty struct {
	Network string `json:"network"`
	Outcome string `json:"outcome"`
}
type policySet struct {
	Network string `json:"network"`
	FeeBps  int    `json:"fee_bps"`
}

type share struct {
	pos       uint64
	id        string
	cmdID     string
	minedAt   int64 // PrevHeight+1
	blockHash string
	at        time.Time
	accepted  bool
	reason    string
}

type round struct {
	ev    events.RoundClosed
	extra roundExtra
}

type netState struct {
	shares    []*share          // accepted and rejected, in log order
	byHash    map[string]*share // accepted, by the block hash it solved
	rounds    map[string]*round // by block hash (the last one written)
	matured   map[string]events.BlockMatured
	order     []string          // matured hashes in order
	orphaned  map[string]bool   // after maturity
	found     map[string]bool   // BlockDiscovered
	gone      map[string]bool   // BlockOrphaned
	late      map[string]string // solution id -> block hash whose round counted it late
	feeBps    map[int]bool
	fees      map[string]events.FeeCredited // by block hash
	policyBps map[int]bool
	n         *Network
}

// Build reads the whole log and computes the report.
func Build(ctx context.Context, r Reader, opt Options) (*Report, error) {
	rep := &Report{Skipped: map[string]int{}}
	nets := map[string]*netState{}
	get := func(name string) *netState {
		s, ok := nets[name]
		if !ok {
			s = &netState{byHash: map[string]*share{}, rounds: map[string]*round{}, matured: map[string]events.BlockMatured{},
				orphaned: map[string]bool{}, found: map[string]bool{}, gone: map[string]bool{}, late: map[string]string{}, feeBps: map[int]bool{}, fees: map[string]events.FeeCredited{}, policyBps: map[int]bool{},
				n: &Network{Name: name, Rejected: map[string]int{}, RoundsByRule: map[string]int{}}}
			nets[name] = s
		}
		return s
	}
	var after uint64
	for {
		page, err := r.ReadAll(ctx, after, 5000)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			break
		}
		for _, env := range page {
			after = env.Position
			rep.Events++
			if err := apply(env, get); err != nil {
				rep.Skipped[env.Type]++
			}
		}
	}
	rep.Head = after
	names := make([]string, 0, len(nets))
	for n := range nets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := nets[name]
		s.finish(opt)
		if s.n.RecordedTip > 0 || s.n.Accepted > 0 || len(s.n.Rejected) > 0 {
			rep.Networks = append(rep.Networks, s.n)
		}
	}
	if len(rep.Skipped) == 0 {
		rep.Skipped = nil
	}
	return rep, nil
}

func apply(env events.Envelope, get func(string) *netState) error {
	switch env.Type { // added by the rounds by height: read from JSON
	case "LateSharesCounted":
		var l lateShares
		if err := json.Unmarshal(env.Data, &l); err != nil {
			return err
		}
		s := get(l.Network)
		for _, sh := range l.Shares {
			s.late[sh.SolutionID] = lower(l.BlockHash)
			s.n.LateSharesCounted++
		}
		return nil
	case "RoundEmpty":
		var e roundEmpty
		if err := json.Unmarshal(env.Data, &e); err != nil {
			return err
		}
		n := get(e.Network).n
		if n.RoundEmptyEvents == nil {
			n.RoundEmptyEvents = map[string]int{}
		}
		n.RoundEmptyEvents[e.Outcome]++
		return nil
	case "PoolPolicySet":
		var p policySet
		if err := json.Unmarshal(env.Data, &p); err != nil {
			return err
		}
		get(p.Network).policyBps[p.FeeBps] = true
		return nil
	}
	switch env.Type {
	case events.TypeSolutionAccepted, events.TypeSolutionRejected, events.TypeRoundClosed, events.TypeBlockDiscovered, events.TypeChainBlockRecorded, events.TypeBlockMatured,
		events.TypeBlockOrphaned, events.TypeFeeCredited, events.TypeCreditReversed:
	default:
		return nil // not needed: not decoded
	}
	e, err := events.Decode(env)
	if err != nil {
		return err
	}
	switch e := e.(type) {
	case events.SolutionAccepted:
		s := get(e.Network)
		sh := &share{pos: env.Position, id: e.SolutionID.String(), cmdID: env.Metadata.CommandID, minedAt: e.PrevHeight + 1,
			blockHash: lower(e.BlockHash), at: e.At, accepted: true}
		s.shares = append(s.shares, sh)
		if _, dup := s.byHash[sh.blockHash]; !dup {
			s.byHash[sh.blockHash] = sh
		}
		s.n.Accepted++
	case events.SolutionRejected:
		s := get(e.Network)
		s.shares = append(s.shares, &share{pos: env.Position, id: e.SolutionID.String(), cmdID: env.Metadata.CommandID, at: e.At, reason: e.Reason})
		s.n.Rejected[e.Reason]++
	case events.RoundClosed:
		var x roundExtra
		if err := json.Unmarshal(env.Data, &x); err != nil {
			return err
		}
		get(e.Network).rounds[lower(e.BlockHash)] = &round{ev: e, extra: x}
	case events.BlockMatured:
		s := get(e.Network)
		h := lower(e.Hash)
		if _, seen := s.matured[h]; !seen {
			s.order = append(s.order, h)
		}
		s.matured[h] = e
	case events.ChainBlockRecorded:
		n := get(e.Network).n
		n.RecordedTip = max(n.RecordedTip, e.Height)
	case events.BlockDiscovered:
		get(e.Network).found[lower(e.Hash)] = true
	case events.BlockOrphaned:
		get(e.Network).gone[lower(e.Hash)] = true
		if e.AfterMaturity {
			get(e.Network).orphaned[lower(e.Hash)] = true
		}
	case events.FeeCredited:
		s := get(e.Network)
		s.n.FeeSat += e.AmountSat
		s.feeBps[int(e.FeeBps)] = true
		s.fees[lower(e.BlockHash)] = e
	case events.CreditReversed:
		if e.Fee {
			get(e.Network).n.FeeReversedSat += e.AmountSat
		}
	}
	return nil
}

// inRound reports whether an accepted share counts in the round of the
// block it belongs to (approximate for the height rule: see README.md).
func (s *netState) inRound(sh *share, blockHash string, r *round) bool {
	if r.extra.Rule == "height" {
		if lb, ok := s.late[sh.id]; ok {
			return lb == blockHash
		}
		return sh.minedAt > r.extra.FromHeight && sh.minedAt <= r.ev.Height && sh.pos <= r.ev.ToPosition
	}
	return sh.pos > r.ev.FromPosition && sh.pos <= r.ev.ToPosition
}

// roundOf names the matured round an accepted share counted in ("" none).
func (s *netState) roundOf(sh *share) string {
	if lb, ok := s.late[sh.id]; ok {
		if _, m := s.matured[lb]; m {
			return lb
		}
	}
	for _, h := range s.order {
		if r, ok := s.rounds[h]; ok && s.inRound(sh, h, r) {
			return h
		}
	}
	return ""
}

func (s *netState) finish(opt Options) {
	n := s.n
	n.DiscoveredBlocks, n.OrphanedBlocks = len(s.found), len(s.gone)
	for h := range s.found {
		if _, m := s.matured[h]; !m && !s.gone[h] {
			n.PendingBlocks++
		}
	}
	for _, h := range s.order {
		m := s.matured[h]
		n.MaturedBlocks++
		n.RewardSat += m.RewardSat
		if s.orphaned[h] {
			n.OrphanedAfterMaturity++
		}
		if f, ok := s.fees[h]; !ok || !feeMatches(f.AmountSat, m.RewardSat, f.FeeBps) {
			n.FeeOffBlocks++
			if len(n.FeeOffExamples) < 10 {
				n.FeeOffExamples = append(n.FeeOffExamples, fmt.Sprintf("height %d: reward %d sat, fee %d sat at %d bps", m.Height, m.RewardSat, f.AmountSat, f.FeeBps))
			}
		}
		r, ok := s.rounds[h]
		if !ok {
			n.MaturedWithoutRound++
			continue
		}
		rule := "position"
		if r.extra.Rule != "" {
			rule = r.extra.Rule
		}
		n.RoundsByRule[rule]++
		if r.ev.TotalShares == 0 {
			n.EmptyRounds++
			n.EmptyRoundHeights = append(n.EmptyRoundHeights, m.Height)
		}
		w, ok := s.byHash[h]
		switch {
		case !ok:
			n.WinningNeverAccepted++
		case s.inRound(w, h, r):
			n.WinningInOwnRound++
		default:
			n.WinningOutside++
			if len(n.WinningOutsideExamples) < 10 {
				ex := fmt.Sprintf("height %d: winning share at position %d (mined on %d) ", m.Height, w.pos, w.minedAt)
				if other := s.roundOf(w); other != "" {
					ex += fmt.Sprintf("counted in the round of height %d", s.rounds[other].ev.Height)
				} else {
					ex += "counted in no matured round"
				}
				ex += fmt.Sprintf("; own round %s (positions %d..%d, shares %d)", rule, r.ev.FromPosition, r.ev.ToPosition, r.ev.TotalShares)
				n.WinningOutsideExamples = append(n.WinningOutsideExamples, ex)
			}
		}
	}
	n.EffectiveFeeBps, n.EffectiveFeeBps2, n.EffectiveFeePercent2 = feeFigures(n.FeeSat, n.RewardSat)
	n.EffectiveFeeBpsRounded = roundedBps(n.FeeSat, n.RewardSat)
	n.ConfiguredFeeBps = keys(s.feeBps)
	n.PolicyFeeBps = keys(s.policyBps)

	if !opt.From.IsZero() && !opt.To.IsZero() {
		o := &Outcome{From: opt.From.UTC().Format(time.RFC3339Nano), To: opt.To.UTC().Format(time.RFC3339Nano), Rejected: map[string]int{}}
		for _, sh := range s.shares {
			if !sh.at.Before(opt.From) && sh.at.Before(opt.To) {
				o.Total++
				s.count(o, sh)
			}
		}
		n.Window = o
	}
	if len(opt.OKIDs) > 0 {
		o := &Outcome{Total: len(opt.OKIDs), Rejected: map[string]int{}}
		idx := map[string]*share{}
		for _, sh := range s.shares {
			idx[sh.id] = sh
			if sh.cmdID != "" {
				idx[sh.cmdID] = sh
			}
		}
		for _, id := range opt.OKIDs {
			if sh, ok := idx[strings.ToLower(id)]; ok {
				s.count(o, sh)
			} else {
				o.Missing++
			}
		}
		n.OKLog = o
	}
}

func (s *netState) count(o *Outcome, sh *share) {
	if !sh.accepted {
		o.Rejected[sh.reason]++
		return
	}
	o.Accepted++
	if s.roundOf(sh) != "" {
		o.Credited++
	}
}

// feeFigures returns floor(fee*10000/reward) and fee*10000/reward and
// fee*100/reward with 2 decimals, rounded half up, all from integers.
func feeFigures(fee, reward int64) (int64, string, string) {
	if reward <= 0 {
		return 0, "n/a", "n/a"
	}
	bps := new(big.Int).Quo(new(big.Int).Mul(big.NewInt(fee), big.NewInt(10000)), big.NewInt(reward))
	return bps.Int64(), decimal2(fee, reward, 1_000_000), decimal2(fee, reward, 10_000)
}

// roundedBps is fee*10000/reward rounded half up.
func roundedBps(fee, reward int64) int64 {
	if reward <= 0 {
		return 0
	}
	num := new(big.Int).Mul(big.NewInt(fee), big.NewInt(20000))
	num.Add(num, big.NewInt(reward))
	return num.Quo(num, big.NewInt(2*reward)).Int64()
}

// feeMatches reports whether fee is bps of reward to the satoshi (the split
// rounds the fee down or up by less than 1 sat).
func feeMatches(fee, reward, bps int64) bool {
	d := new(big.Int).Sub(new(big.Int).Mul(big.NewInt(fee), big.NewInt(10000)), new(big.Int).Mul(big.NewInt(reward), big.NewInt(bps)))
	return d.CmpAbs(big.NewInt(10000)) < 0
}

// decimal2 formats fee*scale/reward/100 with 2 decimals, rounded half up.
func decimal2(fee, reward, scale int64) string {
	num := new(big.Int).Mul(big.NewInt(fee), big.NewInt(scale))
	num.Mul(num, big.NewInt(2))
	num.Add(num, big.NewInt(reward))
	hundredths := num.Quo(num, big.NewInt(2*reward)) // round(fee*scale/reward)
	q, r := new(big.Int).QuoRem(hundredths, big.NewInt(100), new(big.Int))
	return fmt.Sprintf("%s.%02d", q, r.Int64())
}

// ParseIDs reads one id per line; blank lines and lines starting with # are
// ignored, and only the first field of a line is used.
func ParseIDs(data string) []string {
	var ids []string
	for _, line := range strings.Split(data, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		ids = append(ids, strings.ToLower(f[0]))
	}
	return ids
}

func keys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

func lower(s string) string { return strings.ToLower(s) }

// Text writes the report for people.
func (rep *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "events read: %d (head position %d)\n", rep.Events, rep.Head)
	if len(rep.Skipped) > 0 {
		fmt.Fprintf(&b, "skipped (unknown type or undecodable): %s\n", counts(rep.Skipped))
	}
	for _, n := range rep.Networks {
		fmt.Fprintf(&b, "\nnetwork %s\n", n.Name)
		fmt.Fprintf(&b, "  chain recorded up to:    height %d\n", n.RecordedTip)
		fmt.Fprintf(&b, "  pool blocks:             %d discovered, %d orphaned, %d matured, %d pending (orphaned after maturity: %d, without a round: %d)\n",
			n.DiscoveredBlocks, n.OrphanedBlocks, n.MaturedBlocks, n.PendingBlocks, n.OrphanedAfterMaturity, n.MaturedWithoutRound)
		fmt.Fprintf(&b, "  rewards:                 %d sat\n", n.RewardSat)
		fmt.Fprintf(&b, "  fee credited:            %d sat (reversed later: %d sat)\n", n.FeeSat, n.FeeReversedSat)
		fmt.Fprintf(&b, "  effective fee:           %s bps = %s %% (rounded %d bps, floor %d bps)\n",
			n.EffectiveFeeBps2, n.EffectiveFeePercent2, n.EffectiveFeeBpsRounded, n.EffectiveFeeBps)
		fmt.Fprintf(&b, "  configured fee (FeeCredited.FeeBps): %v", n.ConfiguredFeeBps)
		if len(n.PolicyFeeBps) > 0 {
			fmt.Fprintf(&b, "; PoolPolicySet: %v", n.PolicyFeeBps)
		}
		b.WriteString(" bps\n")
		fmt.Fprintf(&b, "  blocks whose fee is not the configured bps (±1 sat): %d\n", n.FeeOffBlocks)
		for _, ex := range n.FeeOffExamples {
			fmt.Fprintf(&b, "    %s\n", ex)
		}
		fmt.Fprintf(&b, "  rounds by rule:          %s\n", counts(n.RoundsByRule))
		fmt.Fprintf(&b, "  empty rounds:            %d", n.EmptyRounds)
		if len(n.EmptyRoundHeights) > 0 {
			fmt.Fprintf(&b, " (heights %v)", n.EmptyRoundHeights)
		}
		b.WriteString("\n")
		if len(n.RoundEmptyEvents) > 0 {
			fmt.Fprintf(&b, "  RoundEmpty events:       %s\n", counts(n.RoundEmptyEvents))
		}
		if n.LateSharesCounted > 0 {
			fmt.Fprintf(&b, "  late shares counted:     %d\n", n.LateSharesCounted)
		}
		fmt.Fprintf(&b, "  winning share:           in own round %d, outside %d, never accepted %d\n",
			n.WinningInOwnRound, n.WinningOutside, n.WinningNeverAccepted)
		for _, ex := range n.WinningOutsideExamples {
			fmt.Fprintf(&b, "    %s\n", ex)
		}
		fmt.Fprintf(&b, "  shares:                  accepted %d, rejected %d %s\n", n.Accepted, sum(n.Rejected), counts(n.Rejected))
		if o := n.Window; o != nil {
			fmt.Fprintf(&b, "  received in [%s, %s): %s\n", o.From, o.To, o.text())
		}
		if o := n.OKLog; o != nil {
			fmt.Fprintf(&b, "  ok log ids:              %s\n", o.text())
		}
	}
	return b.String()
}

func (o *Outcome) text() string {
	s := fmt.Sprintf("%d shares: accepted %d (in a matured round %d), rejected %d %s", o.Total, o.Accepted, o.Credited, sum(o.Rejected), counts(o.Rejected))
	if o.Missing > 0 {
		s += fmt.Sprintf(", missing %d", o.Missing)
	}
	if o.Total > 0 {
		s += fmt.Sprintf("; accepted %s %%", pct(int64(o.Accepted), int64(o.Total)))
	}
	return s
}

func pct(a, b int64) string { return decimal2(a, b, 10_000) }

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

func counts(m map[string]int) string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	parts := make([]string, 0, len(ks))
	for _, k := range ks {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}
