package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/oklog/run"
)

// Server serves the frontend on one or more listeners (plain HTTP for
// poolport, TLS for https pools) until its context ends.
type Server struct {
	// Action answers /Action.aspx.
	Action *ActionHandler
	// Web, when set, is mounted at / (the website).
	Web http.Handler
	// Logger receives request and server logs; nil discards.
	Logger *slog.Logger
	// ShutdownTimeout bounds the wait for requests in flight (solutions
	// waiting for their confirmation) when the server stops.
	ShutdownTimeout time.Duration
	// ReadTimeout bounds how long a client may take to send its request
	// (default 60 s: a 1 MiB Solution header over a slow line).
	ReadTimeout time.Duration

	mu        sync.Mutex
	srv       *http.Server
	listeners []net.Listener
}

// TLSConfig serves one certificate to every client: the wallet sends no
// SNI (spec §1.1), and with a single certificate there is nothing to choose.
// HTTP/2 is not offered; the wallet speaks HTTP/1.1 only.
func TLSConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// Handler is the router: /Action.aspx, /healthz and the website.
func (s *Server) Handler() http.Handler {
	log := s.logger()
	cfg := s.Action.Config()
	action := recoverProtocol(log, rateLimit(cfg.RateLimit, cfg.RateWindow, trustedProxies(cfg.TrustedProxies), log)(s.Action))
	r := chi.NewRouter()
	r.Use(withRequestID)
	r.Handle("/Action.aspx", action)
	r.Get("/healthz", s.healthz)
	if s.Web != nil {
		r.Mount("/", s.Web)
	}
	// The wallet's requests skip the router, which would copy the request
	// for its route context and add frames to a goroutine that is new for
	// every request (Connection: close): past 8 KiB its stack is copied.
	// Same chain, same limiter; an escaped path is left to the router,
	// which routes by the path as sent.
	wallet := withRequestID(action)
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/Action.aspx" && req.URL.RawPath == "" {
			wallet.ServeHTTP(w, req)
			return
		}
		r.ServeHTTP(w, req)
	})
}

// healthz reports whether every configured network can take work:
// 200 when all can, 503 otherwise, per network as JSON.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	cfg := s.Action.Config()
	names := make([]string, 0, len(cfg.Networks))
	for n := range cfg.Networks {
		names = append(names, n)
	}
	slices.Sort(names)
	status := http.StatusOK
	report := struct {
		Status   string            `json:"status"`
		Networks map[string]string `json:"networks"`
	}{Status: "ok", Networks: map[string]string{}}
	for _, n := range names {
		if err := s.Action.health.CanTakeWork(r.Context(), n); err != nil {
			// The reason may name internal hosts: it goes to the log only.
			s.logger().LogAttrs(r.Context(), slog.LevelWarn, "network cannot take work",
				slog.String("network", n), slog.String("error", err.Error()))
			status = http.StatusServiceUnavailable
			report.Status = "down"
			report.Networks[n] = "down"
		} else {
			report.Networks[n] = "ok"
		}
	}
	b, _ := json.Marshal(report)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func (s *Server) server() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		cfg := s.Action.Config()
		readTimeout := s.ReadTimeout
		if readTimeout <= 0 {
			readTimeout = 60 * time.Second
		}
		s.srv = &http.Server{
			Handler:           s.Handler(),
			MaxHeaderBytes:    ServerMaxHeaderBytes(cfg.MaxHeaderBytes),
			ReadHeaderTimeout: readTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      cfg.PublishTimeout + 30*time.Second,
			IdleTimeout:       30 * time.Second,
			TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2
			ErrorLog:          slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
		}
	}
	return s.srv
}

// Listen opens a listener on addr (":0" picks a port); with tlsConfig it
// serves TLS. It returns the bound address. Call it before Run.
func (s *Server) Listen(addr string, tlsConfig *tls.Config) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http: listen %s: %w", addr, err)
	}
	bound := ln.Addr()
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	s.mu.Lock()
	s.listeners = append(s.listeners, protocolListener{ln})
	s.mu.Unlock()
	return bound, nil
}

// Run serves every listener until ctx ends or one fails, then shuts down
// gracefully: it stops accepting and waits up to ShutdownTimeout for the
// requests in flight. It returns nil when stopped by ctx.
func (s *Server) Run(ctx context.Context) error {
	srv := s.server()
	s.mu.Lock()
	listeners := slices.Clone(s.listeners)
	s.mu.Unlock()
	if len(listeners) == 0 {
		return errors.New("http: no listener")
	}
	timeout := s.ShutdownTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var once sync.Once
	shutdown := func(error) {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil {
				s.logger().Warn("frontend shutdown", slog.String("error", err.Error()))
				_ = srv.Close()
			}
		})
	}
	var g run.Group
	for _, ln := range listeners {
		g.Add(func() error {
			s.logger().Info("frontend listening", slog.String("addr", ln.Addr().String()))
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http: serve %s: %w", ln.Addr(), err)
			}
			return nil
		}, shutdown)
	}
	if dir, ok := s.Action.miners.(interface{ Run(context.Context) error }); ok {
		// The in-memory miner directory (Directory) polls the read model
		// while the server runs, so that no request waits for it.
		dctx, cancel := context.WithCancel(ctx)
		g.Add(func() error { return dir.Run(dctx) }, func(error) { cancel() })
	}
	stop := make(chan struct{})
	g.Add(func() error {
		select {
		case <-ctx.Done():
		case <-stop:
		}
		return nil
	}, func(error) { close(stop) })
	return g.Run()
}

// protocolListener hands net/http connections whose refusals of
// unparseable or oversized requests are rewritten into protocol answers.
type protocolListener struct{ net.Listener }

func (l protocolListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &protocolConn{Conn: c}, nil
}

// net/http writes these refusals itself, in one write, before any handler
// runs (server.go, conn.serve); the wallet would not understand them.
var (
	cannedTooLarge   = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large")
	cannedBadRequest = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
)

// protocolConn replaces net/http's own 431 and 400 refusals by the protocol
// error answer. After one, it drains what the client still sends before it
// closes, so that the client reads the answer instead of a reset.
type protocolConn struct {
	net.Conn
	refused bool // only the connection's serving goroutine touches it
}

// rawAnswer is a complete HTTP response carrying a protocol answer.
func rawAnswer(body []byte) []byte {
	b := make([]byte, 0, 128+len(body))
	b = append(b, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}

func (c *protocolConn) Write(b []byte) (int, error) {
	var msg string
	switch {
	case bytes.Equal(b, cannedTooLarge):
		msg = MsgRequestTooLarge
	case bytes.Equal(b, cannedBadRequest):
		msg = MsgBadRequest
	default:
		return c.Conn.Write(b)
	}
	c.refused = true
	if _, err := c.Conn.Write(rawAnswer(ErrorAnswer(msg))); err != nil {
		return 0, err
	}
	return len(b), nil
}

// CloseWrite lets net/http half-close the connection after a refusal.
func (c *protocolConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Drain bounds for a refused request: a client writing a huge header first
// and reading after (as the wallet does) still gets its answer.
const (
	drainBytes   = 16 << 20
	drainTimeout = 2 * time.Second
)

func (c *protocolConn) Close() error {
	if c.refused {
		c.refused = false
		_ = c.CloseWrite() // the client sees the end of the answer and closes its side
		_ = c.Conn.SetReadDeadline(time.Now().Add(drainTimeout))
		_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, drainBytes))
	}
	return c.Conn.Close()
}
