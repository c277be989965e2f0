// Package simnode is a simulated biblepayd: a chain that grows at a
// configurable block time (most blocks mined by "the rest of the network"),
// accepts pool blocks through submitblock, and a wallet that matures
// coinbases and sends payments. It serves the node's JSON-RPC surface
// (spec §3) with the same JSON shapes, field names and errors: JSON-RPC 1.0
// envelopes, HTTP 500 for errors (404 for an unknown method), 401 without
// the right basic auth.
//
// The real proofs of work need data that is not available, so the block
// hash (X11) and BibleHash are replaced by biblepay.SimBlockHash and
// biblepay.SimBibleHash, which take the same inputs; simminer uses the same
// functions, as a wallet computes BibleHash locally.
//
// In tests:
//
//	srv, err := simnode.Start(simnode.Config{User: "u", Password: "p", NetworkHashRate: 50}, "127.0.0.1:0")
//	defer srv.Close()
//	client, _ := rpcclient.New(rpcclient.Config{URL: srv.URL, User: "u", Password: "p", Network: srv.Node.Network()})
//	pool := srv.Node.WalletAddress()                       // the wallet's address: use it as the pool address
//	srv.Node.MinePoolBlock(ctx, pool, minerGUID)            // a pool block, as a wallet miner would submit it
//	srv.Node.Generate(int(srv.Node.Maturity()))             // mature it
//
// Administration, as Go methods on *Node and as RPC methods:
//
//	sim_generate [n]            Generate(n)        mine n network blocks now (default 1); returns their hashes
//	sim_reorg [n]               Reorg(n)           orphan the last n blocks, replace them with n+1 network blocks
//	sim_failnextsend [code msg] FailNextSend       the next send fails without sending (default -4)
//	sim_sendthenerror ["drop"]  SendThenError      the next send is made, then the call fails (-1), or with
//	                                               "drop" the connection closes without a reply
//	sim_sendthentimeout         SendThenTimeout    the next send is made, then the call never answers
//	sim_delaynextsend [secs]    DelayNextSend(d)   the next send waits secs (default 30) before it is made
//	                                               and answered; a caller giving up does not stop it
//	sim_restart ["norebroadcast"] Restart(rb)      biblepayd restarts: mempool and coin locks lost, calls
//	                                               in flight dropped (a delayed send never happens); the
//	                                               wallet's unconfirmed transactions are reaccepted at
//	                                               once (bitcoind's ReacceptWalletTransactions) unless
//	                                               "norebroadcast": then they stay out of the mempool,
//	                                               listed with 0 confirmations, inputs still spent for
//	                                               the wallet, until their hex is sent again
//	sim_pause / sim_resume      Pause / Resume     stop / restart timed block production
//	sim_sethashrate h           SetHashRate(h)     network hash rate in hashes/s; target = h × block spacing
//	sim_info                                       network, wallet address, height, target, bits, maturity…
//
// A "send" is sendtoaddress, sendmany or sendrawtransaction: each knob arms
// the next one of them.
//
// Raw transactions (createrawtransaction, fundrawtransaction,
// signrawtransaction, sendrawtransaction, getrawtransaction, gettxout,
// decoderawtransaction, listunspent, lockunspent, listlockunspent) answer
// as Dash 0.12.1 / Bitcoin 0.12 do, errors included; see raw.go. Signatures
// are deterministic stand-ins (sign.go) that the mempool verifies, so an
// unsigned or altered transaction is refused. sendrawtransaction runs
// AcceptToMemoryPool's checks in their order: -27 for a mined transaction
// with an unspent output, -26 "18: txn-mempool-conflict", -25 "Missing
// inputs" when an input's transaction has no coin left (also for a mined
// transaction whose outputs are all spent), -26 "18: bad-txns-inputs-spent"
// when it has others, "64: non-final", "64: dust", "66: insufficient
// priority", "256: absurdly-high-fee", "16: mandatory-script-verify-flag-
// failed (…)". createrawtransaction replaces a locktime of 0 by the node's
// time (BiblePay) and gives the inputs sequence 0xfffffffe, so such a
// transaction is final only once the median time past passes it: use the
// tip height as the locktime.
//
// The chain and the wallet are kept in memory and, with
// Config.StateFile, in a JSON file rewritten after every change, so a
// restart continues the same chain and wallet. Such a new process also
// forgets the coin locks and reaccepts the wallet's unconfirmed
// transactions; unlike a 0.12 node it restores the saved mempool too, so
// use Restart to lose it.
package simnode
