package audit_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/internal/testenv"
	"github.com/purepool/purepool/projections"
)

// project folds the first n events of h into a fresh read model.
func project(t *testing.T, url string, h *ledgergen.History, n int) *audit.SQLReadModel {
	t.Helper()
	ctx := context.Background()
	rm, closeRM, err := audit.OpenReadModel(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeRM() })
	db := &projections.DB{SQL: rm.DB, Dialect: rm.Dialect}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var cp uint64
	for i := 0; i < n; i += 500 {
		if cp, err = db.ApplyBatch(ctx, cp, h.Envelopes[i:min(i+500, n)]); err != nil {
			t.Fatal(err)
		}
	}
	return rm
}

// The read models on every database agree with the replay, also when they
// lag behind the log; an edited balance or total is caught.
func TestReadModelsAgreeWithReplay(t *testing.T) {
	h := ledgergen.Generate(ledgergen.Config{Seed: 41, ChainBlocks: 60})
	urls := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "rm.db") },
		"postgres": func(t *testing.T) string { return testenv.NewPostgresDB(t) },
		"mariadb":  func(t *testing.T) string { return "mysql://" + testenv.NewMySQLDB(t) },
	}
	for _, name := range []string{"sqlite", "postgres", "mariadb"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := urls[name](t)
			rm := project(t, url, h, len(h.Envelopes))
			rep := mustRun(t, h, audit.Options{ReadModel: rm})
			if !rep.OK() || rep.ReadModelPosition == nil || *rep.ReadModelPosition != uint64(len(h.Envelopes)) || rep.ReadModelAccounts == 0 {
				t.Fatalf("compared %d accounts at %v: %v", rep.ReadModelAccounts, rep.ReadModelPosition, rep.Violations)
			}

			miners, pool := "miners", "pool"
			if rm.Dialect == projections.Postgres {
				miners, pool = "readmodel_v1.miners", "readmodel_v1.pool"
			}
			acc := rep.Accounts[0]
			if acc.Fee {
				acc = rep.Accounts[1]
			}
			q := "UPDATE " + miners + " SET balance_sat = balance_sat + 1 WHERE miner_id = ?"
			arg := any(acc.ID.String())
			if rm.Dialect == projections.Postgres {
				q = "UPDATE " + miners + " SET balance_sat = balance_sat + 1 WHERE miner_id = $1"
			}
			if _, err := rm.DB.Exec(q, arg); err != nil {
				t.Fatal(err)
			}
			if _, err := rm.DB.Exec("UPDATE " + pool + " SET paid_sat = paid_sat - 5"); err != nil {
				t.Fatal(err)
			}
			rep = mustRun(t, h, audit.Options{ReadModel: rm})
			if got := kinds(rep); got[audit.KindReadModel] != 2 || len(got) != 1 {
				t.Fatalf("violations %v", rep.Violations)
			}
		})
	}
	t.Run("behind the log", func(t *testing.T) {
		half := len(h.Envelopes) / 2
		rm := project(t, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"), h, half)
		rep := mustRun(t, h, audit.Options{ReadModel: rm, PageSize: 333})
		if !rep.OK() || *rep.ReadModelPosition != uint64(half) {
			t.Fatalf("at %v: %v", rep.ReadModelPosition, rep.Violations)
		}
	})
}
