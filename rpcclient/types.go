package rpcclient

import "encoding/json"

// Block is getblock's verbose result, with BiblePay's extra fields.
type Block struct {
	Hash              string      `json:"hash"`
	Confirmations     int64       `json:"confirmations"` // -1 once orphaned
	Size              int64       `json:"size"`
	Height            int64       `json:"height"`
	Version           int32       `json:"version"`
	MerkleRoot        string      `json:"merkleroot"`
	Tx                []string    `json:"tx"`
	Time              int64       `json:"time"`
	MedianTime        int64       `json:"mediantime"`
	Nonce             uint32      `json:"nonce"`
	Bits              string      `json:"bits"`
	Difficulty        json.Number `json:"difficulty"`
	Chainwork         string      `json:"chainwork"`
	PreviousBlockHash string      `json:"previousblockhash"`
	NextBlockHash     string      `json:"nextblockhash"`
	// BiblePay additions (BL blockToJSON).
	HRTime             string      `json:"hrtime"`
	Subsidy            json.Number `json:"subsidy"` // vout[0] in whole BBP, truncated
	BlockVersion       string      `json:"blockversion"`
	Verses             string      `json:"verses"`
	SatisfiesBibleHash bool        `json:"satisfiesbiblehash"`
	BibleHash          string      `json:"biblehash"`
	CPID               string      `json:"CPID"`
	PowDifficulty      json.Number `json:"pow_difficulty"`
}

// Subsidy is `exec subsidy`'s result.
type Subsidy struct {
	Command       string      `json:"Command"`
	Subsidy       int64       `json:"subsidy"` // whole BBP, truncated; use CoinbaseValueSat for money
	Recipient     string      `json:"recipient"`
	BlockVersion  string      `json:"blockversion"`
	BlockVersion2 json.Number `json:"blockversion2"`
	MinerGUID     string      `json:"minerguid"`
}

// Pinfo is `exec pinfo`'s result.
type Pinfo struct {
	Command string `json:"Command"`
	Height  int64  `json:"height"`  // tip height
	Pinfo   int64  `json:"pinfo"`   // max nonce now (spec §4.4)
	Elapsed int64  `json:"elapsed"` // seconds since the tip's time
}

// HexBlockCoinbase is `exec hexblocktocoinbase`'s result.
type HexBlockCoinbase struct {
	Command          string `json:"Command"`
	TxID             string `json:"txid"`
	Recipient        string `json:"recipient"`
	BibleHash        string `json:"biblehash"` // computed with the current tip as previous block
	Subsidy          int64  `json:"subsidy"`   // whole BBP, truncated
	BlockVersion     string `json:"blockversion"`
	CPIDSigValid     bool   `json:"cpid_sig_valid"`
	CPIDLegal        bool   `json:"cpid_legal"`
	CPIDLegalityNarr string `json:"cpid_legality_narr"`
	BlockMessage     string `json:"blockmessage"`
}

// TransactionDetail is one entry of gettransaction's details.
type TransactionDetail struct {
	Account   string `json:"account"`
	Address   string `json:"address"`
	Category  string `json:"category"` // send, receive, generate, immature, orphan
	Amount    Amount `json:"amount"`
	Vout      int    `json:"vout"`
	Fee       Amount `json:"fee"`
	Abandoned bool   `json:"abandoned"`
}

// Transaction is gettransaction's result.
type Transaction struct {
	Amount          Amount              `json:"amount"`
	Fee             Amount              `json:"fee"` // negative, sends only
	Confirmations   int64               `json:"confirmations"`
	BCConfirmations int64               `json:"bcconfirmations"`
	Generated       bool                `json:"generated"`
	BlockHash       string              `json:"blockhash"`
	BlockIndex      int64               `json:"blockindex"`
	BlockTime       int64               `json:"blocktime"`
	TxID            string              `json:"txid"`
	WalletConflicts []string            `json:"walletconflicts"`
	Time            int64               `json:"time"`
	TimeReceived    int64               `json:"timereceived"`
	Comment         string              `json:"comment"`
	To              string              `json:"to"`
	Details         []TransactionDetail `json:"details"`
	Hex             string              `json:"hex"`
}

// SentByAddress is what a wallet transaction sends to each address, in
// positive satoshis. A data output (a send of 0 without an address) is left
// out.
func (t *Transaction) SentByAddress() map[string]int64 {
	out := map[string]int64{}
	for _, d := range t.Details {
		if d.Category == "send" && d.Address != "" {
			out[d.Address] += -int64(d.Amount)
		}
	}
	return out
}

// TransactionEntry is one entry of listtransactions.
type TransactionEntry struct {
	Account         string   `json:"account"`
	Address         string   `json:"address"`
	Category        string   `json:"category"`
	Amount          Amount   `json:"amount"`
	Vout            int      `json:"vout"`
	Fee             Amount   `json:"fee"`
	Confirmations   int64    `json:"confirmations"`
	BCConfirmations int64    `json:"bcconfirmations"`
	Generated       bool     `json:"generated"`
	BlockHash       string   `json:"blockhash"`
	BlockIndex      int64    `json:"blockindex"`
	BlockTime       int64    `json:"blocktime"`
	TxID            string   `json:"txid"`
	WalletConflicts []string `json:"walletconflicts"`
	Time            int64    `json:"time"`
	TimeReceived    int64    `json:"timereceived"`
	Comment         string   `json:"comment"`
	To              string   `json:"to"`
}

