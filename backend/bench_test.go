package backend_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/events"
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
// SubmitSolution handler: decode, work and miner lookup, three RPCs to the
// simulated node over HTTP, the decision, and the atomic append of the
// acceptance with its bible hash reservation to PostgreSQL, 16 handlers at a
// time. BenchmarkAppendBaseline appends the same two-stream write to the same
// kind of store without anything else: the ceiling the handler can reach.
func BenchmarkSubmitSolution(b *testing.B) {
	for _, ttl := range []time.Duration{0, 200 * time.Millisecond} {
		b.Run(fmt.Sprintf("pinfo-ttl=%s", ttl), func(b *testing.B) { benchSubmit(b, ttl) })
	}
}

func benchSubmit(b *testing.B, pinfoTTL time.Duration) {
	h := newHarness(b, newPostgresStore(b), func(n *backendNetworkConfig, _ *backendConfig) { n.PinfoTTL = pinfoTTL })
	msgs := premine(b, h, b.N)
	h.startAll(nil) // the view, the jobs and the group commit, as in production
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
	// Every share must have been accepted for the figure to mean anything.
	for _, m := range msgs[:min(len(msgs), 50)] {
		if got := h.streamTypes(events.StreamSolution(m.ID)); len(got) != 1 || got[0] != events.TypeSolutionAccepted {
			b.Fatalf("share %s: %v", m.ID, got)
		}
	}
}

func BenchmarkAppendBaseline(b *testing.B) {
	store := newPostgresStore(b)
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
