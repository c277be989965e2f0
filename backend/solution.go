package backend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/backend/crashpoint"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// SubmitSolutionHandler validates a share and records its acceptance or
// rejection.
type SubmitSolutionHandler struct{ b *Backend }

// Handle implements the SubmitSolution command. The acceptance, the bible
// hash reservation (expected NoStream: a hash is accepted once) and a new
// worker's registration are one atomic append where the store can, else
// three writes in that order: the reservation, the worker, the solution
// (Backend.storeWrites). A redelivered command finds its solution stream
// written and stops there; one that finds only its own reservation (a crash
// between the writes) decides again and completes it; a reservation of
// another solution makes the share a duplicate.
func (h SubmitSolutionHandler) Handle(ctx context.Context, c commands.SubmitSolution) error {
	err := h.handle(ctx, c)
	if err == nil || commands.IsPermanent(err) || errors.Is(err, aggregates.ErrInvalid) {
		h.b.waits.done(c.ID) // handled for good: no redelivery will wait on
	}
	return err
}

func (h SubmitSolutionHandler) handle(ctx context.Context, c commands.SubmitSolution) error {
	b := h.b
	net, ok := b.network(c.Network)
	if !ok {
		return commands.Permanent(fmt.Errorf("backend: SubmitSolution %s: network %q is not served", c.ID, c.Network))
	}

	check := aggregates.SolutionCheck{
		Command: c,
		Policy:  aggregates.SolutionPolicy{PoolAddress: net.PoolAddress, StaleTolerance: net.StaleTolerance, MaxBlockHex: b.cfg.MaxBlockHex},
	}
	// The parsed share tells which work, hash and fields to look up; a
	// malformed one is rejected by the aggregate without any lookup.
	sol, perr := biblepay.ParseSolution(c.Solution, b.cfg.MaxBlockHex)
	if perr == nil {
		check.Parsed = &sol // parsed once, not again by each decision
	}
	var minerVersion int64 = -1
	var workDeadline time.Time
	for attempt := range maxAttempts {
		fresh := attempt > 0
		if fresh {
			done, takenBy, err := b.solutionRecorded(ctx, c.ID, c.Network, sol.BibleHash)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			if takenBy == c.ID {
				// Reserved by this very command, its solution not stored:
				// a stepwise write stopped between the two. Deciding again
				// writes the same reservation (a duplicate) and the rest.
				takenBy = uuid.Nil
			}
			check.BibleHashTakenBy = takenBy
		}
		if perr == nil {
			w, deadline, err := b.loadWork(ctx, sol.WorkID, c.ID)
			if err != nil {
				return err
			}
			check.Work, workDeadline = w, deadline
			check.WorkWaitOver = w == nil && !b.now().Before(deadline)
			m, err := b.loadMiner(ctx, c.MinerID, fresh)
			if err != nil {
				return err
			}
			check.Miner, minerVersion = m.state, m.version
		}
		evs, err := aggregates.DecideSolution(check)
		if errors.Is(err, aggregates.ErrNeedFacts) {
			f, ferr := b.shareFacts(ctx, net, sol)
			if ferr != nil {
				return ferr
			}
			if f.Prev, f.Next, ferr = b.chainAround(ctx, net, sol.PrevHeight, f.TipHeight); ferr != nil {
				return ferr
			}
			check.Facts = f
			evs, err = aggregates.DecideSolution(check)
		}
		if errors.Is(err, aggregates.ErrWorkNotYetKnown) {
			return fmt.Errorf("backend: solution %s: %w (retrying until %s)", c.ID, err, workDeadline.Format(time.RFC3339))
		}
		if err != nil {
			return err
		}
		crashpoint.Hit(crashpoint.SolutionBeforeAppend)
		minerStream := events.StreamMiner(c.MinerID)
		writes, err := plan(c.ID.String(), metaOf(c.ID), evs, func(s string) events.ExpectedVersion {
			if s == minerStream {
				return expectedFor(minerVersion)
			}
			return events.NoStream // the solution and the bible hash streams
		})
		if err != nil {
			return err
		}
		_, err = b.storeWrites(ctx, b.viaShare, writes, shareStep, crashpoint.SolutionBetweenWrites)
		if errors.Is(err, events.ErrWrongExpectedVersion) || errors.Is(err, events.ErrDuplicateMismatch) {
			b.miners.drop(c.MinerID.String())
			continue
		}
		if err != nil {
			return err
		}
		if perr == nil {
			b.noteMinerWrite(c.MinerID, minerEntry{state: check.Miner, version: minerVersion}, evs)
		}
		return nil
	}
	return fmt.Errorf("backend: solution %s: still conflicting after %d attempts: %w", c.ID, maxAttempts, events.ErrWrongExpectedVersion)
}

