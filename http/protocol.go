package http

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Terminator ends every answer. The wallet's plain-HTTP reader stops at a
// line holding <END> or </HTML> (not <EOF>), its TLS reader at any of them;
// its timeouts count CPU time, so without a terminator (and a closed
// connection) a blocked TLS read never ends (spec §1.3). This is the
// official pool's ending.
const Terminator = "<END></HTML><EOF></EOF>\r\n"

// Messages answered to miners. Those with a %s echo (sanitized) input.
const (
	MsgUnknownAction    = "UNKNOWN ACTION %s"
	MsgInvalidNetwork   = "Invalid network"
	MsgWorkerIDMissing  = "WorkerID is missing"
	MsgWorkerIDInvalid  = "WorkerID %s is invalid"
	MsgMinerDisabled    = "Miner %s is disabled"
	MsgSolutionMissing  = "Solution is missing"
	MsgInvalidSolution  = "Invalid solution: %s"
	MsgThreadIDInvalid  = "ThreadID %s is invalid"
	MsgInvalidHeader    = "Invalid %s header"
	MsgRequestTooLarge  = "Request too large"
	MsgBadRequest       = "Bad request"
	MsgRateLimited      = "Rate limit exceeded"
	MsgHealthDown       = "HEALTH_DOWN"
	MsgInternal         = "Internal error"
	emptyAction         = "EMPTY"
	maxEchoBytes        = 64
	maxSolutionErrBytes = 200
)

// Error is a refusal answered to a miner in the protocol's error format.
// Message is shown to the miner (it is sanitized when answered); Err is the
// cause, only logged.
type Error struct {
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// refuse makes an Error whose message is format with the args sanitized.
func refuse(cause error, format string, args ...string) *Error {
	a := make([]any, len(args))
	for i, s := range args {
		a[i] = sanitize(s, maxEchoBytes)
	}
	return &Error{Message: fmt.Sprintf(format, a...), Err: cause}
}

// errorMessage is what a miner is told about err: an *Error's message, and
// nothing of any other error (which is logged as internal).
func errorMessage(err error) string {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Message
	}
	return MsgInternal
}

// ErrorAnswer is the protocol's error format: the wallet takes <ERROR>
// first and shows it as the thread's pool status.
func ErrorAnswer(msg string) []byte {
	msg = sanitize(msg, 4*maxEchoBytes+maxSolutionErrBytes)
	return []byte("<RESPONSE>" + msg + "</RESPONSE><ERROR>" + msg + "</ERROR><EOF>" + Terminator)
}

// WorkAnswer answers readytomine2. Every field sits inside <RESPONSE>,
// where the wallet looks for them; the space after <RESPONSE> is as both
// earlier pools sent it.
func WorkAnswer(address, target, minerID, workID string) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "<RESPONSE> <ADDRESS>"...)
	b = append(b, address...)
	b = append(b, "</ADDRESS><HASHTARGET>"...)
	b = append(b, target...)
	b = append(b, "</HASHTARGET><MINERGUID>"...)
	b = append(b, minerID...)
	b = append(b, "</MINERGUID><WORKID>"...)
	b = append(b, workID...)
	b = append(b, "</WORKID></RESPONSE>"...)
	b = append(b, Terminator...)
	return b
}

// SolutionAnswer acknowledges a share whose command the broker confirmed.
func SolutionAnswer(workID string) []byte {
	return []byte("<RESPONSE><STATUS>ok</STATUS><WORKID>" + workID + "</WORKID></RESPONSE>" + Terminator)
}

// writeAnswer sends an answer the way the wallet reads best: status 200,
// Connection: close, and headers and body small enough to go out in one
// write (net/http buffers both and flushes them together when the handler
// returns, adding Content-Length as the last header line).
func writeAnswer(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h["Connection"] = []string{"close"}
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// sanitize makes s safe to echo inside a protocol tag: printable ASCII
// without <, > and &, at most max bytes.
func sanitize(s string, max int) string {
	clean := true
	if len(s) > max {
		clean = false
	}
	for i := 0; clean && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' {
			clean = false
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < max; i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' {
			b.WriteByte('?')
		} else {
			b.WriteByte(c)
		}
	}
	if len(s) > max {
		b.WriteString("...")
	}
	return b.String()
}
