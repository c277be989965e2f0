package aggregates_test

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/google/uuid"
	"github.com/purepool/purepool/aggregates"
	"github.com/purepool/purepool/events"
)

func tally(name string, diff int64) events.ShareTally {
	return events.ShareTally{MinerID: uid(name), Address: "addr-" + name, Shares: 1, Difficulty: diff}
}

func amounts(cs []aggregates.Credit) map[uuid.UUID]int64 {
	m := map[uuid.UUID]int64{}
	for _, c := range cs {
		m[c.MinerID] = c.AmountSat
	}
	return m
}

func TestSplitTable(t *testing.T) {
	// ids ordered by their bytes decide ties; find the order of a and b.
	a, b, c := uid("a"), uid("b"), uid("c")
	tests := []struct {
		name    string
		reward  int64
		bps     int64
		tallies []events.ShareTally
		fee     int64
		want    map[uuid.UUID]int64
		err     error
	}{
		{"even split", 100, 0, []events.ShareTally{tally("a", 1), tally("b", 1)}, 0, map[uuid.UUID]int64{a: 50, b: 50}, nil},
		{"weighted by difficulty", 100, 0, []events.ShareTally{tally("a", 3), tally("b", 1)}, 0, map[uuid.UUID]int64{a: 75, b: 25}, nil},
		{"fee 1.5%", 10_000, 150, []events.ShareTally{tally("a", 1)}, 150, map[uuid.UUID]int64{a: 9850}, nil},
		{"fee floors", 999, 150, []events.ShareTally{tally("a", 1)}, 14, map[uuid.UUID]int64{a: 985}, nil},
		{"largest remainder", 10, 0, []events.ShareTally{tally("a", 1), tally("b", 1), tally("c", 1)}, 0, nil, nil},
		{"same miner merged", 90, 0, []events.ShareTally{tally("a", 1), tally("a", 1), tally("b", 1)}, 0, map[uuid.UUID]int64{a: 60, b: 30}, nil},
		// An empty round gives the fee only: never the whole reward (DecideMature says where the rest goes).
		{"no shares: the fee, no credit", 777, 100, nil, 7, map[uuid.UUID]int64{}, nil},
		{"zero difficulty: the fee, no credit", 777, 0, []events.ShareTally{tally("a", 0)}, 0, map[uuid.UUID]int64{}, nil},
		{"fee 100%", 500, 10_000, []events.ShareTally{tally("a", 1)}, 500, map[uuid.UUID]int64{}, nil},
		{"zero reward", 0, 100, []events.ShareTally{tally("a", 1)}, 0, map[uuid.UUID]int64{}, nil},
		{"huge reward and difficulty", math.MaxInt64, 1, []events.ShareTally{tally("a", math.MaxInt64/2), tally("b", math.MaxInt64/2)}, 922337203685477, nil, nil},
		{"negative reward", -1, 0, nil, 0, nil, aggregates.ErrInvalid},
		{"fee above 100%", 1, 10_001, nil, 0, nil, aggregates.ErrInvalid},
		{"negative difficulty", 1, 0, []events.ShareTally{tally("a", -1)}, 0, nil, aggregates.ErrInvalid},
		{"difficulty overflow", 1, 0, []events.ShareTally{tally("a", math.MaxInt64), tally("b", 1)}, 0, nil, aggregates.ErrOverflow},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			credits, fee, err := aggregates.Split(tt.reward, tt.bps, tt.tallies)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			mustNoErr(t, err)
			if fee != tt.fee {
				t.Errorf("fee %d, want %d", fee, tt.fee)
			}
			if merged, _ := aggregates.MergeTallies(tt.tallies); totalDifficulty(merged) == 0 {
				if len(credits) != 0 {
					t.Fatalf("credits %v for an empty round", credits)
				}
				return
			}
			checkSum(t, tt.reward, fee, credits)
			if tt.want != nil {
				got := amounts(credits)
				if len(got) != len(tt.want) {
					t.Fatalf("credits %v, want %v", got, tt.want)
				}
				for id, w := range tt.want {
					if got[id] != w {
						t.Errorf("miner %s got %d, want %d", id, got[id], w)
					}
				}
			}
		})
	}
	// 10 among three equal miners: 3 each and the extra satoshi to the lowest id.
	credits, _, _ := aggregates.Split(10, 0, []events.ShareTally{tally("c", 1), tally("b", 1), tally("a", 1)})
	lowest := credits[0].MinerID
	for _, cr := range credits {
		want := int64(3)
		if cr.MinerID == lowest {
			want = 4
		}
		if cr.AmountSat != want {
			t.Errorf("tie break: %s got %d, want %d", cr.MinerID, cr.AmountSat, want)
		}
	}
	_ = c
}

func checkSum(t *testing.T, reward, fee int64, credits []aggregates.Credit) {
	t.Helper()
	sum := fee
	for _, c := range credits {
		if c.AmountSat <= 0 {
			t.Fatalf("credit of %d", c.AmountSat)
		}
		sum += c.AmountSat
	}
	if sum != reward {
		t.Fatalf("credits + fee = %d, reward %d", sum, reward)
	}
}

