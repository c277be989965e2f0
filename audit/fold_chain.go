package audit

// The fold's checks of the tamper-evidence hash chain: links, positions,
// anchors and runs of emptied hashes.

import (
	"bytes"
	"fmt"

	"github.com/purepool/purepool/events"
)

// checkChain verifies one link of the tamper-evidence chain. Whether the
// chain is checked at all is what the store is (events.ChainKeeper, read by
// Run), never what the rows hold: in a store that keeps a chain, an empty
// hash, or an empty previous hash after the first event, is a violation
// (KindChainMissing), so blanking the hashes cannot switch the check off.
func (a *auditor) checkChain(env *events.Envelope, recomputed []byte) {
	pos := env.Position
	first := a.rep.Events == 0
	firstBad := pos
	bad := func(kind Kind, format string, args ...any) {
		a.violation(kind, pos, "", env.Stream, format, args...)
		if a.rep.FirstBadPosition == 0 {
			a.rep.FirstBadPosition = firstBad
		}
	}
	if want, ok := a.anchors[pos]; ok {
		if !bytes.Equal(want, env.Hash) {
			bad(KindChainAnchor, "hash %s, the anchor says %s", hexOrEmpty(env.Hash), hexOrEmpty(want))
		}
		delete(a.anchors, pos)
	}
	if !a.chainKept {
		if len(env.Hash) > 0 || len(env.PrevHash) > 0 {
			bad(KindChainHash, "event carries a hash, but the %s store keeps no hash chain (written by something else?)", a.rep.storeName())
		}
		a.lastPos = pos
		return
	}
	if pos != a.lastPos+1 {
		firstBad = min(pos, a.lastPos+1) // a missing position is the first bad one
		if pos > a.lastPos+1 {
			bad(KindChainPosition, "expected position %d, found %d: %d event(s) missing", a.lastPos+1, pos, pos-a.lastPos-1)
		} else {
			bad(KindChainPosition, "position %d follows position %d", pos, a.lastPos)
		}
	}
	// The first event of the log (position 1) has no previous hash; every
	// other event has one, and every event has a hash.
	noHash := len(env.Hash) == 0
	noPrev := len(env.PrevHash) == 0 && !(first && pos == 1)
	if noHash || noPrev {
		a.missing(pos, noHash, noPrev)
	} else {
		a.flushMissing()
	}
	switch {
	case noPrev || a.lastMissing:
		// The link cannot be judged against an emptied hash; the empty
		// one is the violation (reported once per run of such events).
	case !bytes.Equal(env.PrevHash, a.lastHash):
		if first {
			bad(KindChainLink, "the first event's previous hash is %s, not empty", hexOrEmpty(env.PrevHash))
		} else {
			bad(KindChainLink, "previous hash %s is not position %d's hash %s", hexOrEmpty(env.PrevHash), a.lastPos, hexOrEmpty(a.lastHash))
		}
	}
	if !noHash && !noPrev && !bytes.Equal(recomputed, env.Hash) {
		bad(KindChainHash, "stored hash %s, content hashes to %s (the event was altered)", hexOrEmpty(env.Hash), hexOrEmpty(recomputed))
	}
	a.lastPos = pos
	a.lastHash = env.Hash
	a.lastMissing = noHash
}

// missingRun is a run of consecutive events whose hash or previous hash
// is empty in a store that keeps a chain: blanking every hash makes one
// violation, not one per event.
type missingRun struct {
	from, to     uint64
	n            uint64
	hashes, prev uint64
}

func (a *auditor) missing(pos uint64, noHash, noPrev bool) {
	r := a.missingRun
	if r == nil {
		r = &missingRun{from: pos}
		a.missingRun = r
		if a.rep.FirstBadPosition == 0 {
			a.rep.FirstBadPosition = pos
		}
	}
	r.to = pos
	r.n++
	if noHash {
		r.hashes++
	}
	if noPrev {
		r.prev++
	}
}

// flushMissing reports the run of events with emptied hashes that ended.
func (a *auditor) flushMissing() {
	r := a.missingRun
	if r == nil {
		return
	}
	a.missingRun = nil
	where := fmt.Sprintf("position %d", r.from)
	if r.n > 1 {
		where = fmt.Sprintf("%d events at positions %d..%d", r.n, r.from, r.to)
	}
	what := "its hash is empty"
	switch {
	case r.n > 1 && r.hashes == r.n && r.prev >= r.n-1:
		what = "their hashes and previous hashes are empty"
	case r.n > 1:
		what = fmt.Sprintf("%d hash(es) and %d previous hash(es) are empty", r.hashes, r.prev)
	case r.hashes == 1 && r.prev == 1:
		what = "its hash and previous hash are empty"
	case r.prev == 1:
		what = "its previous hash is empty"
	}
	a.rep.add(Violation{Kind: KindChainMissing, Position: r.from, Subject: "hash chain",
		Detail: fmt.Sprintf("%s: %s; the %s store writes the whole chain on every append, so they were blanked or reset behind its back, and the chain cannot vouch for these events",
			where, what, a.rep.storeName())})
}