// solutionRecorded reports whether the solution's stream holds its outcome
// already, and who reserved its bible hash.
func (b *Backend) solutionRecorded(ctx context.Context, id uuid.UUID, network, bibleHash string) (bool, uuid.UUID, error) {
	envs, err := b.store.ReadStream(ctx, events.StreamSolution(id), 0, 1)
	if err != nil {
		return false, uuid.Nil, err
	}
	if len(envs) > 0 {
		return true, uuid.Nil, nil
	}
	if bibleHash == "" {
		return false, uuid.Nil, nil
	}
	envs, err = b.store.ReadStream(ctx, events.StreamBibleHash(network, bibleHash), 0, 1)
	if err != nil || len(envs) == 0 {
		return false, uuid.Nil, err
	}
	e, err := events.Decode(envs[0])
	if err != nil {
		return false, uuid.Nil, err
	}
	r, ok := e.(events.BibleHashReserved)
	if !ok {
		return false, uuid.Nil, fmt.Errorf("backend: %s holds a %s", envs[0].Stream, envs[0].Type)
	}
	return false, r.SolutionID, nil
}

// workPoll is how often a handler looks again for work not yet recorded.
const workPoll = 50 * time.Millisecond

// loadWork returns the recorded work of a share, or nil and until when
// the backend waits for it: WorkWait from when this backend first found it
// missing for this command (see workWaits). While the work is missing and
// the wait is not over, it keeps looking within this delivery (a quarter
// of WorkWait at most), so that a bus that redelivers at once does not burn
// its delivery limit before the deadline.
func (b *Backend) loadWork(ctx context.Context, workID, cmdID uuid.UUID) (*events.WorkIssued, time.Time, error) {
	if r, ok := b.works.get(workID, b.now()); ok {
		return r.issued(workID), time.Time{}, nil
	}
	deadline := b.waits.start(cmdID, b.now()).Add(b.cfg.WorkWait)
	// The look within a delivery is bounded by the monotonic clock: it is
	// how long this consumer holds the message, not a fact of the ledger.
	stopLooking := time.Now().Add(b.cfg.WorkWait / 4)
	for {
		if r, ok := b.works.get(workID, b.now()); ok { // recorded by this backend meanwhile
			return r.issued(workID), deadline, nil
		}
		envs, err := b.store.ReadStream(ctx, events.StreamWork(workID), 0, 1)
		if err != nil {
			return nil, deadline, err
		}
		if len(envs) > 0 {
			e, err := events.Decode(envs[0])
			if err != nil {
				return nil, deadline, err
			}
			w, ok := e.(events.WorkIssued)
			if !ok {
				return nil, deadline, fmt.Errorf("backend: %s holds a %s", envs[0].Stream, envs[0].Type)
			}
			r := refOf(w)
			b.works.put(workID, r, b.now())
			return r.issued(workID), deadline, nil
		}
		if !b.now().Before(deadline) || !time.Now().Before(stopLooking) {
			return nil, deadline, nil
		}
		select {
		case <-ctx.Done():
			return nil, deadline, ctx.Err()
		case <-time.After(workPoll):
		}
	}
}

// shareFacts asks the node about a share: in one round trip when the node
// answers batches (ShareChecker), else in three calls made in parallel.
func (b *Backend) shareFacts(ctx context.Context, net *NetworkConfig, sol biblepay.Solution) (*aggregates.SolutionFacts, error) {
	if g, ok := b.checks[net.Name]; ok {
		return b.checkShare(ctx, net, g, sol)
	}
	var f aggregates.SolutionFacts
	var wg sync.WaitGroup
	var hashErr, cbErr, pinfoErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		hash, err := net.Node.ExecBibleHash(ctx, sol.BlockHash, sol.BlockTime, sol.PrevBlockTime, sol.PrevHeight, sol.Nonce)
		hashErr = bibleHashFact(&f, hash, err)
	}()
	go func() {
		defer wg.Done()
		cb, err := net.Node.ExecHexBlockToCoinbase(ctx, sol.BlockHex, sol.TransactionHex)
		cbErr = coinbaseFact(&f, cb, err)
	}()
	go func() {
		defer wg.Done()
		p, err := b.pinfoOf(ctx, net)
		if err != nil {
			pinfoErr = err
			return
		}
		f.TipHeight = p.Height
	}()
	wg.Wait()
	if err := errors.Join(hashErr, cbErr, pinfoErr); err != nil {
		return nil, fmt.Errorf("backend: ask the %s node about a share: %w", net.Name, err)
	}
	return &f, nil
}

