package backend_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// premine records work for a few miners and mines n distinct valid shares,
// returned as encoded SubmitSolution messages.
func premine(b *testing.B, h *harness, n int) []commands.Message {
	b.Helper()
	perMiner := 500
	var msgs []commands.Message
	for m := 0; len(msgs) < n; m++ {
		a := addrOf(byte(100 + m))
		w := issueCmd(a, "rig", uuid.New())
		h.mustHandle(w)
		for i := 0; i < perMiner && len(msgs) < n; i++ {
			c := submitCmd(a, "rig", h.share(a, w.WorkID).Solution)
			msg, err := commands.Encode(c)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, msg)
		}
	}
	return msgs
}

// BenchmarkSubmitSolution measures accepted shares per second through the
// SubmitSolution handler: decode, work and miner lookup, the node's three
// answers (exec biblehash, hexblocktocoinbase, pinfo) from the simulated node
// over HTTP, the decision, and the atomic append of the acceptance with its
// bible hash reservation to PostgreSQL, 32 handlers per core at a time. BenchmarkAppendBaseline appends the same two-stream write to the same
// kind of store without anything else: the ceiling the handler can reach.
//
// How the node is asked, compared in one run: rpc=batch puts the questions
// of the shares validated at the same time in one JSON-RPC batch (up to 16
// shares per HTTP round trip); rpc=batch-per-share sends one batch, one
// round trip, per share; rpc=3calls hides the client's batch support, so
// each share costs three calls.
//
//	go test ./backend -run '^$' -bench 'SubmitSolution|AppendBaseline' -benchtime 20000x
func BenchmarkSubmitSolution(b *testing.B) {
	for _, rpc := range []string{"batch", "batch-per-share", "3calls"} {
		for _, ttl := range []time.Duration{0, 200 * time.Millisecond} {
			b.Run(fmt.Sprintf("rpc=%s/pinfo-ttl=%s", rpc, ttl), func(b *testing.B) { benchSubmit(b, ttl, rpc) })
		}
	}
}

// perShare answers a group of shares with one batch per share, sent at
// once: what each handler did before the group.
type perShare struct {
	backend.Node
	c *rpcclient.Client
}

