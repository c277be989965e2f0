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
//	sim_pause / sim_resume      Pause / Resume     stop / restart timed block production
//	sim_sethashrate h           SetHashRate(h)     network hash rate in hashes/s; target = h × block spacing
//	sim_info                                       network, wallet address, height, target, bits, maturity…
//
// The chain and the wallet are kept in memory and, with
// Config.StateFile, in a JSON file rewritten after every change, so a
// restart continues the same chain and wallet.
package simnode