// checkShare asks the three questions in a batch, with other shares' when
// the check group runs; pinfo stays out of it while the network's PinfoTTL
// lets a cached one be reused.
func (b *Backend) checkShare(ctx context.Context, net *NetworkConfig, g *shareCheckGroup, sol biblepay.Solution) (*aggregates.SolutionFacts, error) {
	var f aggregates.SolutionFacts
	cached := b.cachedPinfo(net)
	asked := time.Now()
	r, err := g.Check(ctx, sol, cached == nil)
	if err != nil {
		return nil, fmt.Errorf("backend: ask the %s node about a share: %w", net.Name, err)
	}
	hashErr := bibleHashFact(&f, r.BibleHash, r.BibleHashErr)
	cbErr := coinbaseFact(&f, r.Coinbase, r.CoinbaseErr)
	p, pinfoErr := cached, error(nil)
	if p == nil {
		p, pinfoErr = r.Pinfo, r.PinfoErr
		if pinfoErr == nil && p == nil {
			pinfoErr = errors.New("rpcclient: exec pinfo: no answer in the batch")
		}
		if pinfoErr == nil {
			b.storePinfo(net, p, asked)
		}
	}
	if err := errors.Join(hashErr, cbErr, pinfoErr); err != nil {
		return nil, fmt.Errorf("backend: ask the %s node about a share: %w", net.Name, err)
	}
	f.TipHeight = p.Height
	return &f, nil
}

// bibleHashFact records exec biblehash's answer; a node that leaves the
// hash out says "" (the aggregate rejects the share).
func bibleHashFact(f *aggregates.SolutionFacts, hash string, err error) error {
	if errors.Is(err, rpcclient.ErrNoBibleHash) {
		f.NodeBibleHash = ""
		return nil
	}
	if err != nil {
		return err
	}
	f.NodeBibleHash = hash
	return nil
}

// coinbaseFact records exec hexblocktocoinbase's answer; a block the node
// cannot decode (-22) is a fact about the share, any other failure is not.
func coinbaseFact(f *aggregates.SolutionFacts, cb *rpcclient.HexBlockCoinbase, err error) error {
	var rpcErr *rpcclient.Error
	switch {
	case errors.As(err, &rpcErr) && rpcErr.Code == rpcclient.CodeDeserialization:
		f.BlockDecodeError = rpcErr.Message
	case err != nil:
		return err
	default:
		f.Recipient = cb.Recipient
	}
	return nil
}

// shareStep orders a share's streams when they are written one at a time:
// the bible hash reservation, the miner (a new worker), the solution.
func shareStep(stream string) int {
	switch {
	case strings.HasPrefix(stream, "biblehash-"):
		return 0
	case strings.HasPrefix(stream, "solution-"):
		return 2
	}
	return 1
}

// appendGrouped stores a command's decided events, through the group commit
// when it runs, with event ids derived from key; stepwise in rank's order
// (storeWrites).
func (b *Backend) appendGrouped(ctx context.Context, key string, meta events.Metadata, evs []events.Event, expect func(string) events.ExpectedVersion, rank func(string) int, crash string) error {
	if len(evs) == 0 {
		return nil
	}
	writes, err := plan(key, meta, evs, expect)
	if err != nil {
		return err
	}
	_, err = b.storeWrites(ctx, b.viaShare, writes, rank, crash)
	return err
}

// viaShare is appendShare as an appendFunc.
func (b *Backend) viaShare(ctx context.Context, writes []events.StreamWrite) (events.AppendResult, error) {
	return events.AppendResult{}, b.appendShare(ctx, writes)
}

