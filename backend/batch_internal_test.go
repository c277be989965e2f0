package backend

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/sqlite"
)

// TestGroupAppenderIsolatesFailures: writes appended together each get the
// outcome they would have had alone, and writes to one stream never share
// a batch.
func TestGroupAppenderIsolatesFailures(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	write := func(stream string, exp events.ExpectedVersion) []events.StreamWrite {
		e, _ := events.New(uuid.New(), events.PayoutsResumed{Network: stream}, events.Metadata{})
		return []events.StreamWrite{{Stream: stream, Expected: exp, Events: []events.NewEvent{e}}}
	}
	// "taken" exists already: a NoStream write to it must fail alone.
	if _, err := store.Append(ctx, write("taken", events.NoStream)...); err != nil {
		t.Fatal(err)
	}
	g := newGroupAppender(store, 16)
	go g.Run(ctx)
	var wg sync.WaitGroup
	errs := make([]error, 40)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch {
			case i == 7:
				errs[i] = g.Append(ctx, write("taken", events.NoStream))
			case i%10 == 3: // several writes to one stream: one wins
				errs[i] = g.Append(ctx, write("shared", events.NoStream))
			default:
				errs[i] = g.Append(ctx, write(fmt.Sprint("s", i), events.NoStream))
			}
		}()
	}
	wg.Wait()
	var sharedWins int
	for i, err := range errs {
		switch {
		case i == 7:
			if !errors.Is(err, events.ErrWrongExpectedVersion) {
				t.Errorf("write to a taken stream: %v", err)
			}
		case i%10 == 3:
			if err == nil {
				sharedWins++
			} else if !errors.Is(err, events.ErrWrongExpectedVersion) {
				t.Errorf("shared stream: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
		}
	}
	if sharedWins != 1 {
		t.Fatalf("%d writes to one stream with NoStream succeeded", sharedWins)
	}
	head, _ := store.Head(ctx)
	if head != 1+1+35 {
		t.Fatalf("%d events stored, want 37", head)
	}
}
