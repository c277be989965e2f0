package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/backend"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
)

// Event store URLs, as given to --store:
//
//	postgres://user:pass@host:5432/dbname?sslmode=disable   (also postgresql://)
//	sqlite:///absolute/path/events.db                        (three slashes: absolute path)
//	sqlite:relative/path/events.db                           (no slashes: relative to the working directory)
const storeURLHelp = "event store URL: postgres://user@host:5432/db?sslmode=disable, " +
	"sqlite:///abs/path/events.db or sqlite:rel/path/events.db"

func init() {
	register("migrate", "create or upgrade the event store schema (idempotent)", runMigrate)
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("migrate", stderr)
	storeURL := fs.String("store", "", storeURLHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *storeURL == "" {
		return usageError{fmt.Errorf("--store is required (%s)", storeURLHelp)}
	}
	target, err := parseEventStoreURL(*storeURL)
	if err != nil {
		return usageError{err}
	}
	var pool uuid.UUID
	switch target.kind {
	case "postgres":
		s, err := postgres.Open(ctx, target.location)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Migrate(ctx); err != nil {
			return err
		}
		if pool, err = installPool(ctx, s); err != nil {
			return err
		}
	case "sqlite":
		s, err := sqlite.Open(ctx, target.location)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Migrate(ctx); err != nil {
			return err
		}
		if pool, err = installPool(ctx, s); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "event store schema up to date (%s); pool id %s\n", target.kind, pool)
	return nil
}

// installPool gives the store its installation id (backend.Install) and
// returns it.
func installPool(ctx context.Context, s events.Store) (uuid.UUID, error) {
	res, err := backend.Install(ctx, s, time.Now())
	if err != nil {
		return uuid.Nil, err
	}
	for _, env := range res.Events {
		if e, err := events.Decode(env); err == nil {
			if pi, ok := e.(events.PoolInstalled); ok {
				return pi.PoolID, nil
			}
		}
	}
	return uuid.Nil, fmt.Errorf("migrate: stream %q holds no PoolInstalled", events.StreamPool)
}

// eventStoreTarget is a parsed --store URL: the adapter and what its Open takes.
type eventStoreTarget struct {
	kind     string // "postgres" or "sqlite"
	location string // the PostgreSQL URL, or the SQLite file path
}

// parseEventStoreURL reads the URL forms documented at storeURLHelp.
func parseEventStoreURL(raw string) (eventStoreTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return eventStoreTarget{}, fmt.Errorf("invalid store URL: %w", err)
	}
	switch u.Scheme {
	case "postgres", "postgresql":
		return eventStoreTarget{kind: "postgres", location: raw}, nil
	case "sqlite":
		if u.Host != "" || u.RawQuery != "" || u.Fragment != "" {
			return eventStoreTarget{}, fmt.Errorf("invalid sqlite store URL %q: want sqlite:///abs/path.db or sqlite:rel/path.db", raw)
		}
		path := u.Path
		if u.Opaque != "" {
			path = u.Opaque
		}
		if path == "" || strings.HasSuffix(path, "/") {
			return eventStoreTarget{}, fmt.Errorf("invalid sqlite store URL %q: no file path", raw)
		}
		return eventStoreTarget{kind: "sqlite", location: path}, nil
	default:
		return eventStoreTarget{}, fmt.Errorf("unsupported store URL scheme %q (want postgres:// or sqlite:)", u.Scheme)
	}
}
