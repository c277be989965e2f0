package app

// The event store and the read-model database: which ones the
// configuration names, and opening them.

import (
	"context"
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
	case strings.HasPrefix(raw, "sqlite:"):
		path, err := config.SQLitePath(raw)
		if err != nil {
			return &config.KeyError{Key: "store.events", Err: err}
		}
		s, err := sqlite.Open(ctx, path)
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
	if strings.HasPrefix(raw, "sqlite:") {
		// projections.OpenURL reads sqlite://x as the path x: give it the
		// path as config.SQLitePath reads it.
		path, err := config.SQLitePath(raw)
		if err != nil {
			return &config.KeyError{Key: "store.readmodel", Err: err}
		}
		raw = "sqlite:" + path
	}
	rm, err := projections.OpenURL(ctx, raw)
	if err != nil {
		return fmt.Errorf("store.readmodel: %w", err)
	}
	p.onClose(rm.Close)
	p.readModel = rm
	if p.opt.Roles.Projector {
		if role := p.cfg.Projector.FrontendRole; role != "" {
			rm.FrontendRole = role
		} else if rm.Dialect == projections.Postgres {
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
