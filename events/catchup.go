package events

import (
	"context"
	"fmt"
)

// CatchUp is the catch-up half of a polling Subscribe, shared by the SQL
// adapters: it hands handle every event after `after`, page by page, until a
// page comes back short, and returns the position reached. A handler error
// is returned as it is; a read error is wrapped (or is ctx.Err() once ctx
// has ended).
func CatchUp(ctx context.Context, read func(ctx context.Context, after uint64, max int) ([]Envelope, error),
	after uint64, pageSize int, handle func(context.Context, []Envelope) error) (uint64, error) {
	for {
		page, err := read(ctx, after, pageSize)
		if err != nil {
			if ctx.Err() != nil {
				return after, ctx.Err()
			}
			return after, fmt.Errorf("subscribe: read: %w", err)
		}
		if len(page) == 0 {
			return after, nil
		}
		if err := handle(ctx, page); err != nil {
			return after, err
		}
		after = page[len(page)-1].Position
		if len(page) < pageSize {
			return after, nil
		}
	}
}