// WalletInfo is getwalletinfo's result.
type WalletInfo struct {
	WalletVersion            int64  `json:"walletversion"`
	Balance                  Amount `json:"balance"`
	RetirementAccountBalance Amount `json:"retirement_account_balance"`
	UnconfirmedBalance       Amount `json:"unconfirmed_balance"`
	ImmatureBalance          Amount `json:"immature_balance"`
	TxCount                  int64  `json:"txcount"`
	KeyPoolOldest            int64  `json:"keypoololdest"`
	KeyPoolSize              int64  `json:"keypoolsize"`
	KeysLeft                 int64  `json:"keys_left"`
	UnlockedUntil            int64  `json:"unlocked_until"`
	PayTxFee                 Amount `json:"paytxfee"`
}

// AddressValidation is validateaddress's result.
type AddressValidation struct {
	IsValid      bool   `json:"isvalid"`
	Address      string `json:"address"`
	ScriptPubKey string `json:"scriptPubKey"`
	IsMine       bool   `json:"ismine"`
	IsWatchOnly  bool   `json:"iswatchonly"`
	IsScript     bool   `json:"isscript"`
	Account      string `json:"account"`
}

// TemplateTx is a mempool transaction offered in a block template.
type TemplateTx struct {
	Data    string `json:"data"`
	TxID    string `json:"txid"`
	Hash    string `json:"hash"`
	Depends []int  `json:"depends"`
	Fee     int64  `json:"fee"` // satoshis, as getblocktemplate writes it
	SigOps  int64  `json:"sigops"`
}

// BlockTemplate is getblocktemplate's result.
type BlockTemplate struct {
	Capabilities      []string          `json:"capabilities"`
	Version           int32             `json:"version"`
	PreviousBlockHash string            `json:"previousblockhash"`
	Transactions      []TemplateTx      `json:"transactions"`
	CoinbaseAux       map[string]string `json:"coinbaseaux"`
	CoinbaseValue     int64             `json:"coinbasevalue"` // satoshis
	LongPollID        string            `json:"longpollid"`
	Target            string            `json:"target"`
	MinTime           int64             `json:"mintime"`
	Mutable           []string          `json:"mutable"`
	NonceRange        string            `json:"noncerange"`
	SigOpLimit        int64             `json:"sigoplimit"`
	SizeLimit         int64             `json:"sizelimit"`
	CurTime           int64             `json:"curtime"`
	Bits              string            `json:"bits"`
	Height            int64             `json:"height"`
}

// ScriptPubKey is a decoded output script.
type ScriptPubKey struct {
	Asm       string   `json:"asm"`
	Hex       string   `json:"hex"`
	ReqSigs   int      `json:"reqSigs"`
	Type      string   `json:"type"`
	Addresses []string `json:"addresses"`
}

// RawVin is a decoded input.
type RawVin struct {
	Coinbase  string `json:"coinbase"`
	TxID      string `json:"txid"`
	Vout      uint32 `json:"vout"`
	ScriptSig *struct {
		Asm string `json:"asm"`
		Hex string `json:"hex"`
	} `json:"scriptSig"`
	Sequence uint32 `json:"sequence"`
}

// RawVout is a decoded output, with BiblePay's message.
type RawVout struct {
	Value        Amount       `json:"value"`
	ValueSat     int64        `json:"valueSat"`
	N            int          `json:"n"`
	ScriptPubKey ScriptPubKey `json:"scriptPubKey"`
	Message      string       `json:"message"`
}

// RawTransaction is decoderawtransaction's result.
type RawTransaction struct {
	TxID     string    `json:"txid"`
	Size     int64     `json:"size"`
	Version  int32     `json:"version"`
	LockTime uint32    `json:"locktime"`
	Vin      []RawVin  `json:"vin"`
	Vout     []RawVout `json:"vout"`
}

// MiningInfo is getmininginfo's result.
type MiningInfo struct {
	Blocks        int64       `json:"blocks"`
	Difficulty    json.Number `json:"difficulty"`
	NetworkHashPS json.Number `json:"networkhashps"`
	PooledTx      int64       `json:"pooledtx"`
	Chain         string      `json:"chain"`
}

// Coinbase is what a pool needs from a block's coinbase, read exactly.
type Coinbase struct {
	Height    int64
	BlockHash string
	Time      int64
	Bits      uint32 // the block header's compact target (nBits)
	TxID      string
	Recipient string // vout[0]'s address, "" if not a standard script
	ValueSat  int64  // vout[0]'s value in satoshis
	MinerGUID string // from <MINERGUID> in the messages
	Version   string // from <VER>
	Message   string // all vout messages
}
