package simminer

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/purepool/purepool/biblepay"
)

// Request is one wallet request to the pool (spec §1.2).
type Request struct {
	Host      string // the pool's domain, no port
	Version   string // FormatFullVersion, e.g. 1.1.4.1: User-Agent BiblePay-QT/<ver> and the Agent header
	Action    string // readytomine2 or solution
	Miner     string // the workerid setting
	NetworkID string // main, test, regtest
	OS        string // WIN, MAC, LIN
	Solution  string // empty for readytomine2
	ThreadID  int
}

// Bytes is the request exactly as the wallet's PrepareHTTPPost writes it:
// the request line, User-Agent, Host and Content-Length, then the custom
// headers sorted by name (a std::map), a blank line and the action as body.
func (r Request) Bytes() []byte {
	var b bytes.Buffer
	body := r.Action
	b.WriteString("POST /Action.aspx HTTP/1.1\r\n")
	b.WriteString("User-Agent: BiblePay-QT/" + r.Version + "\r\n")
	b.WriteString("Host: " + r.Host + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	headers := map[string]string{
		"Action":    r.Action,
		"Agent":     r.Version,
		"Miner":     r.Miner,
		"NetworkID": r.NetworkID,
		"OS":        r.OS,
		"Solution":  r.Solution,
		"ThreadID":  strconv.Itoa(r.ThreadID),
	}
	names := make([]string, 0, len(headers))
	for k := range headers {
		names = append(names, k)
	}
	sort.Strings(names) // byte order, as std::map<std::string,...>
	for _, k := range names {
		b.WriteString(k + ": " + headers[k] + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// MaxLine is the wallet's line limit when reading a reply.
const MaxLine = 50_000

// MaxResponse bounds the whole reply this reader keeps (the wallet has no
// bound on plain HTTP but a pool reply is a few hundred bytes).
const MaxResponse = 1 << 20

// lineEnds are the strings that end a line; stopAt are those that also end
// the reply. <EOF> ends a line but not the reply (spec §1.3).
var (
	lineEnds = []string{"</html>", "</HTML>", "<EOF>", "<END>"}
	stopAt   = []string{"<END>", "</html>", "</HTML>"}
)

// ErrResponseTooLarge is returned when a reply exceeds MaxResponse.
var ErrResponseTooLarge = errors.New("pool reply too large")

// ReadResponse reads a pool reply the way the wallet's GetHTTPContent does:
// byte by byte into lines that end at CR or LF, at MaxLine bytes or when
// they contain a terminator; it stops after a line holding <END>, </html>
// or </HTML>, or when the connection closes. It returns everything read,
// status line and headers included, since the wallet searches all of it.
func ReadResponse(r io.Reader) (string, error) {
	br := bufio.NewReader(r)
	var all strings.Builder
	var line []byte
	flush := func() (stop bool) {
		l := string(line)
		all.WriteString(l)
		all.WriteByte('\n')
		line = line[:0]
		for _, s := range stopAt {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	for {
		c, err := br.ReadByte()
		if err != nil {
			if len(line) > 0 {
				flush()
			}
			if errors.Is(err, io.EOF) {
				return all.String(), nil
			}
			return all.String(), err
		}
		if all.Len()+len(line) > MaxResponse {
			return all.String(), ErrResponseTooLarge
		}
		if c == '\r' || c == '\n' {
			if flush() {
				return all.String(), nil
			}
			continue
		}
		line = append(line, c)
		end := len(line) >= MaxLine
		if !end && (c == '>') {
			for _, s := range lineEnds {
				if bytes.HasSuffix(line, []byte(s)) {
					end = true
					break
				}
			}
		}
		if end && flush() {
			return all.String(), nil
		}
	}
}

// PoolError is a pool reply the wallet treats as a failure; Reason is what
// the wallet would show (the <ERROR> text, or its own status such as
// "POOL HAS NO AVAILABLE WORK").
type PoolError struct {
	Reason string
	Raw    string
}

func (e *PoolError) Error() string { return "pool: " + e.Reason }

// Unwrap the reply as the wallet's PoolRequest: a non-empty <ERROR> wins,
// otherwise the contents of <RESPONSE>.
func Unwrap(raw string) (response string, err error) {
	if e := biblepay.ExtractXML(raw, "<ERROR>", "</ERROR>"); e != "" {
		return "", &PoolError{Reason: e, Raw: raw}
	}
	return biblepay.ExtractXML(raw, "<RESPONSE>", "</RESPONSE>"), nil
}

// Work is a successful readytomine2 reply.
type Work struct {
	Address   string
	TargetHex string   // <HASHTARGET> as sent
	Target    *big.Int // as the wallet reads it: uint256S of the first 64 characters
	MinerGUID string
	WorkID    string
}

// Wallet statuses for failed readytomine2 replies (BL GetPoolMiningMode).
const (
	ReasonNoAddress      = "POOL DOWN"
	ReasonInvalidAddress = "INVALID POOL ADDRESS"
	ReasonNoWork         = "POOL HAS NO AVAILABLE WORK"
	ReasonNoMinerGUID    = "MINER GUID IS EMPTY"
)

// ParseWork applies the wallet's readytomine2 checks to a raw reply.
func ParseWork(raw string, net biblepay.Network) (Work, error) {
	resp, err := Unwrap(raw)
	if err != nil {
		return Work{}, err
	}
	w := Work{
		Address:   biblepay.ExtractXML(resp, "<ADDRESS>", "</ADDRESS>"),
		TargetHex: biblepay.ExtractXML(resp, "<HASHTARGET>", "</HASHTARGET>"),
		MinerGUID: biblepay.ExtractXML(resp, "<MINERGUID>", "</MINERGUID>"),
		WorkID:    biblepay.ExtractXML(resp, "<WORKID>", "</WORKID>"),
	}
	fail := func(reason string) (Work, error) { return Work{}, &PoolError{Reason: reason, Raw: raw} }
	if w.Address == "" {
		return fail(ReasonNoAddress)
	}
	if net.ValidateAddress(w.Address) != nil {
		return fail(ReasonInvalidAddress)
	}
	if w.TargetHex == "" {
		return fail(ReasonNoWork)
	}
	if w.MinerGUID == "" {
		return fail(ReasonNoMinerGUID)
	}
	if w.WorkID == "" {
		return fail(ReasonNoWork)
	}
	w.Target = uint256S(w.TargetHex)
	return w, nil
}

// uint256S reads up to 64 leading hex digits as a number, as the wallet
// does: a shorter string is a smaller number, i.e. a much harder target.
func uint256S(s string) *big.Int {
	if len(s) > 64 {
		s = s[:64]
	}
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	i := 0
	for i < len(s) && strings.IndexByte("0123456789abcdefABCDEF", s[i]) >= 0 {
		i++
	}
	v := new(big.Int)
	if i > 0 {
		v.SetString(s[:i], 16)
	}
	return v
}

// SubmitReply is the pool's answer to a solution.
type SubmitReply struct {
	Raw    string
	Status string // <STATUS>, e.g. ok / OK
	WorkID string
	Error  string // <ERROR>, which the wallet only logs
}

// ParseSubmitReply reads a solution reply; the wallet ignores it, tests do not.
func ParseSubmitReply(raw string) SubmitReply {
	r := SubmitReply{Raw: raw, Error: biblepay.ExtractXML(raw, "<ERROR>", "</ERROR>")}
	resp := biblepay.ExtractXML(raw, "<RESPONSE>", "</RESPONSE>")
	r.Status = biblepay.ExtractXML(resp, "<STATUS>", "</STATUS>")
	r.WorkID = biblepay.ExtractXML(resp, "<WORKID>", "</WORKID>")
	return r
}

func fmtErr(action string, err error) error { return fmt.Errorf("simminer: %s: %w", action, err) }
