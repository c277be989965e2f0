package audit

// Public anchors (issue 14). Every payout is planned with the log's head
// (PayoutPlanned.Anchor: the RFC 6962 Merkle root of the events before it,
// package anchor), and its transaction carries that head in a data output,
// so the BiblePay chain holds and timestamps it. The audit
//
//   - always, offline: recomputes the tree over every event's chain hash
//     and checks each payout's anchor against the log before it
//     (KindAnchorLog);
//   - with Options.Chain (--verify-chain): reads each payout's
//     transactions back from the node and checks their data outputs
//     against the log (KindAnchorOnChain, KindAnchorTxMissing), and looks
//     through the wallet's sends for payout transactions of this pool the
//     log does not hold. A suffix rewritten with every hash and every
//     anchor recomputed, or a log truncated behind an anchored head, then
//     disagrees with the chain;
//   - gives a miner's statement (Options.Statement) its proofs: each
//     line's event under the latest anchored head, and the consistency of
//     every anchored head with the one before (statement.go,
//     VerifyStatement).

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/purepool/purepool/anchor"
	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/rpcclient"
)

// Anchors.
const (
	// KindAnchorLog: a payout's anchor (PayoutPlanned.Anchor, the log's
	// head when it was planned) disagrees with the log before it: the
	// Merkle root of the events up to its size, or the chain hash of the
	// event at its size, is another (an event at or before it changed
	// after the payout was planned), or it names a head at or after the
	// payout itself. Checked on every audit, without a node.
	KindAnchorLog Kind = "chain_anchor_log"
	// KindAnchorOnChain: a payout transaction's data output, read back
	// from the node (--verify-chain), disagrees with the log: the log's
	// root at the size it anchors is another (a rewritten log, however
	// well its hashes and anchors were recomputed), the log ends before
	// that size (truncated), it names another payout or pool, the
	// transaction carries no anchor although its payout has one, or a
	// transaction of this pool in the wallet anchors a payout the log
	// does not hold (a deleted payout, a truncated log).
	KindAnchorOnChain Kind = "chain_anchor_onchain"
	// KindAnchorTxMissing: the node knows no transaction a payout is
	// recorded as sent in, so its anchor cannot be read (--verify-chain).
	KindAnchorTxMissing Kind = "chain_anchor_tx_missing"
)

// Chain reads transactions back from the node (getrawtransaction
// verbose); *rpcclient.Client has it. A node without -txindex finds only
// mempool transactions and those with an unspent output: for the others
// the audit asks the wallet (Options.Wallet, or Chain itself if it has
// GetTransaction), which knows every payout the pool sent.
type Chain interface {
	GetRawTransactionVerbose(ctx context.Context, txid string) (*rpcclient.RawTransactionVerbose, error)
}

// walletLister lists the wallet's transactions (listtransactions); the
// audit looks through the sends for payouts the log does not hold.
type walletLister interface {
	ListTransactions(ctx context.Context, account string, count, from int) ([]rpcclient.TransactionEntry, error)
}

// AnchorsReport is what the audit found about the anchors.
type AnchorsReport struct {
	// Anchored counts the payouts planned with a log head.
	Anchored int `json:"anchored"`
	// ChainChecked counts the payout transactions read back from the node
	// (--verify-chain); WalletSends the wallet's sends looked at for
	// payouts the log does not hold.
	ChainChecked int `json:"chain_checked,omitempty"`
	WalletSends  int `json:"wallet_sends,omitempty"`
	// Latest is the newest anchored head: that of the last payout
	// recorded as sent.
	Latest *AnchoredHead `json:"latest,omitempty"`
	// Notes name transactions that were not read and why (recorded dead,
	// not broadcast yet).
	Notes []string `json:"notes,omitempty"`
}

// AnchoredHead is a log head published in a payout transaction.
type AnchoredHead struct {
	Size     uint64    `json:"size"`
	Root     string    `json:"root"`
	Hash     string    `json:"hash,omitempty"` // event Size's chain hash
	Network  string    `json:"network"`
	PayoutID uuid.UUID `json:"payout_id"`
	Position uint64    `json:"position"` // the PayoutPlanned's
	TxID     string    `json:"txid"`
	// OnChain: read back from the node and found to carry this head
	// (--verify-chain); Confirmations and BlockHash say where.
	OnChain       bool   `json:"on_chain,omitempty"`
	Confirmations int64  `json:"confirmations,omitempty"`
	BlockHash     string `json:"block_hash,omitempty"`
}