// appendShare stores a command's write through the group commit when it
// runs (Run starts it), or directly.
func (b *Backend) appendShare(ctx context.Context, writes []events.StreamWrite) error {
	if b.cfg.BatchAppends > 1 && b.groupRunning.Load() {
		return b.group.Append(ctx, writes)
	}
	_, err := b.store.Append(ctx, writes...)
	return err
}

// pinfoCache holds a network's last `exec pinfo` (see NetworkConfig.PinfoTTL).
type pinfoCache struct {
	mu sync.Mutex
	at time.Time
	p  *rpcclient.Pinfo
}

// pinfoOf is the network's pinfo: the cached one while PinfoTTL allows,
// else the node's answer, cached as storePinfo does for the batched path.
func (b *Backend) pinfoOf(ctx context.Context, net *NetworkConfig) (*rpcclient.Pinfo, error) {
	if p := b.cachedPinfo(net); p != nil {
		return p, nil
	}
	asked := time.Now()
	p, err := net.Node.ExecPinfo(ctx)
	if err != nil {
		return nil, err
	}
	b.storePinfo(net, p, asked)
	return p, nil
}

// cachedPinfo is the network's cached pinfo while PinfoTTL lets it be
// reused, else nil.
func (b *Backend) cachedPinfo(net *NetworkConfig) *rpcclient.Pinfo {
	if net.PinfoTTL <= 0 {
		return nil
	}
	c := b.pinfo[net.Name]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil && time.Since(c.at) < net.PinfoTTL {
		return c.p
	}
	return nil
}

// storePinfo caches a pinfo asked for at asked, when PinfoTTL is set.
// Handlers ask in parallel when the cache runs out; the most recently asked
// answer wins, and its age counts from the asking, so a cached pinfo is
// never older than the TTL.
func (b *Backend) storePinfo(net *NetworkConfig, p *rpcclient.Pinfo, asked time.Time) {
	if net.PinfoTTL <= 0 {
		return
	}
	c := b.pinfo[net.Name]
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p == nil || asked.After(c.at) {
		c.p, c.at = p, asked
	}
}

// chainAround gives the chain's blocks a share on previous height prev is
// judged by (aggregates.SolutionFacts.Prev and Next): from the chain the
// follower recorded, or, for heights up to the node's tip that it has not
// recorded yet (it runs behind the node by up to a poll, and further after
// an outage), from the node itself.
func (b *Backend) chainAround(ctx context.Context, net *NetworkConfig, prev, tip int64) (*aggregates.ChainPoint, *aggregates.ChainPoint, error) {
	next := prev + 1 + net.StaleTolerance
	var p, n *aggregates.ChainPoint
	b.view.Read(func(l *aggregates.Ledger) {
		pts := l.Network(net.Name).ChainPoints
		if c, ok := pts[prev]; ok {
			p = &c
		}
		if c, ok := pts[next]; ok {
			n = &c
		}
	})
	var err error
	if p == nil && prev >= 1 && prev <= tip {
		if p, err = b.points.get(ctx, net, prev, b.now()); err != nil {
			return nil, nil, err
		}
	}
	if n == nil && next <= tip {
		if n, err = b.points.get(ctx, net, next, b.now()); err != nil {
			return nil, nil, err
		}
	}
	return p, n, nil
}

// chainPoints caches blocks read from the node for chainAround, briefly:
// a backlog of shares after an outage asks about the same few heights
// until the follower has recorded them.
type chainPoints struct {
	mu sync.Mutex
	m  map[string]chainPointEntry
}

type chainPointEntry struct {
	p  aggregates.ChainPoint
	at time.Time
}

// chainPointTTL bounds how long a block read from the node is reused.
const chainPointTTL = 10 * time.Second

func (c *chainPoints) get(ctx context.Context, net *NetworkConfig, h int64, now time.Time) (*aggregates.ChainPoint, error) {
	key := net.Name + ":" + strconv.FormatInt(h, 10)
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && time.Since(e.at) < chainPointTTL {
		p := e.p
		return &p, nil
	}
	cb, err := net.Node.BlockCoinbase(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("backend: %s: the block at height %d, to judge a share: %w", net.Name, h, err)
	}
	p := aggregates.ChainPoint{Height: h, Hash: cb.BlockHash, Time: time.Unix(cb.Time, 0).UTC(), SeenAt: now}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[string]chainPointEntry{}
	}
	c.m[key] = chainPointEntry{p: p, at: time.Now()}
	c.mu.Unlock()
	return &p, nil
}
