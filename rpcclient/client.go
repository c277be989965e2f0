// Package rpcclient is a JSON-RPC 1.0 client for biblepayd (spec §3). It
// returns typed results, decodes money exactly into satoshis, and reports
// the node's errors as *Error. It declares no interfaces: each consumer
// declares the few methods it needs and *Client satisfies them.
package rpcclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// Error codes the node uses (bitcoind's rpcprotocol.h).
const (
	CodeMisc                  = -1  // runtime errors, wrong parameter counts, type errors in exec
	CodeType                  = -3  // RPC_TYPE_ERROR, e.g. an invalid amount
	CodeWallet                = -4  // RPC_WALLET_ERROR
	CodeInvalidAddressOrKey   = -5  // unknown block or transaction, invalid address
	CodeInsufficientFunds     = -6  // RPC_WALLET_INSUFFICIENT_FUNDS
	CodeInvalidParameter      = -8  // e.g. block height out of range, duplicated address
	CodeDeserialization       = -22 // "Block decode failed", "TX decode failed"
	CodeInvalidRequest        = -32600
	CodeMethodNotFound        = -32601
	CodeParse                 = -32700
	CodeWalletUnlockNeeded    = -13
	CodeWalletPassphraseWrong = -14
)

// Error is an error the node returned in the JSON-RPC envelope. Use
// errors.As to inspect the code.
type Error struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("biblepayd error %d: %s", e.Code, e.Message) }

// HTTPError is an HTTP reply without a JSON-RPC body, such as 401 for wrong
// credentials.
type HTTPError struct {
	StatusCode int
	Body       string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("biblepayd answered HTTP %d: %.200s", e.StatusCode, e.Body)
}

// Config says how to reach the node.
type Config struct {
	URL      string // e.g. http://127.0.0.1:39001
	User     string
	Password string
	// Timeout bounds each call unless the context ends sooner; 0 means 30 s.
	Timeout time.Duration
	// Network is used to turn coinbase scripts into addresses; default main.
	Network biblepay.Network
	// HTTPClient defaults to a client of its own that keeps up to 64
	// connections to the node alive.
	HTTPClient *http.Client
}

// Client is a biblepayd JSON-RPC client, safe for concurrent use.
type Client struct {
	url, user, password string
	timeout             time.Duration
	network             biblepay.Network
	http                *http.Client
	id                  atomic.Uint64
}

// New returns a client for the node at cfg.URL.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("rpcclient: URL is required")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		cfg.URL = "http://" + cfg.URL
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Network.Name == "" {
		cfg.Network = biblepay.Networks["main"]
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Handlers call the node at the same time; a connection that finds
		// no idle slot is closed after its call and the next call dials
		// again, so keep as many as a busy backend runs handlers.
		hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	}
	return &Client{url: cfg.URL, user: cfg.User, password: cfg.Password, timeout: cfg.Timeout, network: cfg.Network, http: hc}, nil
}

// Network is the network the client was configured for.
func (c *Client) Network() biblepay.Network { return c.network }

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

type response struct {
	Result json.RawMessage `json:"result"`
	Error  *Error          `json:"error"`
	ID     json.RawMessage `json:"id"`
}

// Call invokes any method; result (a pointer) receives the decoded result
// unless it is nil. It is exported for methods this package does not wrap,
// such as the simulated node's sim_* administration calls.
//
// For a send, only a nil error proves the payment was made, and not even an
// *Error proves it was not: callers must reconcile with ListTransactions.
func (c *Client) Call(ctx context.Context, method string, params []any, result any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("rpcclient: encode %s: %w", method, err)
	}
	status, raw, err := c.post(ctx, method, body)
	if err != nil {
		return err
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		if status != http.StatusOK {
			return fmt.Errorf("rpcclient: %s: %w", method, &HTTPError{StatusCode: status, Body: string(raw)})
		}
		return fmt.Errorf("rpcclient: %s: decode reply: %w", method, err)
	}
	if r.Error != nil {
		return fmt.Errorf("rpcclient: %s: %w", method, r.Error)
	}
	if status != http.StatusOK {
		return fmt.Errorf("rpcclient: %s: %w", method, &HTTPError{StatusCode: status, Body: string(raw)})
	}
	return decodeResult(method, r.Result, result)
}

// post sends one HTTP request and reads the whole reply; what names the
// call or batch in errors.
func (c *Client) post(ctx context.Context, what string, body []byte) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("rpcclient: %s: %w", what, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.user != "" || c.password != "" {
		req.SetBasicAuth(c.user, c.password)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("rpcclient: %s: %w", what, err)
	}
	defer resp.Body.Close()
	// Reading to EOF lets the transport reuse the connection.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("rpcclient: %s: read reply: %w", what, err)
	}
	return resp.StatusCode, raw, nil
}

// decodeResult decodes a call's result into result (a pointer), keeping
// numbers exact; a nil result discards it.
func decodeResult(method string, raw json.RawMessage, result any) error {
	if result == nil {
		return nil
	}
	if t := bytes.TrimSpace(raw); len(t) == 0 || bytes.Equal(t, []byte("null")) {
		// A missing or null result only means something to a caller that
		// can hold "nothing" (submitblock answers null on success); for a
		// struct or a number it would silently read as zero balances or
		// height 0.
		switch reflect.TypeOf(result).Elem().Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		default:
			return fmt.Errorf("rpcclient: %s: %w", method, ErrNoResult)
		}
		if len(t) == 0 {
			return nil
		}
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(result); err != nil {
		return fmt.Errorf("rpcclient: %s: decode result: %w", method, err)
	}
	return nil
}

// ErrNoResult is returned when a reply carries no result (absent or null)
// for a call whose result cannot be empty.
var ErrNoResult = errors.New("the reply has no result")