// anchorPayout is what the audit keeps of each payout for the anchors.
type anchorPayout struct {
	network string
	id      uuid.UUID
	pool    uuid.UUID
	pos     uint64
	anchor  *events.LogAnchor
	signed  []*events.PayoutSigned
	dead    map[string]bool
	sentTx  string
	status  string
	logOK   bool // the anchor agrees with the log (set by checkAnchors)
}

type payoutKey struct {
	network string
	id      uuid.UUID
}

// anchorState is the auditor's part for the anchors: every event's
// chain hash (the leaves of the tree) and the payouts.
type anchorState struct {
	leaves   [][32]byte
	gapped   bool // positions are not 1, 2, 3, …: leaf i is not event i+1
	payouts  map[payoutKey]*anchorPayout
	anchored []*anchorPayout // planned with an anchor, in log order
	knownTx  map[string]bool // every transaction the log names
	poolIDs  map[uuid.UUID]bool
	firstPID uuid.UUID
	log      *anchor.Log
	onChain  map[string]chainTx // transactions read back, by txid
}

// anchorEvent is called for every event in position order, before the
// fold (decodable or not: every event is a leaf).
func (a *auditor) anchorEvent(d decoded) {
	s := &a.anc
	if s.payouts == nil {
		s.payouts = map[payoutKey]*anchorPayout{}
		s.knownTx = map[string]bool{}
		s.poolIDs = map[uuid.UUID]bool{}
	}
	if d.env.Position != uint64(len(s.leaves))+1 {
		s.gapped = true
	}
	var h [32]byte
	copy(h[:], d.hash)
	s.leaves = append(s.leaves, h)
	if a.stmt != nil {
		a.stmt.env, a.stmt.hash = d.env, d.hash
	}
	if d.err != nil {
		return
	}
	payout := func(network string, id uuid.UUID) *anchorPayout {
		k := payoutKey{network, id}
		p, ok := s.payouts[k]
		if !ok {
			p = &anchorPayout{network: network, id: id, dead: map[string]bool{}}
			s.payouts[k] = p
		}
		return p
	}
	switch e := d.event.(type) {
	case events.PoolInstalled:
		s.poolID(e.PoolID)
	case events.PayoutPlanned:
		p := payout(e.Network, e.PayoutID)
		p.pos, p.pool, p.status = d.env.Position, e.PoolID, "planned"
		s.poolID(e.PoolID)
		if e.Anchor != nil {
			an := *e.Anchor
			p.anchor = &an
			s.anchored = append(s.anchored, p)
		}
	case events.PayoutSigned:
		p := payout(e.Network, e.PayoutID)
		p.signed = append(p.signed, &e)
		p.status = "signed"
		s.knownTx[e.TxID] = true
	case events.PayoutTxDead:
		payout(e.Network, e.PayoutID).dead[e.TxID] = true
		s.knownTx[e.TxID] = true
	case events.PayoutSent:
		p := payout(e.Network, e.PayoutID)
		p.sentTx, p.status = e.TxID, "sent"
		s.knownTx[e.TxID] = true
	case events.PayoutConfirmed:
		payout(e.Network, e.PayoutID).status = "confirmed"
	case events.PayoutConflicted:
		payout(e.Network, e.PayoutID).status = "conflicted"
		s.knownTx[e.TxID] = true
	case events.PayoutCorrected:
		payout(e.Network, e.PayoutID).status = "corrected"
	case events.PayoutFailed:
		payout(e.Network, e.PayoutID).status = "failed"
	case events.PayoutHalted:
		payout(e.Network, e.PayoutID).status = "halted"
	}
}

func (s *anchorState) poolID(id uuid.UUID) {
	if id == uuid.Nil {
		return
	}
	if len(s.poolIDs) == 0 {
		s.firstPID = id
	}
	s.poolIDs[id] = true
}

