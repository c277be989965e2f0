package simminer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/purepool/purepool/biblepay"
	"github.com/purepool/purepool/simminer"
)

// stallingReader yields data, then blocks until released, as a pool that
// sends an answer and keeps the connection open.
type stallingReader struct {
	r       *bytes.Reader
	release chan struct{}
}

func (s *stallingReader) Read(p []byte) (int, error) {
	if s.r.Len() > 0 {
		return s.r.Read(p)
	}
	<-s.release
	return 0, io.EOF
}

// fuzzPool answers every connection with the current fuzzed bytes, then
// closes it or, with hold, keeps it open until the client hangs up.
type fuzzPool struct {
	ln   net.Listener
	mu   sync.Mutex
	data []byte
	hold bool
}

func newFuzzPool(f *testing.F) *fuzzPool {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	p := &fuzzPool{ln: ln}
	f.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			data, hold := p.data, p.hold
			p.mu.Unlock()
			go func() {
				defer c.Close()
				go io.Copy(io.Discard, c) // the request; ends when the client closes
				_, _ = c.Write(data)
				if hold {
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					_, _ = io.Copy(io.Discard, c)
				}
			}()
		}
	}()
	return p
}

func (p *fuzzPool) answer(data []byte, hold bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.data, p.hold = data, hold
}

// FuzzResponseReader feeds arbitrary pool replies to the simulated
// wallet's reader and parsers, in memory and over a real socket: no panic,
// no hang (a terminator after any garbage ends the read; a pool that never
// closes costs at most the miner's timeout), and every parsed work passes
// the wallet's checks or is a *PoolError.
func FuzzResponseReader(f *testing.F) {
	net := biblepay.Networks["test"]
	pool := net.Address([20]byte{1, 2, 3})
	target := strings.Repeat("0f", 32)
	const g, wid = "eef5cbcb-f673-4203-a791-f773b177f1df", "0b9f6e0a-3f1e-4c55-9d2f-4f0c1d2e3a4b"
	head := "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
	for _, s := range []string{
		head + "<RESPONSE> <ADDRESS>" + pool + "</ADDRESS><HASHTARGET>" + target + "</HASHTARGET><MINERGUID>" + g + "</MINERGUID><WORKID>" + wid + "</WORKID></RESPONSE><END></HTML><EOF></EOF>\r\n",
		head + "<RESPONSE><STATUS>ok</STATUS><WORKID>" + wid + "</WORKID></RESPONSE><END></HTML><EOF></EOF>\r\n",
		head + "<RESPONSE>HEALTH_DOWN</RESPONSE><ERROR>HEALTH_DOWN</ERROR><EOF><END></HTML><EOF></EOF>\r\n",
		head + "<RESPONSE> <ADDRESS>" + pool + "</ADDRESS><HASHTARGET>0x</HASHTARGET><MINERGUID>" + g + "</MINERGUID><WORKID>w</WORKID></RESPONSE>",
		head + "<RESPONSE> <ADDRESS>notanaddress</ADDRESS></RESPONSE><EOF>",
		"<ERROR></ERROR><RESPONSE><ADDRESS>" + pool + "</ADDRESS><HASHTARGET>zz</HASHTARGET><MINERGUID>x</MINERGUID><WORKID>y</WORKID>",
		"<RESPONSE><RESPONSE></RESPONSE>",
		"<ERROR>" + strings.Repeat("x", 60_000) + "</ERROR>",
		"<END",
		"\r\r\n\n<EOF><EOF><eof></html>",
		"",
		"\x00\xff<",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte(head+"<RESPONSE><STATUS>ok</STATUS>"), true)

	srv := newFuzzPool(f)
	m, err := simminer.New(simminer.Config{Pool: "http://" + srv.ln.Addr().String(), Worker: net.Address([20]byte{9}),
		Network: net, Timeout: 200 * time.Millisecond})
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte, hold bool) {
		watchdog := time.AfterFunc(10*time.Second, func() {
			panic(fmt.Sprintf("reading a %d-byte reply (hold %v) did not end in 10 s", len(data), hold))
		})
		defer watchdog.Stop()

		// In memory, then EOF.
		raw, err := simminer.ReadResponse(bytes.NewReader(data))
		if err != nil && !errors.Is(err, simminer.ErrResponseTooLarge) {
			t.Fatalf("ReadResponse: %v", err)
		}
		if len(raw) > 2*len(data)+1 { // every line end is one \n, plus one per tag
			t.Fatalf("read %d bytes out of %d", len(raw), len(data))
		}
		checkParsers(t, raw, net)

		// A terminator on its own line after the garbage ends the read
		// although the connection stays open.
		sr := &stallingReader{r: bytes.NewReader(append(append([]byte{}, data...), "\n<END>\n"...)), release: make(chan struct{})}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = simminer.ReadResponse(sr)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			close(sr.release)
			t.Fatalf("a reply ending in <END> did not end the read")
		}

		// Over a socket, as the miner asks for work.
		srv.answer(data, hold)
		began := time.Now()
		w, err := m.RequestWork(context.Background(), 0)
		if took := time.Since(began); took > 5*time.Second {
			t.Fatalf("RequestWork took %s", took)
		}
		var pe *simminer.PoolError
		var ne interface{ Timeout() bool }
		switch {
		case err == nil:
			checkWork(t, w, net)
		case errors.As(err, &pe), errors.Is(err, simminer.ErrResponseTooLarge), errors.As(err, &ne) && ne.Timeout():
		default:
			// The pool closing before the request is written is a
			// transport failure the miner counts; anything else is not.
			if !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
				t.Fatalf("RequestWork: unexpected error %T: %v", err, err)
			}
		}
	})
}

func checkParsers(t *testing.T, raw string, net biblepay.Network) {
	t.Helper()
	w, err := simminer.ParseWork(raw, net)
	if err != nil {
		var pe *simminer.PoolError
		if !errors.As(err, &pe) || pe.Reason == "" {
			t.Fatalf("ParseWork: %T %v", err, err)
		}
	} else {
		checkWork(t, w, net)
	}
	r := simminer.ParseSubmitReply(raw)
	if r.Raw != raw {
		t.Fatal("ParseSubmitReply lost the raw reply")
	}
}

func checkWork(t *testing.T, w simminer.Work, net biblepay.Network) {
	t.Helper()
	if net.ValidateAddress(w.Address) != nil || w.TargetHex == "" || w.MinerGUID == "" || w.WorkID == "" || w.Target == nil || w.Target.Sign() < 0 {
		t.Fatalf("work %+v passed the wallet's checks", w)
	}
}
