// Package projections builds Purepool's read models (the views the website,
// the API and the frontend's miner directory read) from the ledger events,
// on PostgreSQL, MariaDB/MySQL or SQLite, with one projection logic for all
// three.
//
// # Design
//
// Folding is pure Go (Changes.Fold): a batch of events becomes per-row
// changes of the tables described in tables.go, each column with a merge
// rule (add, latest non-empty, min, max, …). The writer then merges every
// changed row into the database with one upsert generated for the dialect
// from the same description, in ONE transaction together with the
// projection's checkpoint (DB.ApplyBatch). Idempotence: events at or below
// the stored checkpoint are skipped, ledger and payout-item rows are keyed
// by event id, and a writer whose expected checkpoint is stale is refused
// (ErrCheckpointMoved) — so a batch delivered twice, overlapping batches or
// two projector instances change nothing twice.
//
// Balances: balance = credits − reversals − payouts planned (a failed,
// conflicted or corrected payout gives its amounts back, each with a
// ledger entry saying why). A signed payout (PayoutSigned) is not settled
// and changes no balance; its transaction is recorded in payout_txs with
// what each recipient gets on the chain (payout_sends), and a transaction
// recorded dead (PayoutTxDead) stays listed there while the payout is
// planned again. Money columns are BIGINT satoshis. The fee
// account and the carry account (events.CarryAccountID: the miners' part of
// empty rounds, owed to the next round with shares) have ledger entries but
// no miners row: neither is a miner. The pool row holds the carry
// account's balance (carried_sat) and the crediting policy in force
// (PoolPolicySet).
//
// Rounds: a block of the rule by position has its RoundClosed with its
// BlockDiscovered; one of the rule by height gets it with its BlockMatured
// (round_closed_at NULL until then: Block.RoundOpen).
//
// # Columns and tables of later releases
//
// A column added to a table after the first release names its shape
// (column.added) and goes at the end of its table; a table added later
// names its shape too (table.added). Migrate adds the columns a stored
// table lacks (ALTER TABLE … ADD COLUMN with the column's default) and
// creates the tables it lacks, so a read model of an earlier release opens
// without a rebuild; the projector runs Migrate when it starts, so start it
// before frontends that read the new columns. Rows written before keep the
// defaults until a rebuild fills them from the log (see Shape).
//
// # Generations and rebuilds (blue/green)
//
// PostgreSQL: the tables of generation N live in schema readmodel_vN; the
// schema readmodel holds one view per table over the active generation, a
// generation table, and nothing else, so the frontend role needs USAGE on
// readmodel and SELECT on its views only (DB.FrontendRole grants them).
// A rebuild folds the whole log in memory (decoding in parallel), COPYs each
// final row once into readmodel_v{N+1} (created, loaded and indexed in one
// transaction), catches up incrementally, then in one transaction that
// locks the generation row (running projector batches hold it FOR SHARE)
// applies the last events, repoints every view (CREATE OR REPLACE VIEW) and
// bumps the generation. MariaDB: the new tables are built as <table>__new
// and swapped with one atomic RENAME TABLE. SQLite: dropped and renamed in
// one transaction. Running projectors notice the moved checkpoint and
// resubscribe; readers never see a half-built table.
//
// Added columns are migrated in place (see below); any other change of a
// table's columns is deployed with a rebuild (`purepool projections
// rebuild`), which creates the new shape.
//
// # Reading
//
// Reader runs only SELECTs over the stable names (readmodel.<table> on
// PostgreSQL), so it works with the frontend's read-only role; the website's
// Reader interface (http/web) is satisfied by it.
package projections