// sentInAnchoredTx: the payout is recorded as sent (or confirmed) in a
// transaction that is meant to be in the chain.
func (p *anchorPayout) sent() bool {
	return p.sentTx != "" && (p.status == "sent" || p.status == "confirmed")
}

// checkAnchors runs after the fold: the anchors against the log, against
// the chain (Options.Chain) and the statement's proofs.
func (a *auditor) checkAnchors(ctx context.Context) error {
	s := &a.anc
	if len(s.anchored) == 0 && a.opt.Chain == nil && a.rep.Statement == nil {
		return nil
	}
	rep := &AnchorsReport{Anchored: len(s.anchored)}
	a.rep.Anchors = rep
	if len(s.anchored) > 0 {
		s.log = anchor.NewLog(s.leaves)
	}
	for _, p := range s.anchored {
		p.logOK = a.checkAnchorInLog(p)
	}
	var latest *anchorPayout
	for _, p := range s.anchored {
		if p.sent() && (latest == nil || p.anchor.Size >= latest.anchor.Size) {
			latest = p
		}
	}
	if a.opt.Chain != nil {
		s.onChain = map[string]chainTx{}
		for _, p := range s.anchored {
			if err := a.checkAnchorOnChain(ctx, p); err != nil {
				return err
			}
		}
		if err := a.scanWallet(ctx); err != nil {
			return err
		}
	}
	if latest != nil {
		h := &AnchoredHead{Size: latest.anchor.Size, Root: latest.anchor.Root, Hash: latest.anchor.Hash, Network: latest.network,
			PayoutID: latest.id, Position: latest.pos, TxID: latest.sentTx}
		if tx, ok := s.onChain[latest.sentTx]; ok && tx.found && tx.verified {
			h.OnChain, h.Confirmations, h.BlockHash = true, tx.confirmations, tx.blockHash
		}
		rep.Latest = h
	}
	if a.rep.Statement != nil {
		a.proveStatement(a.rep.Statement)
	}
	return nil
}

// checkAnchorInLog checks a payout's anchor against the log before it.
func (a *auditor) checkAnchorInLog(p *anchorPayout) bool {
	s := &a.anc
	an := p.anchor
	bad := func(format string, args ...any) bool {
		a.violation(KindAnchorLog, p.pos, p.network, p.id.String(), format, args...)
		return false
	}
	if an.Size >= p.pos {
		return bad("the payout's anchor names the log's head at size %d, but the payout itself is at position %d", an.Size, p.pos)
	}
	want, err := anchor.ParseHash(an.Root)
	if err != nil {
		return bad("the anchor's root %q is no 32-byte hex hash", an.Root)
	}
	root, err := s.log.RootAt(an.Size)
	if err != nil {
		return bad("%v", err)
	}
	if root != want {
		return bad("the log's Merkle root at size %d is %x, the payout's anchor says %s: an event at or before position %d changed after the payout was planned",
			an.Size, root, an.Root, an.Size)
	}
	if an.Size > 0 {
		if got := hex.EncodeToString(s.leaves[an.Size-1][:]); got != strings.ToLower(an.Hash) {
			return bad("event %d's chain hash is %s, the payout's anchor says %s", an.Size, got, an.Hash)
		}
	}
	return true
}

// chainTx is a payout transaction as the node gave it back.
type chainTx struct {
	found         bool
	verified      bool // its anchor agrees with the log
	confirmations int64
	blockHash     string
	hex           string
	anchors       []anchor.Data
	otherData     int // data outputs that are not Purepool anchors
}

// readTx asks the node for a transaction (getrawtransaction, then the
// wallet). found is false when neither knows it; an error means the node
// could not be asked.
func (a *auditor) readTx(ctx context.Context, txid string) (chainTx, error) {
	if tx, ok := a.anc.onChain[txid]; ok {
		return tx, nil
	}
	tx, err := fetchTx(ctx, a.opt.Chain, a.walletGetter(), txid)
	if err == nil {
		a.anc.onChain[txid] = tx
	}
	return tx, err
}

type walletTxGetter interface {
	GetTransaction(ctx context.Context, txid string) (*rpcclient.Transaction, error)
}

