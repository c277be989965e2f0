// Wallet RPCs: addresses, balances, sendtoaddress and sendmany (run through
// the armed send mode), gettransaction and listtransactions.

package simnode

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

func rpcValidateAddress(c *call) (any, error) {
	if err := c.count(1, 1, `"biblepayaddress"`); err != nil {
		return nil, err
	}
	a, err := c.str(0)
	if err != nil {
		return nil, err
	}
	script, err := c.n.cfg.Network.ScriptForAddress(a)
	if err != nil {
		return map[string]any{"isvalid": false}, nil
	}
	c.n.mu.Lock()
	mine := c.n.wallet.keys[a]
	c.n.mu.Unlock()
	return map[string]any{"isvalid": true, "address": a, "scriptPubKey": hex.EncodeToString(script),
		"ismine": mine, "iswatchonly": false, "isscript": false, "account": ""}, nil
}

func rpcGetNewAddress(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	a := c.n.wallet.newAddress()
	return a, c.n.save()
}

func rpcGetAccountAddress(c *call) (any, error) { return c.n.wallet.defaultAddr, nil }

func (n *Node) balances() (balance, immature int64) {
	coins, imm := n.walletCoins(1)
	for _, c := range coins {
		balance += c.value
	}
	return balance, imm
}

func rpcGetWalletInfo(c *call) (any, error) {
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	bal, imm := n.balances()
	return map[string]any{
		"walletversion": 61000, "balance": amount(bal), "retirement_account_balance": amount(0),
		"unconfirmed_balance": amount(0), "immature_balance": amount(imm), "txcount": len(n.wallet.order),
		"keypoololdest": 1518041437, "keypoolsize": 1000, "keys_left": 1000, "unlocked_until": 0,
		"paytxfee": amount(n.cfg.FeePerKB),
	}, nil
}

func rpcGetBalance(c *call) (any, error) {
	c.n.mu.Lock()
	defer c.n.mu.Unlock()
	bal, _ := c.n.balances()
	return amount(bal), nil
}

// send runs a wallet send under the node's lock and applies the armed sendMode.
func (c *call) send(pays []payment, subtract map[string]bool, minConf int64, comment, to string) (any, error) {
	return c.sending(func() (string, error) { return c.n.createSend(pays, subtract, minConf, comment, to) })
}

// sending runs do (a send, under the node's lock) with the armed sendMode:
// a failure instead of the send; a delay before it (the call is lost, and
// the transaction never sent, if the node restarts meanwhile); an error, a
// dropped connection or no answer at all after it.
func (c *call) sending(do func() (string, error)) (any, error) {
	n := c.n
	n.mu.Lock()
	mode := n.nextSend
	n.nextSend = sendMode{}
	restarted := n.restarted
	n.mu.Unlock()
	if mode.fail != nil {
		return nil, mode.fail
	}
	if mode.delay > 0 {
		t := time.NewTimer(mode.delay)
		select {
		case <-t.C:
		case <-restarted:
			t.Stop()
			return nil, errDrop
		case <-n.closed:
			t.Stop()
			return nil, errDrop
		}
	}
	n.mu.Lock()
	if n.restarted != restarted {
		n.mu.Unlock()
		return nil, errDrop // the process that took the call is gone
	}
	txid, err := do()
	if err == nil {
		err = n.save()
	}
	n.mu.Unlock()
	if err != nil {
		return nil, err
	}
	switch {
	case mode.thenTimeout:
		return nil, errHang
	case mode.thenError == "drop":
		return nil, errDrop
	case mode.thenError != "":
		return nil, &rpcError{CodeMisc, "simulated failure after the transaction was sent"}
	}
	return txid, nil
}

func (c *call) payment(addr string, raw json.RawMessage) (payment, error) {
	script, err := c.n.cfg.Network.ScriptForAddress(addr)
	if err != nil {
		return payment{}, &rpcError{CodeInvalidAddress, "Invalid BiblePay address: " + addr}
	}
	v, err := parseAmount(raw)
	if err != nil {
		return payment{}, err
	}
	if v <= 0 {
		return payment{}, &rpcError{CodeType, "Invalid amount for send"}
	}
	return payment{addr: addr, amount: v, script: script}, nil
}

