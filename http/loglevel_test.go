package http_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/purepool/purepool/commands/inproc"
	pphttp "github.com/purepool/purepool/http"
)

// A production logger at Warn still records that wallets were sent away
// with HEALTH_DOWN (the pool's fault), but not the miners' own mistakes.
func TestLogLevels_WarnShowsPoolFaultsOnly(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	down := pphttp.HealthFunc(func(context.Context, string) error { return errors.New("broker down") })
	h, err := pphttp.NewActionHandler(testConfig(), newMemDirectory(), down, inproc.New(), log)
	if err != nil {
		t.Fatal(err)
	}
	send := func(network string) {
		r := httptest.NewRequest(http.MethodPost, "/Action.aspx", strings.NewReader("readytomine2"))
		r.Header.Set("Action", "readytomine2")
		r.Header.Set("Miner", mainMiner)
		r.Header.Set("NetworkID", network)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	send("nosuchnet")
	if logs.String() != "" {
		t.Fatalf("a miner's mistake was logged at Warn: %s", logs.String())
	}
	send("main")
	if !strings.Contains(logs.String(), "HEALTH_DOWN") || !strings.Contains(logs.String(), "level=WARN") {
		t.Fatalf("HEALTH_DOWN not logged at Warn: %q", logs.String())
	}
}

// hangingDirectory answers only when the request is cancelled, as a read
// model does when the wallet hangs up during the miner lookup.
type hangingDirectory struct{ entered chan struct{} }

func (d hangingDirectory) Miner(ctx context.Context, _, _ string) (pphttp.Miner, bool, error) {
	close(d.entered)
	<-ctx.Done()
	return pphttp.Miner{}, false, ctx.Err()
}

// A wallet that hangs up during the miner lookup is no pool failure: it is
// logged at Debug as a client that went away, never HEALTH_DOWN at Warn.
func TestLogLevels_AClientThatGoesAwayIsNoHealthFailure(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelWarn, slog.LevelDebug} {
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))
		up := pphttp.HealthFunc(func(context.Context, string) error { return nil })
		dir := hangingDirectory{entered: make(chan struct{})}
		h, err := pphttp.NewActionHandler(testConfig(), dir, up, inproc.New(), log)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequest(http.MethodPost, "/Action.aspx", strings.NewReader("readytomine2")).WithContext(ctx)
		r.Header.Set("Action", "readytomine2")
		r.Header.Set("Miner", mainMiner)
		r.Header.Set("NetworkID", "main")
		go func() { <-dir.entered; cancel() }()
		h.ServeHTTP(httptest.NewRecorder(), r)
		got := logs.String()
		switch level {
		case slog.LevelWarn:
			if got != "" {
				t.Fatalf("a wallet hanging up was logged at Warn: %s", got)
			}
		case slog.LevelDebug:
			if !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "the client went away") || strings.Contains(got, "HEALTH_DOWN") {
				t.Fatalf("a wallet hanging up: %q", got)
			}
		}
	}
}
