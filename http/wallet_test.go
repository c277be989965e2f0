package http_test

// A client that does what the 2018 wallet does on the wire (spec §1.2–1.4):
// it writes the request bytes PrepareHTTPPost builds, reads the answer the
// way GetHTTPContent / BiblepayHTTPSPost do, and extracts tags like
// PoolRequest.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
)

// walletRequest is one pool request as the wallet sends it.
type walletRequest struct {
	Action   string
	Miner    string
	Network  string
	Solution string
	ThreadID string
	Agent    string
	OS       string
	// Extra headers (name → raw line value), sorted in with the others;
	// Omit drops one of the standard headers.
	Extra map[string]string
	Omit  map[string]bool
	// Body overrides the body (the action name by default).
	Body *string
}

// readyToMine is a well-formed work request.
func readyToMine(miner, network string) walletRequest {
	return walletRequest{Action: "readytomine2", Miner: miner, Network: network, ThreadID: "0", Agent: "1.1.4.1", OS: "LIN"}
}

// solutionRequest is a well-formed share submission.
func solutionRequest(miner, network, solution string) walletRequest {
	return walletRequest{Action: "solution", Miner: miner, Network: network, Solution: solution, ThreadID: "0", Agent: "1.1.4.1", OS: "LIN"}
}

// Bytes is the request exactly as PrepareHTTPPost writes it: the fixed
// headers, then the custom ones from a std::map (sorted by name), then the
// body, which is the action name.
func (q walletRequest) Bytes(host string) []byte {
	body := q.Action
	if q.Body != nil {
		body = *q.Body
	}
	h := map[string]string{
		"Action":    q.Action,
		"Agent":     q.Agent,
		"Miner":     q.Miner,
		"NetworkID": q.Network,
		"OS":        q.OS,
		"Solution":  q.Solution,
		"ThreadID":  q.ThreadID,
	}
	for k := range q.Omit {
		delete(h, k)
	}
	for k, v := range q.Extra {
		h[k] = v
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b bytes.Buffer
	b.WriteString("POST /Action.aspx HTTP/1.1\r\n")
	b.WriteString("User-Agent: BiblePay-QT/1.1.4.1\r\n")
	b.WriteString("Host: " + host + "\r\n")
	b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	for _, k := range names {
		b.WriteString(k + ": " + h[k] + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// walletAnswer is what the wallet got back.
type walletAnswer struct {
	Raw      string // everything the wallet read, status line and headers included
	Full     string // everything the server sent until it closed the connection
	Error    string // <ERROR>, which PoolRequest looks at first
	Response string // <RESPONSE>, used only when Error is empty
}

func parseAnswer(raw string) walletAnswer {
	a := walletAnswer{Raw: raw, Error: biblepay.ExtractXML(raw, "<ERROR>", "</ERROR>")}
	if a.Error == "" {
		a.Response = biblepay.ExtractXML(raw, "<RESPONSE>", "</RESPONSE>")
	}
	return a
}

// readPlain reads as GetHTTPContent does: "lines" end at CR or LF, at
// 50,000 bytes or when they hold a tag; it stops after a line holding
// <END>, </html> or </HTML> (not <EOF>), or when the socket closes.
func readPlain(br *bufio.Reader) (string, error) {
	var all strings.Builder
	var line strings.Builder
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			all.WriteString(line.String())
			return all.String(), nil
		}
		if err != nil {
			return all.String() + line.String(), err
		}
		line.WriteByte(c)
		l := line.String()
		end := c == '\r' || c == '\n' || line.Len() >= 50000 ||
			strings.Contains(l, "</html>") || strings.Contains(l, "</HTML>") ||
			strings.Contains(l, "<EOF>") || strings.Contains(l, "<END>")
		if !end {
			continue
		}
		all.WriteString(l)
		line.Reset()
		if strings.Contains(l, "<END>") || strings.Contains(l, "</html>") || strings.Contains(l, "</HTML>") {
			return all.String(), nil
		}
	}
}

// readTLS reads as BiblepayHTTPSPost does: chunks of up to 1023 bytes until
// a chunk set holds a terminator, a read returns nothing, or the
// Content-Length heuristic's limit is reached.
func readTLS(r io.Reader) (string, error) {
	var data []byte
	buf := make([]byte, 1023)
	limit := 50000
	for {
		n, err := r.Read(buf)
		if n <= 0 {
			if err == io.EOF {
				err = nil
			}
			return string(data), err
		}
		data = append(data, buf[:n]...)
		s := string(data)
		if i := strings.Index(s, "Content-Length:"); i >= 0 {
			rest := strings.TrimSpace(s[i+len("Content-Length:"):])
			if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
				if cl, err := strconv.Atoi(strings.TrimSpace(rest[:j])); err == nil {
					limit = cl + i + 16
				}
			}
		}
		for _, tag := range []string{"</html>", "</HTML>", "<EOF>", "<END>"} {
			if strings.Contains(s, tag) {
				return s, nil
			}
		}
		if len(data) >= limit {
			return s, nil
		}
	}
}

// post sends q to addr over plain TCP like the wallet and returns what it read.
func post(t testing.TB, addr string, q walletRequest) walletAnswer {
	t.Helper()
	a, err := tryPost(addr, q)
	if err != nil {
		t.Fatalf("wallet request %s: %v", q.Action, err)
	}
	return a
}

func tryPost(addr string, q walletRequest) (walletAnswer, error) {
	c, err := net.DialTimeout("tcp", addr, 15*time.Second)
	if err != nil {
		return walletAnswer{}, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.Write(q.Bytes("pool.example.org")); err != nil {
		return walletAnswer{}, fmt.Errorf("write: %w", err)
	}
	br := bufio.NewReader(c)
	raw, err := readPlain(br)
	if err != nil {
		return walletAnswer{}, fmt.Errorf("read: %w (got %q)", err, raw)
	}
	a := parseAnswer(raw)
	rest, err := io.ReadAll(br) // the server must close the connection
	if err != nil {
		return walletAnswer{}, fmt.Errorf("after the answer: %w", err)
	}
	a.Full = raw + string(rest)
	return a, nil
}

// postTLS sends q over TLS without SNI and without verifying the
// certificate, as the wallet's OpenSSL client does; it returns the answer
// and the certificate the server presented.
func postTLS(t testing.TB, addr string, q walletRequest) (walletAnswer, *tls.ConnectionState) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(30 * time.Second))
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true}) // ServerName empty: no SNI
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake without SNI: %v", err)
	}
	if _, err := c.Write(q.Bytes("pool.example.org")); err != nil {
		t.Fatal(err)
	}
	s, err := readTLS(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, s)
	}
	st := c.ConnectionState()
	a := parseAnswer(s)
	rest, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("after the answer: %v", err)
	}
	a.Full = s + string(rest)
	return a, &st
}