func (a *auditor) walletGetter() walletTxGetter {
	if a.opt.Wallet != nil {
		return a.opt.Wallet
	}
	if w, ok := a.opt.Chain.(walletTxGetter); ok {
		return w
	}
	return nil
}

func isRPCError(err error) bool {
	var re *rpcclient.Error
	return errors.As(err, &re)
}

func fetchTx(ctx context.Context, chain Chain, wallet walletTxGetter, txid string) (chainTx, error) {
	r, err := chain.GetRawTransactionVerbose(ctx, txid)
	switch {
	case err == nil:
		tx := chainTx{found: true, confirmations: r.Confirmations, blockHash: r.BlockHash, hex: r.Hex}
		if r.Hex == "" { // a node that gives no hex: its decoded outputs
			for _, v := range r.Vout {
				tx.addData(v.Data())
			}
			return tx, nil
		}
		return tx, tx.parse(txid)
	case !isRPCError(err):
		return chainTx{}, fmt.Errorf("audit: getrawtransaction %s: %w", txid, err)
	case wallet == nil:
		return chainTx{}, nil
	}
	w, err := wallet.GetTransaction(ctx, txid)
	switch {
	case err == nil:
		tx := chainTx{found: true, confirmations: w.Confirmations, blockHash: w.BlockHash, hex: w.Hex}
		return tx, tx.parse(txid)
	case isRPCError(err):
		return chainTx{}, nil
	}
	return chainTx{}, fmt.Errorf("audit: gettransaction %s: %w", txid, err)
}

// parse reads the anchors out of the transaction's hex, which must hash
// to txid.
func (tx *chainTx) parse(txid string) error {
	t, err := biblepay.ParseTxHex(tx.hex)
	if err != nil {
		return fmt.Errorf("audit: transaction %s from the node: %w", txid, err)
	}
	if got := t.TxID(); got != txid {
		return fmt.Errorf("audit: the node gave transaction %s for %s", got, txid)
	}
	for _, o := range t.Outputs {
		tx.addData(biblepay.NullData(o.ScriptPubKey))
	}
	return nil
}

func (tx *chainTx) addData(data []byte, ok bool) {
	if !ok {
		return
	}
	if d, err := anchor.Decode(data); err == nil {
		tx.anchors = append(tx.anchors, d)
	} else {
		tx.otherData++
	}
}

// checkAnchorOnChain reads the payout's transactions back and checks the
// head each carries against the log.
func (a *auditor) checkAnchorOnChain(ctx context.Context, p *anchorPayout) error {
	var txids []string
	for _, sg := range p.signed {
		txids = append(txids, sg.TxID)
	}
	if p.sentTx != "" && !contains(txids, p.sentTx) {
		txids = append(txids, p.sentTx)
	}
	rep := a.rep.Anchors
	for _, txid := range txids {
		tx, err := a.readTx(ctx, txid)
		if err != nil {
			return err
		}
		if !tx.found {
			switch {
			case txid == p.sentTx && p.sent():
				a.violation(KindAnchorTxMissing, p.pos, p.network, p.id.String(),
					"the node knows no transaction %s, which the payout is recorded as sent in (%s): its anchor cannot be read", txid, p.status)
			case p.dead[txid]:
				rep.Notes = append(rep.Notes, fmt.Sprintf("payout %s: transaction %s is recorded dead and is not on the node", p.id, txid))
			default:
				rep.Notes = append(rep.Notes, fmt.Sprintf("payout %s (%s): transaction %s is not on the node (not broadcast)", p.id, p.status, txid))
			}
			continue
		}
		rep.ChainChecked++
		var problems []string
		switch len(tx.anchors) {
		case 0:
			problems = append(problems, "carries no Purepool anchor, although the payout was planned with one")
		case 1:
			problems = append(problems, a.checkData(tx.anchors[0], p)...)
		default:
			problems = append(problems, fmt.Sprintf("carries %d Purepool anchors, not one", len(tx.anchors)))
		}
		if len(problems) > 0 {
			a.violation(KindAnchorOnChain, p.pos, p.network, p.id.String(), "transaction %s (%s): %s", txid, where(tx), strings.Join(problems, "; "))
			continue
		}
		tx.verified = true
		a.anc.onChain[txid] = tx
	}
	return nil
}

