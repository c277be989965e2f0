package simnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server is a Node serving HTTP on a listener, producing blocks in the
// background. Tests start one on 127.0.0.1:0.
type Server struct {
	Node *Node
	// URL is the RPC endpoint, e.g. http://127.0.0.1:40123.
	URL string

	http   *http.Server
	cancel context.CancelFunc
	done   chan struct{}
}

// Start creates a node and serves it on addr ("127.0.0.1:0" picks a free
// port). Close stops it.
func Start(cfg Config, addr string) (*Server, error) {
	n, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simnode: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		Node:   n,
		URL:    "http://" + ln.Addr().String(),
		http:   &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil},
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("simnode: serve", "err", err)
		}
	}()
	go func() {
		defer close(s.done)
		n.Run(ctx)
	}()
	return s, nil
}

// Close stops block production and the HTTP server.
func (s *Server) Close() error {
	s.cancel()
	s.Node.Close()
	<-s.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	s.Node.mu.Lock()
	defer s.Node.mu.Unlock()
	if serr := s.Node.save(); serr != nil && err == nil {
		err = serr
	}
	return err
}
