package backend

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestIntakeCaughtUp(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	closed := t0.Add(10 * time.Second)
	idle := 2 * time.Second
	a, b := uuid.New(), uuid.New()
	consuming := func(in *intake, now time.Time) { in.expectConsumer(); in.consumingSince(now) }
	handled := func(in *intake, id uuid.UUID, received, now time.Time, ok bool) {
		in.start(id, received, now)
		in.finish(id, received, ok, now)
	}
	tests := []struct {
		name string
		run  func(in *intake, now time.Time) time.Time // returns the time of the question
		want bool
	}{
		{"no consumer: commands handed in directly", func(in *intake, now time.Time) time.Time { return now }, true},
		{"consuming, nothing handled yet, not idle long enough", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			return now.Add(time.Second)
		}, false},
		{"consuming and idle since the start", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			return now.Add(3 * time.Second)
		}, true},
		{"registered but not yet consuming (view catching up)", func(in *intake, now time.Time) time.Time {
			in.expectConsumer()
			return now.Add(time.Hour)
		}, false},
		{"backlog: a share received before the close in hand", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			in.start(a, closed.Add(-time.Second), now)
			return now.Add(30 * time.Second)
		}, false},
		{"backlog reached the close: a share received after it handled", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			handled(in, a, closed.Add(-time.Second), now, true)
			handled(in, b, closed.Add(time.Second), now, true)
			return now
		}, true},
		{"an earlier share failed and waits for its redelivery", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			handled(in, a, closed.Add(-time.Second), now, false)
			handled(in, b, closed.Add(time.Second), now, true)
			return now.Add(5 * time.Second)
		}, false},
		{"a failed share never redelivered here stops holding rounds back", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			handled(in, a, closed.Add(-time.Second), now, false)
			handled(in, b, closed.Add(time.Second), now, true)
			return now.Add(retryForget + time.Second)
		}, true},
		{"a frontend clock an hour ahead: its share handled before the close does not make the queue look caught up", func(in *intake, now time.Time) time.Time {
			consuming(in, closed.Add(-time.Hour))
			handled(in, b, closed.Add(time.Hour), closed.Add(-time.Minute), true) // clock ahead; handled before the close
			return closed.Add(-time.Minute + time.Second)
		}, false},
		{"only commands received before the close handled, still busy", func(in *intake, now time.Time) time.Time {
			consuming(in, now)
			handled(in, a, closed.Add(-time.Second), now, true)
			return now.Add(time.Second)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in intake
			now := t0.Add(time.Minute)
			at := tt.run(&in, now)
			if got := in.caughtUp(closed, idle, at); got != tt.want {
				t.Fatalf("caughtUp = %v, want %v", got, tt.want)
			}
		})
	}
}

// After an outage of hours every round's close is long past; RoundWait
// still counts from when this process first held the round back, so the
// backlog is reached before the block is credited.
func TestRoundWaitCountsFromTheFirstHold(t *testing.T) {
	b := &Backend{cfg: Config{RoundWait: 80 * time.Millisecond, IntakeIdle: time.Hour}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	b.intake.expectConsumer()
	b.intake.consumingSince(time.Now())
	closed := time.Now().Add(-3 * time.Hour)
	b.intake.start(uuid.New(), closed.Add(-time.Minute), time.Now()) // the backlog's first share, in hand
	if b.roundComplete("test", 7, closed) {
		t.Fatal("a round closed hours ago was credited at once, before the backlog was handled")
	}
	time.Sleep(100 * time.Millisecond)
	if !b.roundComplete("test", 7, closed) {
		t.Fatal("RoundWait passed since the first hold: the block must be credited")
	}
}
