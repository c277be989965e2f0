package backend

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/purepool/purepool/events"
)

// Install gives a store its installation id (PoolInstalled in stream
// "pool") unless it has one: migrate calls it, and the payer before its
// first payout on a store an earlier release migrated. The id is random,
// so two installations never share one, and payout ids derive from it
// (aggregates.PayoutIDFor). The write expects no stream: of two racing
// installers one wins and the other reads its id. res is the append (its
// events empty if the id existed).
func Install(ctx context.Context, store events.Store, at time.Time) (events.AppendResult, error) {
	for range 3 {
		have, err := store.ReadStream(ctx, events.StreamPool, 0, 1)
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("backend: read the pool id: %w", err)
		}
		if len(have) > 0 {
			return events.AppendResult{Events: have}, nil
		}
		id := uuid.New()
		ne, err := events.New(uuid.NewSHA1(events.Namespace, []byte("pool-installed:"+id.String())),
			events.PoolInstalled{PoolID: id, At: at.UTC()}, events.Metadata{CorrelationID: "install", CausationID: "install"})
		if err != nil {
			return events.AppendResult{}, err
		}
		res, err := events.Append(ctx, store, events.StreamPool, events.NoStream, ne)
		if errors.Is(err, events.ErrWrongExpectedVersion) {
			continue
		}
		if err != nil {
			return events.AppendResult{}, fmt.Errorf("backend: store the pool id: %w", err)
		}
		return res, nil
	}
	return events.AppendResult{}, errors.New("backend: the pool id stream keeps changing")
}
