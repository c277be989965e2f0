// Package pglock is a backend.Locker over PostgreSQL session advisory locks,
// so that singleton jobs (a network's chain follower, its payer) run in one
// backend process at a time even when several share the event store. A lock
// is held on a connection taken from the pool for as long as it is held;
// if that connection dies, PostgreSQL releases the lock.
package pglock

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Locker hands out advisory locks of one database.
type Locker struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url.
func Open(ctx context.Context, url string) (*Locker, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("pglock: parse url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pglock: connect: %w", err)
	}
	return &Locker{pool: pool}, nil
}

// Close releases the connections (and any lock still held).
func (l *Locker) Close() { l.pool.Close() }

// TryLock takes the named lock if nobody holds it.
func (l *Locker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	conn, err := l.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("pglock: %w", err)
	}
	key := "purepool:" + name
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("pglock: try %s: %w", name, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	return func() {
		ctx := context.Background()
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock(hashtextextended($1, 0))", key); err != nil {
			// The lock's fate is unknown: drop the connection, which ends the session and the lock.
			conn.Conn().Close(ctx)
		}
		conn.Release()
	}, true, nil
}
