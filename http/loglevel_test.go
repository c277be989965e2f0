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
