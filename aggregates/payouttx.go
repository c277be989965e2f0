package aggregates

import (
	"fmt"
	"sort"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
)

// PayoutTxDiffs says how a wallet transaction differs from what a payout
// pays (nil: it is the payout's). sends are the transaction's send amounts
// per address (positive satoshis), feeSat its network fee. The fee is
// subtracted from the recipients' amounts (sendmany's subtractfeefrom), so
// each address must get its planned amount less at most the fee, and the
// sends plus the fee must make the payout's total exactly; no other
// address may be paid.
func PayoutTxDiffs(items []events.PayoutItem, totalSat int64, sends map[string]int64, feeSat int64) []string {
	want := map[string]int64{}
	for _, it := range items {
		want[it.Address] += it.AmountSat
	}
	var diffs []string
	var sum int64
	for addr, g := range sends {
		sum += g
		wa, ok := want[addr]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("pays %s BBP to %s, which the payout does not name", biblepay.FormatBBP(g), addr))
		case g > wa || g < wa-feeSat:
			diffs = append(diffs, fmt.Sprintf("pays %s BBP to %s, the payout says %s less at most the fee %s",
				biblepay.FormatBBP(g), addr, biblepay.FormatBBP(wa), biblepay.FormatBBP(feeSat)))
		}
	}
	for addr, wa := range want {
		if _, ok := sends[addr]; !ok {
			diffs = append(diffs, fmt.Sprintf("pays nothing to %s, the payout says %s BBP", addr, biblepay.FormatBBP(wa)))
		}
	}
	if len(diffs) == 0 && sum+feeSat != totalSat {
		diffs = append(diffs, fmt.Sprintf("outputs %s + fee %s BBP differ from the payout's total %s",
			biblepay.FormatBBP(sum), biblepay.FormatBBP(feeSat), biblepay.FormatBBP(totalSat)))
	}
	sort.Strings(diffs)
	return diffs
}