func where(tx chainTx) string {
	switch {
	case tx.blockHash != "":
		return fmt.Sprintf("in block %s, %d confirmations", tx.blockHash, tx.confirmations)
	case tx.confirmations < 0:
		return "conflicted"
	}
	return "in the mempool"
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkData checks a data output of payout p's transaction against the log.
func (a *auditor) checkData(d anchor.Data, p *anchorPayout) []string {
	var problems []string
	if d.PayoutID != p.id || d.PoolID != p.pool {
		problems = append(problems, fmt.Sprintf("its anchor names payout %s of pool %s, not payout %s of pool %s", d.PayoutID, d.PoolID, p.id, p.pool))
	}
	problems = append(problems, a.checkHead(d)...)
	if p.anchor != nil && (d.Size != p.anchor.Size || hex.EncodeToString(d.Root[:]) != strings.ToLower(p.anchor.Root)) {
		problems = append(problems, fmt.Sprintf("it anchors size %d root %x, the log's PayoutPlanned says size %d root %s (the log's anchor was rewritten)",
			d.Size, d.Root, p.anchor.Size, p.anchor.Root))
	}
	return problems
}

// checkHead checks an anchored head against the log's tree.
func (a *auditor) checkHead(d anchor.Data) []string {
	s := &a.anc
	size := uint64(len(s.leaves))
	if d.Size > size {
		return []string{fmt.Sprintf("it anchors the log at size %d, but the log ends at %d (truncated)", d.Size, size)}
	}
	if s.log == nil {
		s.log = anchor.NewLog(s.leaves)
	}
	root, err := s.log.RootAt(d.Size)
	if err != nil {
		return []string{err.Error()}
	}
	if root != d.Root {
		return []string{fmt.Sprintf("the chain holds root %x for the log's first %d events, the log's root there is %x: events at or before position %d were rewritten",
			d.Root, d.Size, root, d.Size)}
	}
	return nil
}

// scanWallet looks through the wallet's sends for payout transactions of
// this pool that the log does not name: a payout deleted from the log,
// or a log truncated behind it.
func (a *auditor) scanWallet(ctx context.Context) error {
	l, ok := a.opt.Chain.(walletLister)
	if !ok {
		if w, ok2 := a.opt.Wallet.(walletLister); ok2 {
			l, ok = w, true
		}
	}
	if !ok {
		return nil
	}
	s := &a.anc
	const page = 1000
	seen := map[string]bool{}
	var unknown []string
	for from := 0; ; from += page {
		entries, err := l.ListTransactions(ctx, "*", page, from)
		if err != nil {
			return fmt.Errorf("audit: listtransactions: %w", err)
		}
		for _, e := range entries {
			if e.Category != "send" || seen[e.TxID] {
				continue
			}
			seen[e.TxID] = true
			if !s.knownTx[e.TxID] {
				unknown = append(unknown, e.TxID)
			}
		}
		if len(entries) < page {
			break
		}
	}
	a.rep.Anchors.WalletSends = len(seen)
	sort.Strings(unknown)
	for _, txid := range unknown {
		tx, err := a.readTx(ctx, txid)
		if err != nil {
			return err
		}
		for _, d := range tx.anchors {
			if len(s.poolIDs) > 0 && !s.poolIDs[d.PoolID] {
				continue // another installation's payout
			}
			detail := fmt.Sprintf("the wallet's transaction %s (%s) pays payout %s of pool %s and anchors the log at size %d, but the log holds no transaction of it: the payout was deleted from the log, or the log truncated",
				txid, where(tx), d.PayoutID, d.PoolID, d.Size)
			if problems := a.checkHead(d); len(problems) > 0 {
				detail += "; " + strings.Join(problems, "; ")
			}
			a.violation(KindAnchorOnChain, 0, "", d.PayoutID.String(), "%s", detail)
		}
	}
	return nil
}

// proveStatement gives the statement's lines their inclusion proofs under
// the latest anchored head, and the anchored heads their consistency
// proofs. An anchored head is a payout recorded as sent whose anchor
// agrees with the log, and, when the node is asked (Options.Chain), whose
// transaction the node gave back carrying that head.
func (a *auditor) proveStatement(st *Statement) {
	s := &a.anc
	var heads []*anchorPayout
	for _, p := range s.anchored {
		if !p.sent() || !p.logOK {
			continue
		}
		if a.opt.Chain != nil {
			if tx, ok := s.onChain[p.sentTx]; !ok || !tx.verified || tx.confirmations < 1 {
				continue
			}
		}
		heads = append(heads, p)
	}
	sort.SliceStable(heads, func(i, j int) bool { return heads[i].anchor.Size < heads[j].anchor.Size })
	st.PoolID = s.firstPID
	const verify = "`purepool verify-statement FILE --node URL` checks every proof and each anchor against the BiblePay chain; it needs no database."
	switch {
	case len(heads) == 0:
		st.ProofNote = "No payout transaction anchors the log yet: no line can be proven. " + verify
		for i := range st.Lines {
			st.Lines[i].Unanchored = true
			st.Lines[i].Note = "no anchored head of the log yet: the next payout's transaction will anchor it"
		}
		return
	case s.gapped:
		st.ProofNote = "The log's positions are not gapless (see the audit's violations): no proof can be given."
		return
	}
	var prev *StatementAnchor
	for _, p := range heads {
		h := StatementAnchor{Size: p.anchor.Size, Root: strings.ToLower(p.anchor.Root), Hash: strings.ToLower(p.anchor.Hash), Network: p.network,
			PayoutID: p.id, Position: p.pos, TxID: p.sentTx}
		if tx, ok := s.onChain[p.sentTx]; ok && tx.found {
			h.TxHex, h.BlockHash = tx.hex, tx.blockHash
		} else {
			for _, sg := range p.signed {
				if sg.TxID == p.sentTx {
					h.TxHex = sg.Hex
				}
			}
		}
		if p.pool != uuid.Nil {
			st.PoolID = p.pool
		}
		if prev != nil {
			c, err := s.log.ConsistencyProof(prev.Size, h.Size)
			if err != nil { // cannot happen: both sizes are within the log
				panic(err)
			}
			h.Consistency = anchor.HexHashes(c)
		}
		st.Anchors = append(st.Anchors, h)
		prev = &st.Anchors[len(st.Anchors)-1]
	}
	latest := st.Anchors[len(st.Anchors)-1]
	st.ProofNote = fmt.Sprintf("Each line's event is proven under the log's head at size %d, anchored by transaction %s; lines after position %d are unanchored until the next payout. %s",
		latest.Size, latest.TxID, latest.Size, verify)
	for i := range st.Lines {
		l := &st.Lines[i]
		if l.Position > latest.Size {
			l.Unanchored = true
			l.Note = fmt.Sprintf("after the latest anchored head (size %d): provable once a later payout's transaction anchors the log", latest.Size)
			continue
		}
		p, err := s.log.InclusionProof(l.Position-1, latest.Size)
		if err != nil {
			panic(err) // the position is within the head
		}
		l.Proof = &InclusionProof{LeafIndex: l.Position - 1, TreeSize: latest.Size, Hashes: anchor.HexHashes(p)}
	}
}

// writeAnchors adds the anchors to the text report.
func (r *Report) writeAnchors(b *bytes.Buffer) {
	an := r.Anchors
	if an == nil {
		return
	}
	fmt.Fprintf(b, "anchors: %d payouts carry the log's head", an.Anchored)
	if an.ChainChecked > 0 || an.WalletSends > 0 {
		fmt.Fprintf(b, "; %d payout transactions read back from the node, %d wallet sends looked through", an.ChainChecked, an.WalletSends)
	}
	b.WriteString("\n")
	if h := an.Latest; h != nil {
		fmt.Fprintf(b, "latest anchored head: size %d, root %s, transaction %s (payout %s)", h.Size, h.Root, h.TxID, h.PayoutID)
		if h.OnChain {
			fmt.Fprintf(b, ", on the chain in block %s with %d confirmations", h.BlockHash, h.Confirmations)
		}
		b.WriteString("\n")
	}
	for _, n := range an.Notes {
		fmt.Fprintf(b, "  note: %s\n", n)
	}
}
