package inproc_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/commands"
	"github.com/purepool/purepool/commands/commandbustest"
	"github.com/purepool/purepool/commands/inproc"
)

func TestContract(t *testing.T) {
	commandbustest.Run(t, func(t *testing.T) commandbustest.Bus {
		b := inproc.New(inproc.WithDeliveryLimit(3), inproc.WithRedeliveryDelay(time.Millisecond))
		return commandbustest.Bus{
			Publisher:     b,
			Consumer:      b,
			DeliveryLimit: 3,
			DeadLetters: func(context.Context) ([]commandbustest.DeadLetter, error) {
				var out []commandbustest.DeadLetter
				for _, d := range b.DeadLetters() {
					out = append(out, commandbustest.DeadLetter{Message: d.Message, Reason: d.Reason})
				}
				return out, nil
			},
		}
	})
}

func TestMaxLengthAndClose(t *testing.T) {
	b := inproc.New(inproc.WithMaxLength(1))
	msg := commands.Message{ID: uuid.New(), Name: commands.NameIssueWork, Body: []byte(`{}`)}
	if err := b.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(t.Context(), msg); !errors.Is(err, inproc.ErrFull) {
		t.Fatalf("publish to a full queue: %v, want ErrFull", err)
	}
	if b.Len() != 1 {
		t.Fatalf("Len = %d, want 1", b.Len())
	}
	b.Close()
	if err := b.Publish(t.Context(), msg); !errors.Is(err, inproc.ErrClosed) {
		t.Fatalf("publish after Close: %v, want ErrClosed", err)
	}
	if err := b.Publish(t.Context(), commands.Message{ID: uuid.New()}); err == nil {
		t.Fatal("publish without a name succeeded")
	}
}

func TestHandlerPanicIsRedelivered(t *testing.T) {
	b := inproc.New(inproc.WithDeliveryLimit(1), inproc.WithRedeliveryDelay(-1))
	msg := commands.Message{ID: uuid.New(), Name: commands.NameIssueWork, Body: []byte(`{}`)}
	if err := b.Publish(t.Context(), msg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var calls atomic.Int32
	done := make(chan error)
	go func() {
		done <- b.Consume(ctx, func(context.Context, commands.Message) error {
			calls.Add(1)
			panic("boom")
		})
	}()
	for len(b.DeadLetters()) == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	d := b.DeadLetters()
	if calls.Load() != 2 || len(d) != 1 || d[0].Message.ID != msg.ID || !strings.Contains(d[0].Reason, "boom") {
		t.Fatalf("calls=%d dead=%v, want 2 calls then one dead letter saying boom", calls.Load(), d)
	}
}

func TestRedeliveryDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	b := inproc.New(inproc.WithRedeliveryDelay(delay))
	if err := b.Publish(t.Context(), commands.Message{ID: uuid.New(), Name: commands.NameIssueWork}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var times []time.Time
	b.Consume(ctx, func(context.Context, commands.Message) error {
		times = append(times, time.Now())
		if len(times) == 3 {
			cancel()
			return nil
		}
		return errors.New("node down")
	})
	if len(times) != 3 || times[1].Sub(times[0]) < delay || times[2].Sub(times[1]) < 2*delay {
		t.Fatalf("deliveries at %v, want gaps of >= %v then >= %v", times, delay, 2*delay)
	}
}