// TestSplitProperties checks, over thousands of random rounds, that credits +
// fee == reward, no credit is negative, the result does not depend on the
// order of the tallies, and each miner gets its exact proportional part
// rounded down or up by less than one satoshi.
func TestSplitProperties(t *testing.T) {
	cases := 5000
	if os.Getenv("PUREPOOL_LONG") != "" {
		cases = 200_000
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range cases {
		reward := randAmount(rng)
		bps := rng.Int64N(aggregates.MaxFeeBps + 1)
		if i%5 == 0 {
			bps = 0
		}
		n := 1 + rng.IntN(40)
		tallies := make([]events.ShareTally, n)
		var maxDiff int64 = 1 << (1 + rng.IntN(50))
		for j := range tallies {
			tallies[j] = tally(fmt.Sprint(rng.IntN(n*2)), rng.Int64N(maxDiff))
		}
		credits, fee, err := aggregates.Split(reward, bps, tallies)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		merged, _ := aggregates.MergeTallies(tallies)
		total := totalDifficulty(merged)
		if total == 0 {
			if len(credits) != 0 {
				t.Fatalf("case %d: credits for an empty round", i)
			}
		} else {
			checkSum(t, reward, fee, credits)
		}
		wantFee := new(big.Int).Quo(new(big.Int).Mul(big.NewInt(reward), big.NewInt(bps)), big.NewInt(10_000))
		// An empty round's fee is the configured part too, never the whole reward.
		if fee != wantFee.Int64() {
			t.Fatalf("case %d: fee %d, want %d", i, fee, wantFee)
		}
		got := amounts(credits)
		rest := big.NewInt(reward - fee)
		for _, m := range merged {
			if total == 0 {
				break
			}
			exact := new(big.Rat).SetFrac(new(big.Int).Mul(rest, big.NewInt(m.Difficulty)), big.NewInt(total))
			floor := new(big.Int).Quo(exact.Num(), exact.Denom())
			g := big.NewInt(got[m.MinerID])
			if g.Cmp(floor) < 0 || g.Cmp(new(big.Int).Add(floor, big.NewInt(1))) > 0 {
				t.Fatalf("case %d: miner %s got %s, exact part %s", i, m.MinerID, g, exact.FloatString(3))
			}
		}
		shuffled := append([]events.ShareTally(nil), tallies...)
		rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again, fee2, _ := aggregates.Split(reward, bps, shuffled)
		if fee2 != fee || len(again) != len(credits) {
			t.Fatalf("case %d: order changed the result", i)
		}
		for j := range again {
			if again[j] != credits[j] {
				t.Fatalf("case %d: order changed credit %d: %+v vs %+v", i, j, again[j], credits[j])
			}
		}
	}
}

func randAmount(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return rng.Int64N(1000)
	case 1:
		return rng.Int64N(20_000 * 100_000_000)
	case 2:
		return rng.Int64N(math.MaxInt64)
	default:
		return math.MaxInt64 - rng.Int64N(1000)
	}
}

// roundOf builds a ledger holding n accepted shares from miners distinct
// miners, then returns it ready to close a round.
func roundOf(n, miners int) (*aggregates.Ledger, events.BlockDiscovered) {
	l := aggregates.NewLedger(aggregates.LedgerConfig{})
	ids := make([]uuid.UUID, miners)
	for i := range ids {
		ids[i] = uid(fmt.Sprint("m", i))
	}
	for i := range n {
		l.ApplyEvent(uint64(i+1), events.SolutionAccepted{Network: "main", MinerID: ids[i%miners], Address: "a", Difficulty: 15_000_000 + int64(i%7)})
	}
	l.Position = uint64(n)
	return l, events.BlockDiscovered{Network: "main", Hash: hash64("b"), Height: 10, RewardSat: 1623585745354}
}

// BenchmarkShareOut100k closes a PROP round of 100,000 shares (1,000 miners)
// and splits its reward: the per-block work of the share-out.
func BenchmarkShareOut100k(b *testing.B) {
	l, d := roundOf(100_000, 1000)
	b.ResetTimer()
	for b.Loop() {
		r, err := l.CloseRound(events.SchemePROP, d, t0)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := aggregates.Split(d.RewardSat, 100, r.Shares); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplit100kMiners splits a reward among 100,000 distinct miners.
func BenchmarkSplit100kMiners(b *testing.B) {
	tallies := make([]events.ShareTally, 100_000)
	for i := range tallies {
		tallies[i] = tally(fmt.Sprint(i), 15_000_000+int64(i%13))
	}
	for b.Loop() {
		if _, _, err := aggregates.Split(1623585745354, 100, tallies); err != nil {
			b.Fatal(err)
		}
	}
}

func totalDifficulty(tallies []events.ShareTally) int64 {
	var total int64
	for _, t := range tallies {
		total += t.Difficulty
	}
	return total
}
