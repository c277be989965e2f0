package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/eventstoretest"
	"github.com/purepool/purepool/events/sqlite"
)

// openStore opens a migrated store on a new file in a temporary directory.
func openStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "events.db"))
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		tb.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	eventstoretest.Run(t, func(t *testing.T) events.Store { return openStore(t) })
}