func (p perShare) CheckShares(ctx context.Context, sols []biblepay.Solution, withPinfo bool) ([]*rpcclient.ShareCheck, error) {
	out := make([]*rpcclient.ShareCheck, len(sols))
	errs := make([]error, len(sols))
	var wg sync.WaitGroup
	for i := range sols {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = p.c.CheckShare(ctx, sols[i], withPinfo)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func benchSubmit(b *testing.B, pinfoTTL time.Duration, rpc string) {
	h := newHarness(b, benchStore(b), func(n *backendNetworkConfig, c *backendConfig) {
		// PUREPOOL_BENCH_STEP_WRITES=1 measures the stepwise writes a store
		// without atomic multi-stream appends gets (Config.StepWrites).
		c.StepWrites = os.Getenv("PUREPOOL_BENCH_STEP_WRITES") == "1"
		n.PinfoTTL = pinfoTTL
		switch rpc {
		case "3calls":
			n.Node = threeCalls{n.Node}
		case "batch-per-share":
			n.Node = perShare{n.Node, n.Node.(*rpcclient.Client)}
		}
	})
	msgs := premine(b, h, b.N)
	h.startAll(nil) // the view, the jobs and the group commit, as in production
	dialsBefore := h.dials.Load()
	var next atomic.Int64
	b.SetParallelism(32) // × GOMAXPROCS goroutines: as many handlers as a busy consumer runs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m := msgs[next.Add(1)-1]
			if err := h.b.Handle(context.Background(), m); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "solutions/s")
	// Connections opened while timed: about one per handler when the
	// client keeps them alive, thousands when it re-dials.
	b.ReportMetric(float64(h.dials.Load()-dialsBefore), "dials")
	// Every share must have been accepted for the figure to mean anything.
	for _, m := range msgs[:min(len(msgs), 50)] {
		if got := h.streamTypes(events.StreamSolution(m.ID)); len(got) != 1 || got[0] != events.TypeSolutionAccepted {
			b.Fatalf("share %s: %v", m.ID, got)
		}
	}
}

// benchStore is the store the benchmarks run on: PostgreSQL, or with
// PUREPOOL_BENCH_STORE=esdbfake the project's EventStoreDB server (gRPC on
// loopback), where the backend's writes are stepwise (no atomic
// multi-stream append; compare with BenchmarkAppendBaselineStepwise).
func benchStore(b *testing.B) events.Store {
	switch k := os.Getenv("PUREPOOL_BENCH_STORE"); k {
	case "", "postgres":
		return newPostgresStore(b)
	case "esdbfake":
		return newESDBFakeStore(b)
	default:
		b.Fatalf("PUREPOOL_BENCH_STORE=%q: want postgres or esdbfake", k)
		return nil
	}
}

func BenchmarkAppendBaseline(b *testing.B) {
	store := benchStore(b)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			id := uuid.New()
			acc, _ := events.New(uuid.New(), events.SolutionAccepted{Network: network, SolutionID: id, BibleHash: fmt.Sprint(i), Difficulty: 4}, events.Metadata{CommandID: id.String()})
			res, _ := events.New(uuid.New(), events.BibleHashReserved{Network: network, BibleHash: fmt.Sprint(i), SolutionID: id}, events.Metadata{})
			_, err := store.Append(context.Background(),
				events.StreamWrite{Stream: events.StreamSolution(id), Expected: events.NoStream, Events: []events.NewEvent{acc}},
				events.StreamWrite{Stream: events.StreamBibleHash(network, fmt.Sprint(i)), Expected: events.NoStream, Events: []events.NewEvent{res}})
			if err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendBaselineStepwise stores the same share as two
// single-stream appends, the reservation then the solution: the raw commit
// cost of the stepwise path (Config.StepWrites) without the group commit.
func BenchmarkAppendBaselineStepwise(b *testing.B) {
	store := benchStore(b)
	var next atomic.Int64
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			id := uuid.New()
			acc, _ := events.New(uuid.New(), events.SolutionAccepted{Network: network, SolutionID: id, BibleHash: fmt.Sprint(i), Difficulty: 4}, events.Metadata{CommandID: id.String()})
			res, _ := events.New(uuid.New(), events.BibleHashReserved{Network: network, BibleHash: fmt.Sprint(i), SolutionID: id}, events.Metadata{})
			if _, err := events.Append(context.Background(), store, events.StreamBibleHash(network, fmt.Sprint(i)), events.NoStream, res); err != nil {
				b.Error(err)
			}
			if _, err := events.Append(context.Background(), store, events.StreamSolution(id), events.NoStream, acc); err != nil {
				b.Error(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendBaselineBatched appends the same two-stream writes, 32 per
// append: the ceiling of the group commit.
func BenchmarkAppendBaselineBatched(b *testing.B) {
	store := newPostgresStore(b)
	const per = 32
	b.ResetTimer()
	for i := 0; i < b.N; i += per {
		var writes []events.StreamWrite
		for j := range per {
			id := uuid.New()
			bh := fmt.Sprint(i, "-", j)
			acc, _ := events.New(uuid.New(), events.SolutionAccepted{Network: network, SolutionID: id, BibleHash: bh, Difficulty: 4}, events.Metadata{CommandID: id.String()})
			res, _ := events.New(uuid.New(), events.BibleHashReserved{Network: network, BibleHash: bh, SolutionID: id}, events.Metadata{})
			writes = append(writes,
				events.StreamWrite{Stream: events.StreamSolution(id), Expected: events.NoStream, Events: []events.NewEvent{acc}},
				events.StreamWrite{Stream: events.StreamBibleHash(network, bh), Expected: events.NoStream, Events: []events.NewEvent{res}})
		}
		if _, err := store.Append(context.Background(), writes...); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkSubmitSolutionInterleaved is BenchmarkSubmitSolution's figures
// measured in alternation, so that the load other processes put on the
// machine hits every variant alike: chunks of shares go through a backend
// asking the node in batches of shares, one batch per share, and three calls
// per share (pinfo asked for every share), and as many raw two-stream
// appends go to a store of their own, in rotating order.
//
//	go test ./backend -run '^$' -bench SubmitSolutionInterleaved -benchtime 20000x
func BenchmarkSubmitSolutionInterleaved(b *testing.B) {
	const chunk = 1000
	variants := []string{"batch", "batch-per-share", "3calls"}
	harnesses := map[string]*harness{}
	shares := map[string][]commands.Message{}
	for _, v := range variants {
		h := newHarness(b, newPostgresStore(b), func(n *backendNetworkConfig, _ *backendConfig) {
			switch v {
			case "3calls":
				n.Node = threeCalls{n.Node}
			case "batch-per-share":
				n.Node = perShare{n.Node, n.Node.(*rpcclient.Client)}
			}
		})
		shares[v] = premine(b, h, b.N)
		h.startAll(nil)
		harnesses[v] = h
	}
	store := newPostgresStore(b)
	parallel := func(n, workers int, f func(i int)) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		began := time.Now()
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
					f(i)
				}
			}()
		}
		wg.Wait()
		return time.Since(began)
	}
	elapsed := map[string]time.Duration{}
	var appended atomic.Int64
	b.ResetTimer()
	for off, round := 0, 0; off < b.N; off, round = off+chunk, round+1 {
		n := min(chunk, b.N-off)
		for k := range len(variants) + 1 {
			switch j := (k + round) % (len(variants) + 1); j {
			case len(variants):
				elapsed["append"] += parallel(n, 16, func(int) {
					i := appended.Add(1)
					id := uuid.New()
					acc, _ := events.New(uuid.New(), events.SolutionAccepted{Network: network, SolutionID: id, BibleHash: fmt.Sprint(i), Difficulty: 4}, events.Metadata{CommandID: id.String()})
					res, _ := events.New(uuid.New(), events.BibleHashReserved{Network: network, BibleHash: fmt.Sprint(i), SolutionID: id}, events.Metadata{})
					if _, err := store.Append(context.Background(),
						events.StreamWrite{Stream: events.StreamSolution(id), Expected: events.NoStream, Events: []events.NewEvent{acc}},
						events.StreamWrite{Stream: events.StreamBibleHash(network, fmt.Sprint(i)), Expected: events.NoStream, Events: []events.NewEvent{res}}); err != nil {
						b.Error(err)
					}
				})
			default:
				v := variants[j]
				h, msgs := harnesses[v], shares[v][off:off+n]
				elapsed[v] += parallel(n, 64, func(i int) {
					if err := h.b.Handle(context.Background(), msgs[i]); err != nil {
						b.Error(err)
					}
				})
			}
		}
	}
	b.StopTimer()
	rate := func(name string) float64 { return float64(b.N) / elapsed[name].Seconds() }
	for _, v := range variants {
		b.ReportMetric(rate(v), v+"-solutions/s")
	}
	b.ReportMetric(rate("append"), "raw-appends/s")
	b.ReportMetric(rate("batch")/rate("append"), "batch/append")
	b.ReportMetric(rate("batch")/rate("3calls"), "batch/3calls")
	for _, v := range variants {
		for _, m := range shares[v][:min(len(shares[v]), 50)] {
			if got := harnesses[v].streamTypes(events.StreamSolution(m.ID)); len(got) != 1 || got[0] != events.TypeSolutionAccepted {
				b.Fatalf("%s: share %s: %v", v, m.ID, got)
			}
		}
	}
}

// BenchmarkIssueWork measures work handouts per second through the
// IssueWork handler (decode, miner lookup, decision, append of WorkIssued
// to PostgreSQL) for miners already registered, 32 handlers per core at a
// time. batch=1 stores each handout in its own transaction (what the
// handler did before handouts joined the group commit); batch=64 stores
// them through the group commit, as Run does by default.
//
//	go test ./backend -run '^$' -bench IssueWork -benchtime 20000x
func BenchmarkIssueWork(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			h := newHarness(b, newPostgresStore(b), func(_ *backendNetworkConfig, c *backendConfig) { c.BatchAppends = batch })
			const miners = 1000
			for m := range miners {
				h.mustHandle(issueCmd(minerAddr(m), "rig", uuid.New())) // registers the miner and its worker
			}
			msgs := make([]commands.Message, b.N)
			for i := range msgs {
				msg, err := commands.Encode(issueCmd(minerAddr(i%miners), "rig", uuid.New()))
				if err != nil {
					b.Fatal(err)
				}
				msgs[i] = msg
			}
			h.startAll(nil)
			var next atomic.Int64
			b.SetParallelism(32)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := h.b.Handle(context.Background(), msgs[next.Add(1)-1]); err != nil {
						b.Error(err)
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handouts/s")
			for _, m := range msgs[:min(len(msgs), 50)] {
				c, _ := commands.Decode(m)
				if got := h.streamTypes(events.StreamWork(c.(commands.IssueWork).WorkID)); len(got) != 1 || got[0] != events.TypeWorkIssued {
					b.Fatalf("work of %s: %v", m.ID, got)
				}
			}
		})
	}
}

// minerAddr is the address of the i-th of up to 65,536 test miners.
func minerAddr(i int) string {
	return biblepay.Networks[network].Address([20]byte{0x77, byte(i >> 8), byte(i)})
}
