package rabbitmq_test

import (
	"context"
	"fmt"
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
