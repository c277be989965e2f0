package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/purepool/purepool/audit"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
)

// blockRewards derives, from the log alone, the rewards of the pool's
// blocks by where they stand: found, pending, matured (on the chain),
// orphaned, and orphaned after maturity.
func blockRewards(t *testing.T, envs []events.Envelope) (found, pending, matured, orphaned, orphanedMatured, nPending int64) {
	t.Helper()
	type block struct {
		reward            int64
		matured, orphaned bool
	}
	blocks := map[string]*block{}
	var order []string
	for _, env := range envs {
		switch env.Type {
		case events.TypeBlockDiscovered, events.TypeBlockMatured, events.TypeBlockOrphaned:
		default:
			continue
		}
		ev, err := events.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		switch e := ev.(type) {
		case events.BlockDiscovered:
			blocks[e.Hash] = &block{reward: e.RewardSat}
			order = append(order, e.Hash)
			found += e.RewardSat
		case events.BlockMatured:
			blocks[e.Hash].matured = true
			blocks[e.Hash].reward = e.RewardSat
		case events.BlockOrphaned:
			blocks[e.Hash].orphaned = true
		}
	}
	for _, h := range order {
		b := blocks[h]
		switch {
		case b.orphaned:
			orphaned += b.reward
			if b.matured {
				orphanedMatured += b.reward
			}
		case b.matured:
			matured += b.reward
		default:
			pending += b.reward
			nPending++
		}
	}
	return
}

// envReader serves envelopes to the audit (totals only: these test logs
// carry no hash chain).
type envReader []events.Envelope

func (r envReader) ReadAll(_ context.Context, after uint64, max int) ([]events.Envelope, error) {
	var out []events.Envelope
	for _, e := range r {
		if e.Position > after && len(out) < max {
			out = append(out, e)
		}
	}
	return out, nil
}

func (r envReader) Head(context.Context) (uint64, error) { return r[len(r)-1].Position, nil }

// roundsEnvelopes is the log newRoundsFixture projects.
func roundsEnvelopes(t *testing.T, h *heightRounds) []events.Envelope {
	var envs []events.Envelope
	for i, e := range h.evs {
		ne, err := events.New(uuid.New(), e, events.Metadata{})
		if err != nil {
			t.Fatal(err)
		}
		envs = append(envs, events.Envelope{ID: ne.ID, Position: uint64(i + 1), Stream: "s", Type: ne.Type,
			SchemaVersion: ne.SchemaVersion, Data: ne.Data, RecordedAt: time.Now().UTC()})
	}
	return envs
}

// Issue 14 part 5: /api/pool labels and separates found, pending, matured
// and orphaned rewards, and keeps the miners' balances apart from the fee
// account and the carry account; the figures add up and equal both a
// derivation from the log and the audit's replay of it, on every
// read-model database, and the statistics page shows them.
func TestAPIPool_TotalsAddUp(t *testing.T) {
	logs := []struct {
		name string
		open func(t *testing.T, i int) (*fixture, []events.Envelope)
		// has: what the log must exercise
		pending, orphanedMatured, carried bool
	}{
		{"generated week (orphans after maturity)", func(t *testing.T, i int) (*fixture, []events.Envelope) {
			return newFixtureOn(t, i), history().Envelopes
		}, false, true, false},
		{"rounds by height (pending block, carry)", func(t *testing.T, i int) (*fixture, []events.Envelope) {
			f, h := newRoundsFixture(t, i)
			return f, roundsEnvelopes(t, h)
		}, true, false, true},
	}
	for _, l := range logs {
		for i, rm := range readModels {
			t.Run(l.name+"/"+rm.name, func(t *testing.T) {
				t.Parallel()
				f, envs := l.open(t, i)
				rep, err := audit.Run(context.Background(), envReader(envs), audit.Options{})
				if err != nil {
					t.Fatal(err)
				}
				var at audit.Totals
				for _, n := range rep.Networks {
					if n.Network == "main" {
						at = n
					}
				}
				found, pending, matured, orphaned, orphanedMatured, nPending := blockRewards(t, envs)
				if (pending > 0) != l.pending || (orphanedMatured > 0) != l.orphanedMatured || (at.CarrySat > 0) != l.carried || matured == 0 {
					t.Fatalf("the log lacks cases: pending %d, matured %d, orphaned %d (after maturity %d), carried %d",
						pending, matured, orphaned, orphanedMatured, at.CarrySat)
				}
				var p web.APIPool
				getJSON(t, f, "/main/api/pool", &p)
				for _, c := range []struct {
					name      string
					got, want int64
				}{
					{"reward_sat (kept: every block found)", p.RewardSat, found},
					{"found_reward_sat", p.FoundRewardSat, found},
					{"pending_reward_sat", p.PendingRewardSat, pending},
					{"matured_reward_sat", p.MaturedRewardSat, matured},
					{"orphaned_reward_sat", p.OrphanedRewardSat, orphaned},
					{"orphaned_matured_reward_sat", p.OrphanedMaturedRewardSat, orphanedMatured},
					{"blocks_pending", p.BlocksPending, nPending},
					{"found = pending + matured + orphaned", p.FoundRewardSat, p.PendingRewardSat + p.MaturedRewardSat + p.OrphanedRewardSat},
					{"credited + fee + carried out − carried in = matured ever", p.CreditedSat + p.FeeSat + at.CarriedOutSat - at.CarriedInSat,
						p.MaturedRewardSat + p.OrphanedMaturedRewardSat},
					{"matured ever = the audit's reward of matured blocks", p.MaturedRewardSat + p.OrphanedMaturedRewardSat, at.RewardSat},
					{"credited_sat = the audit's", p.CreditedSat, at.CreditedSat},
					{"fee_sat = the audit's", p.FeeSat, at.FeeSat},
					{"miners_balance_sat = the audit's miners' balances", p.MinersBalanceSat, at.MinerBalanceSat},
					{"fee_balance_sat = the audit's fee account", p.FeeBalanceSat, at.FeeBalanceSat},
					{"carried_sat = the audit's carry account", p.CarriedSat, at.CarrySat},
					{"miners + fee = the audit's balance_sat (kept)", p.MinersBalanceSat + p.FeeBalanceSat, at.BalanceSat},
				} {
					if c.got != c.want {
						t.Errorf("%s: %d, want %d", c.name, c.got, c.want)
					}
				}
				// The statistics page shows the same figures, labelled.
				_, body, _ := f.get(t, "/main/statistics")
				for id, v := range map[string]int64{"reward-found": found, "reward-pending": pending, "reward-matured": matured,
					"reward-orphaned": orphaned, "owed-miners": p.MinersBalanceSat, "owed-carried": p.CarriedSat, "fee-balance": p.FeeBalanceSat} {
					if want := `id="` + id + `">` + bbpText(v) + "<"; !strings.Contains(body, want) {
						t.Errorf("statistics page lacks %s", want)
					}
				}
			})
		}
	}
}
