package http

import (
	"context"
	"errors"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/projections"
)

// ReadModelMiners is the MinerDirectory over the projected read model
// (table miners); it only runs SELECTs, so the frontend's read-only role
// suffices.
type ReadModelMiners struct {
	Reader *projections.Reader
}

// Miner looks the miner up by network and address.
func (d ReadModelMiners) Miner(ctx context.Context, network, address string) (Miner, bool, error) {
	m, err := d.Reader.Miner(ctx, network, address)
	if errors.Is(err, projections.ErrNotFound) {
		return Miner{}, false, nil
	}
	if err != nil {
		return Miner{}, false, err
	}
	target := m.Target
	if _, err := biblepay.ParseHash(target); err != nil {
		target = "" // none set yet (or unusable): the network's default
	}
	return Miner{Target: target, Disabled: !m.Enabled}, true, nil
}
