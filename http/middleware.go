package http

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-chi/httprate"
)

type ctxKey int

const requestIDKey ctxKey = 0

// requestIDs are a per-process random prefix and a counter: unique, cheap,
// and never taken from the client.
var (
	requestIDPrefix = func() string {
		var b [4]byte
		_, _ = rand.Read(b[:])
		return hex.EncodeToString(b[:]) + "-"
	}()
	requestCounter atomic.Uint64
)

// RequestID returns the id the frontend gave the request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// withRequestID gives every request an id, in its context, its answer's
// X-Request-Id header and its log lines.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// One allocation for the id (a concatenation of a formatted
		// number takes two): it is paid on every request.
		var buf [32]byte
		id := string(strconv.AppendUint(append(buf[:0], requestIDPrefix...), requestCounter.Add(1), 10))
		w.Header()["X-Request-Id"] = []string{id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

// recoverProtocol turns a panic into a protocol error answer (never a 500)
// and logs it with its stack.
func recoverProtocol(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &trackingWriter{ResponseWriter: w}
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			log.LogAttrs(r.Context(), slog.LevelError, "panic answering a pool request",
				slog.String("request_id", RequestID(r.Context())),
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())))
			if !rw.wroteHeader {
				writeAnswer(w, ErrorAnswer(MsgInternal))
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

// trackingWriter notes whether an answer was started.
type trackingWriter struct {
	http.ResponseWriter
	wroteHeader bool
}

func (t *trackingWriter) WriteHeader(code int) {
	t.wroteHeader = true
	t.ResponseWriter.WriteHeader(code)
}

func (t *trackingWriter) Write(b []byte) (int, error) {
	t.wroteHeader = true
	return t.ResponseWriter.Write(b)
}

func (t *trackingWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// rateLimit limits requests per client IP (IPv6 by /64), answering the
// excess in the protocol's error format. The key is the TCP peer's address,
// unless the peer is one of the operator's trusted proxies: then it is the
// client the proxies name in X-Forwarded-For (trustedProxies.clientIP). A
// header from anyone else is ignored, since the client can forge it.
func rateLimit(limit int, window time.Duration, proxies trustedProxies, log *slog.Logger) func(http.Handler) http.Handler {
	if limit < 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	return httprate.LimitBy(limit, window,
		func(r *http.Request) (string, error) { return rateKey(proxies, r), nil },
		httprate.WithResponseHeaders(httprate.ResponseHeaders{}), // the wallet has no use for them
		httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
			log.LogAttrs(r.Context(), slog.LevelWarn, "pool request rate limited",
				slog.String("request_id", RequestID(r.Context())), slog.String("remote", proxies.clientIP(r)))
			writeAnswer(w, ErrorAnswer(MsgRateLimited))
		}),
		httprate.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
			log.LogAttrs(r.Context(), slog.LevelError, "rate limiter failed",
				slog.String("request_id", RequestID(r.Context())), slog.String("error", err.Error()))
			writeAnswer(w, ErrorAnswer(MsgInternal))
		}),
	)
}

// rateKey is the rate limiter's bucket of a request: its client's address,
// an IPv6 one reduced to its /64 (one subscriber's network).
func rateKey(proxies trustedProxies, r *http.Request) string {
	return httprate.CanonicalizeIP(proxies.clientIP(r))
}
