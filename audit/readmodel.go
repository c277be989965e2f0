package audit

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/purepool/purepool/projections"
)

// ReadModel is "balances per miner from the read model": what the audit
// compares with the replay. Snapshot must read the balances and the
// position they reflect consistently (one transaction).
type ReadModel interface {
	Snapshot(ctx context.Context) (ReadModelSnapshot, error)
}

// ReadModelSnapshot is a read model's state at one log position.
type ReadModelSnapshot struct {
	// Position is the last event the read model reflects (its checkpoint).
	Position uint64
	Accounts []Account // Address and Fee may be left empty
	Totals   []ReadModelTotals
}

// ReadModelTotals are a network's money totals in a read model.
type ReadModelTotals struct {
	Network        string
	CreditedSat    int64 // to miners
	ReversedSat    int64 // from miners
	FeeSat         int64
	FeeReversedSat int64
	PaidSat        int64 // planned payouts that did not fail
}

// SQLReadModel reads the projections package's tables (miners, pool,
// checkpoints) on PostgreSQL (schema readmodel's views), MariaDB or SQLite.
type SQLReadModel struct {
	DB      *sql.DB
	Dialect projections.Dialect
}

// OpenReadModel opens a read model by the URL forms of projections.OpenURL
// (postgres://…, mysql://…, sqlite:path). Close the returned DB when done.
func OpenReadModel(ctx context.Context, url string) (*SQLReadModel, func() error, error) {
	db, err := projections.OpenURL(ctx, url)
	if err != nil {
		return nil, nil, err
	}
	return &SQLReadModel{DB: db.SQL, Dialect: db.Dialect}, db.Close, nil
}

func (m *SQLReadModel) table(name string) string {
	if m.Dialect == projections.Postgres {
		return projections.PostgresSchema + "." + name
	}
	return name
}

func (m *SQLReadModel) quote(col string) string {
	if m.Dialect == projections.MySQL {
		return "`" + col + "`"
	}
	return `"` + col + `"`
}

// Snapshot implements ReadModel.
func (m *SQLReadModel) Snapshot(ctx context.Context) (ReadModelSnapshot, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if m.Dialect != projections.SQLite {
		opts.Isolation = sql.LevelRepeatableRead // one snapshot for the checkpoint and the rows
	}
	tx, err := m.DB.BeginTx(ctx, opts)
	if err != nil {
		return ReadModelSnapshot{}, fmt.Errorf("read model: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	var s ReadModelSnapshot
	var pos int64
	q := "SELECT " + m.quote("position") + " FROM " + m.table(projections.TCheckpoints) + " WHERE " + m.quote("name") + " = '" + projections.Name + "'"
	if err := tx.QueryRowContext(ctx, q).Scan(&pos); err != nil {
		return s, fmt.Errorf("read model: checkpoint: %w", err)
	}
	s.Position = uint64(pos)

	rows, err := tx.QueryContext(ctx, "SELECT network, miner_id, address, credited_sat, reversed_sat, paid_sat, balance_sat FROM "+m.table(projections.TMiners))
	if err != nil {
		return s, fmt.Errorf("read model: miners: %w", err)
	}
	for rows.Next() {
		var a Account
		var id string
		if err := rows.Scan(&a.Network, &id, &a.Address, &a.CreditedSat, &a.ReversedSat, &a.PaidSat, &a.BalanceSat); err != nil {
			rows.Close()
			return s, fmt.Errorf("read model: miners: %w", err)
		}
		if a.ID, err = uuid.Parse(id); err != nil {
			rows.Close()
			return s, fmt.Errorf("read model: miners: miner id %q: %w", id, err)
		}
		s.Accounts = append(s.Accounts, a)
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("read model: miners: %w", err)
	}
	rows.Close()

	rows, err = tx.QueryContext(ctx, "SELECT network, credited_sat, reversed_sat, fee_sat, fee_reversed_sat, paid_sat FROM "+m.table(projections.TPool))
	if err != nil {
		return s, fmt.Errorf("read model: pool: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var t ReadModelTotals
		if err := rows.Scan(&t.Network, &t.CreditedSat, &t.ReversedSat, &t.FeeSat, &t.FeeReversedSat, &t.PaidSat); err != nil {
			return s, fmt.Errorf("read model: pool: %w", err)
		}
		s.Totals = append(s.Totals, t)
	}
	if err := rows.Err(); err != nil {
		return s, fmt.Errorf("read model: pool: %w", err)
	}
	return s, nil
}
