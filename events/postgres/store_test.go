package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/eventstoretest"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/internal/testenv"
)

// openStore opens a migrated store on a fresh database.
func openStore(tb testing.TB) *postgres.Store {
	tb.Helper()
	url := testenv.NewPostgresDB(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, url)
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