func rpcSendToAddress(c *call) (any, error) {
	if err := c.count(2, 7, `"biblepayaddress" amount ( "comment" "comment-to" subtractfeefromamount use_is use_ps )`); err != nil {
		return nil, err
	}
	addr, err := c.str(0)
	if err != nil {
		return nil, err
	}
	p, err := c.payment(addr, c.params[1])
	if err != nil {
		return nil, err
	}
	comment, err := c.optStr(2, "")
	if err != nil {
		return nil, err
	}
	to, err := c.optStr(3, "")
	if err != nil {
		return nil, err
	}
	sub, err := c.optBool(4, false)
	if err != nil {
		return nil, err
	}
	return c.send([]payment{p}, map[string]bool{addr: sub}, 1, comment, to)
}

func rpcSendMany(c *call) (any, error) {
	if err := c.count(2, 7, `"fromaccount" {"address":amount,...} ( minconf "comment" ["address",...] use_is use_ps )`); err != nil {
		return nil, err
	}
	if _, err := c.str(0); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(c.params[1]))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, &rpcError{CodeMisc, "JSON value is not an object as expected"}
	}
	var pays []payment
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, &rpcError{CodeParse, "Parse error"}
		}
		addr, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, &rpcError{CodeParse, "Parse error"}
		}
		if seen[addr] {
			return nil, &rpcError{CodeInvalidParameter, "Invalid parameter, duplicated address: " + addr}
		}
		seen[addr] = true
		p, err := c.payment(addr, raw)
		if err != nil {
			return nil, err
		}
		pays = append(pays, p)
	}
	minConf, err := c.optInt(2, 1)
	if err != nil {
		return nil, err
	}
	comment, err := c.optStr(3, "")
	if err != nil {
		return nil, err
	}
	sub := map[string]bool{}
	if c.has(4) {
		var list []string
		if json.Unmarshal(c.params[4], &list) != nil {
			return nil, &rpcError{CodeMisc, "JSON value is not an array as expected"}
		}
		for _, a := range list {
			if _, err := c.n.cfg.Network.ScriptForAddress(a); err != nil {
				return nil, &rpcError{CodeInvalidAddress, "Invalid BiblePay address: " + a}
			}
			sub[a] = true
		}
	}
	return c.send(pays, sub, minConf, comment, "")
}

func rpcGetTransaction(c *call) (any, error) {
	if err := c.count(1, 2, `"txid" ( includeWatchonly )`); err != nil {
		return nil, err
	}
	id, err := c.str(0)
	if err != nil {
		return nil, err
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	wt, ok := n.wallet.txs[strings.ToLower(id)]
	if !ok {
		return nil, &rpcError{CodeInvalidAddress, "Invalid or non-wallet transaction id"}
	}
	st := n.txState(wt)
	m := n.commonTxFields(wt, st)
	var net, fee int64
	details := n.entries(wt, false)
	for _, d := range details {
		v := int64(d["amount"].(amount))
		net += v
	}
	if wt.FromMe {
		fee = n.txFee(wt)
		m["fee"] = amount(-fee)
	}
	m["amount"] = amount(net)
	m["details"] = details
	m["hex"] = hex.EncodeToString(wt.Tx.Bytes())
	return m, nil
}

func rpcListTransactions(c *call) (any, error) {
	if err := c.count(0, 4, `( "account" count from includeWatchonly )`); err != nil {
		return nil, err
	}
	account, err := c.optStr(0, "*")
	if err != nil {
		return nil, err
	}
	count, err := c.optInt(1, 10)
	if err != nil {
		return nil, err
	}
	from, err := c.optInt(2, 0)
	if err != nil {
		return nil, err
	}
	if count < 0 {
		return nil, &rpcError{CodeInvalidParameter, "Negative count"}
	}
	if from < 0 {
		return nil, &rpcError{CodeInvalidParameter, "Negative from"}
	}
	n := c.n
	n.mu.Lock()
	defer n.mu.Unlock()
	all := []map[string]any{}
	if account == "*" || account == "" {
		for _, wt := range n.wallet.order {
			all = append(all, n.entries(wt, true)...)
		}
	}
	end := int64(len(all)) - from
	if end < 0 {
		end = 0
	}
	start := max(end-count, 0)
	return all[start:end], nil
}
