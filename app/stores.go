package app

// The event store and the read-model database: which ones the
// configuration names, and opening them.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/events/esdb"
	"github.com/purepool/purepool/events/postgres"
	"github.com/purepool/purepool/events/sqlite"
	"github.com/purepool/purepool/projections"
	"github.com/purepool/purepool/provision"
)

// Embedded file names inside data_dir.
const (
	EventsFile    = "events.db"
	ReadModelFile = "readmodel.db"
)

// EventsURL is the event store the configuration names (SQLite in data_dir
// when it names none), in the URL forms of store.events.
func EventsURL(cfg config.Config) string {
	if cfg.Store.Events != "" {
		return cfg.Store.Events
	}
	return "sqlite://" + absPath(filepath.Join(cfg.DataDir, EventsFile))
}

// ReadModelURL is the read-model database the configuration names (SQLite
// in data_dir when it names none).
func ReadModelURL(cfg config.Config) string {
	if cfg.Store.ReadModel != "" {
		return cfg.Store.ReadModel
	}
	return "sqlite://" + absPath(filepath.Join(cfg.DataDir, ReadModelFile))
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func (p *Pool) openStore(ctx context.Context) error {
	raw := EventsURL(p.cfg)
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		s, err := postgres.Open(ctx, raw)
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
	case strings.HasPrefix(raw, "sqlite://"):
		s, err := sqlite.Open(ctx, strings.TrimPrefix(raw, "sqlite://"))
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
		// The embedded store has no administrator: it creates its own tables.
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return fmt.Errorf("store.events: %w", err)
		}
	case strings.HasPrefix(raw, "esdb://"), strings.HasPrefix(raw, "esdb+discover://"):
		if p.opt.Roles.Backend {
			// The backend writes a share with its bible-hash reservation,
			// and a pool block with the chain height, atomically across
			// two streams; EventStoreDB (v4 client) cannot, and every such
			// command would be dead-lettered. It serves the projector.
			return &config.KeyError{Key: "store.events", Err: errors.New("EventStoreDB cannot take the backend's atomic multi-stream writes; use PostgreSQL or SQLite for the backend")}
		}
		s, err := esdb.Open(raw, p.log.With("component", "esdb"))
		if err != nil {
			return fmt.Errorf("store.events: %w", err)
		}
		p.store = s
	default:
		return &config.KeyError{Key: "store.events", Err: fmt.Errorf("unsupported URL %q", raw)}
	}
	p.onClose(p.store.Close)
	return nil
}

func (p *Pool) openReadModel(ctx context.Context) error {
	raw := ReadModelURL(p.cfg)
	if strings.HasPrefix(raw, "sqlite://") {
		raw = "sqlite:" + strings.TrimPrefix(raw, "sqlite://")
	}
	rm, err := projections.OpenURL(ctx, raw)
	if err != nil {
		return fmt.Errorf("store.readmodel: %w", err)
	}
	p.onClose(rm.Close)
	p.readModel = rm
	if p.opt.Roles.Projector {
		if rm.Dialect == projections.Postgres {
			// Grant the website's role SELECT on the views when `purepool
			// setup` created it (a database without it is not provisioned
			// for a separate frontend, and needs no grant).
			role := provision.DefaultPostgres().Frontend
			var exists bool
			if err := rm.SQL.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", role).Scan(&exists); err != nil {
				return fmt.Errorf("store.readmodel: %w", err)
			}
			if exists {
				rm.FrontendRole = role
			}
		}
		if err := rm.Migrate(ctx); err != nil {
			return fmt.Errorf("store.readmodel: %w", err)
		}
	}
	p.reader = projections.NewReader(rm.SQL, rm.Dialect)
	return nil
}
