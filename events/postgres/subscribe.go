package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/purepool/purepool/events"
)

// Subscribe implements events.Store: it reads every event after `after` in
// pages, then waits for a NOTIFY on Channel (received on a dedicated
// connection, not a pool slot) or for PollInterval, and reads again from the
// last delivered position. Because positions are gapless and commit-ordered
// (see the package documentation), re-reading from the checkpoint can neither
// skip nor repeat an event; notifications only shorten the wait.
//
// It returns ctx.Err() when ctx ends, handle's error (unwrapped) when handle
// fails, and a read error when the store cannot be read; in each case the
// caller resumes from the last position of the last batch handle accepted.
func (s *Store) Subscribe(ctx context.Context, after uint64, handle func(context.Context, []events.Envelope) error) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	wake := make(chan struct{}, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.listen(ctx, wake)
	}()

	poll := s.PollInterval
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	pageSize := s.PageSize
	if pageSize <= 0 {
		pageSize = 1000
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()

	pos := after
	for {
		var err error
		if pos, err = events.CatchUp(ctx, s.ReadAll, pos, pageSize, handle); err != nil {
			return err // the handler's error as it is, or the read error wrapped
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-ticker.C:
		}
	}
}

// listen holds a LISTEN connection until ctx ends and signals wake after
// LISTEN succeeds (events committed while it was not listening must be read)
// and on every notification. A lost connection is retried every poll
// interval (at most a second); meanwhile the subscription keeps polling.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	retry := min(s.PollInterval, time.Second)
	if retry <= 0 {
		retry = DefaultPollInterval
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, signal)
		if err == nil || ctx.Err() != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, signal func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		return err
	}
	signal()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil
			}
			return err
		}
		signal()
	}
}
