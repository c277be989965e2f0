package rabbitmq_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/rabbitmq"
	"github.com/purepool/purepool/internal/testenv"
)

// benchBody is the size of a real SubmitSolution command.
var benchBody = []byte(fmt.Sprintf(`{"id":"%s","network":"main","miner_id":"%s","address":"B5tWpb8K1S7NmH4Zx1rAPyUqWnBpVaEcU8","worker":"rig1","solution":"%0400x","thread_id":3,"agent":"biblepay","os":"linux","remote_ip":"10.0.0.1","received_at":"2026-11-25T12:00:00Z"}`, uuid.New(), uuid.New(), 0))

// BenchmarkPublish compares Publish (confirm mode, mandatory, persistent,
// waits for the confirm) with same-run baselines: publishing the same
// message on one channel without confirms (fire and forget, what a
// publisher that risks losing commands would do), and the bare library
// publishing with confirms on one channel.
//
//	go test -run '^$' -bench Publish -benchtime 5000x ./commands/rabbitmq
func BenchmarkPublish(b *testing.B) {
	url := testenv.RequireAMQP(b)
	b.Run("baseline-unconfirmed", func(b *testing.B) {
		top := newTopology(b, url, 3)
		ch := adminChannel(b, url)
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				err := ch.PublishWithContext(context.Background(), top.Exchange, commands.NameSubmitSolution, false, false, amqp.Publishing{
					ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: uuid.NewString(),
					Type: commands.NameSubmitSolution, Timestamp: time.Now(), Body: benchBody,
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// The bare library in confirm mode on one channel, without our
	// returns correlation and channel pool: the overhead baseline.
	b.Run("baseline-raw-confirmed", func(b *testing.B) {
		top := newTopology(b, url, 3)
		ch := adminChannel(b, url)
		if err := ch.Confirm(false); err != nil {
			b.Fatal(err)
		}
		b.SetParallelism(16)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), top.Exchange, commands.NameSubmitSolution, true, false, amqp.Publishing{
					ContentType: "application/json", DeliveryMode: amqp.Persistent, MessageId: uuid.NewString(),
					Type: commands.NameSubmitSolution, Timestamp: time.Now(), Body: benchBody,
				})
				if err != nil || !dc.Wait() {
					b.Error("not confirmed", err)
					return
				}
			}
		})
	})
	for _, channels := range []int{1, 4} {
		b.Run(fmt.Sprintf("confirmed-parallel-channels=%d", channels), func(b *testing.B) {
			top := newTopology(b, url, 3)
			p := newPublisher(b, rabbitmq.Config{URL: url, Topology: top, Channels: channels})
			b.SetParallelism(16) // 32 concurrent "HTTP handlers" on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := p.Publish(context.Background(), commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: benchBody}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	b.Run("confirmed-serial", func(b *testing.B) {
		top := newTopology(b, url, 3)
		p := newPublisher(b, rabbitmq.Config{URL: url, Topology: top})
		b.ResetTimer()
		for range b.N {
			if err := p.Publish(context.Background(), commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: benchBody}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkPublishBatch measures group-commit publishing: many concurrent
// publishers (64 goroutines, as many HTTP handlers of a busy frontend) each
// waiting for its own command's confirm, at BatchSize 1 (one broker message
// and one confirm per command, as before batching) and with batching (the
// defaults and variants), and one publisher alone. It reports commands/s
// and the latency of a Publish call (p50, p99, max) as metrics:
//
//	go test -run '^$' -bench PublishBatch -benchtime 20000x ./commands/rabbitmq
func BenchmarkPublishBatch(b *testing.B) {
	url := testenv.RequireAMQP(b)
	for _, c := range []struct {
		name       string
		size       int
		delay      time.Duration
		channels   int
		publishers int
	}{
		{"publishers=64/batch=1", 1, 0, 0, 64},
		{"publishers=64/batch=default", 0, 0, 0, 64},
		{"publishers=64/batch=default/channels=1", 0, 0, 1, 64},
		{"publishers=64/batch=16", 16, 0, 0, 64},
		{"publishers=64/batch=default/delay=1ms", 0, time.Millisecond, 0, 64},
		// One publisher: the latency of an idle pool's command, which
		// batching must not raise.
		{"publishers=1/batch=1", 1, 0, 0, 1},
		{"publishers=1/batch=default", 0, 0, 0, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			top := newTopology(b, url, 3)
			p := newPublisher(b, rabbitmq.Config{URL: url, Topology: top, BatchSize: c.size, BatchDelay: c.delay, Channels: c.channels})
			publishers := c.publishers
			lat := make([][]time.Duration, publishers)
			var next atomic.Int64
			b.ResetTimer()
			began := time.Now()
			var wg sync.WaitGroup
			for g := range publishers {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						t0 := time.Now()
						if err := p.Publish(context.Background(), commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: benchBody}); err != nil {
							b.Error(err)
							return
						}
						lat[g] = append(lat[g], time.Since(t0))
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(began)
			b.StopTimer()
			var all []time.Duration
			for _, l := range lat {
				all = append(all, l...)
			}
			if len(all) == 0 {
				return
			}
			slices.Sort(all)
			q := func(f float64) float64 { return float64(all[int(f*float64(len(all)-1))].Microseconds()) / 1000 }
			b.ReportMetric(float64(len(all))/elapsed.Seconds(), "cmds/s")
			// Commands per broker message: the batch size reached.
			if q, err := adminChannel(b, url).QueueDeclarePassive(top.Queue, true, false, false, false, top.QueueArgs()); err == nil && q.Messages > 0 {
				b.ReportMetric(float64(len(all))/float64(q.Messages), "cmds/msg")
			}
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
}

// BenchmarkConsumeBatch measures the consumer on a queue filled by 64
// concurrent publishers, at BatchSize 1 and the default: commands handled
// per second by 4 workers with a handler that does nothing (the broker's
// and the consumer's own cost: deliveries, acks).
//
//	go test -run '^$' -bench ConsumeBatch -benchtime 20000x ./commands/rabbitmq
func BenchmarkConsumeBatch(b *testing.B) {
	url := testenv.RequireAMQP(b)
	for _, size := range []int{1, 0} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			top := newTopology(b, url, 3)
			cfg := rabbitmq.Config{URL: url, Topology: top, BatchSize: size, Workers: 4}
			p := newPublisher(b, cfg)
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := p.Publish(context.Background(), commands.Message{ID: uuid.New(), Name: commands.NameSubmitSolution, Body: benchBody}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			c := newConsumer(b, cfg)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var handled atomic.Int64
			b.ResetTimer()
			began := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = c.Consume(ctx, func(context.Context, commands.Message) error {
					if handled.Add(1) == int64(b.N) {
						cancel()
					}
					return nil
				})
			}()
			<-done
			b.StopTimer()
			b.ReportMetric(float64(handled.Load())/time.Since(began).Seconds(), "cmds/s")
		})
	}
}
