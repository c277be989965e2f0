package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/purepool/purepool/projections"
)

// TestBrowser drives the pages in headless Chromium: a miner searches for
// its address, sees its balance, and the statistics chart draws seven bars.
// It is skipped when no Chromium is installed. Set PUREPOOL_SCREENSHOTS to a
// directory to keep screenshots of the pages.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	path := ""
	for _, p := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if found, err := exec.LookPath(p); err == nil {
			path = found
			break
		}
	}
	if path == "" {
		if os.Getenv("PUREPOOL_REQUIRE_SERVICES") == "1" {
			t.Fatal("no chromium installed, but PUREPOOL_REQUIRE_SERVICES=1 (.ci/run installs it)")
		}
		t.Skip("no chromium installed (apt-get install -y chromium)")
	}
	f := newFixture(t)
	m := f.richMiner()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/main/")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step, cancelStep := context.WithTimeout(ctx, 30*time.Second)
	defer cancelStep()
	shot := func(name string) {
		dir := os.Getenv("PUREPOOL_SCREENSHOTS")
		if dir == "" {
			return
		}
		if b, err := chromedp.Run(step, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, name+".png"), b, 0o644)
		}
	}
	shot("home")
	if err := chromedp.Do(step,
		chromedp.SendKeys(`input[name="address"]`, m.Address),
		chromedp.Submit(`form.search`),
		chromedp.WaitVisible(`#balance`),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	balance, err := chromedp.Run(step, chromedp.Text(`#balance`))
	if err != nil || strings.TrimSpace(balance) != projections.FormatBBP(m.BalanceSat) {
		t.Fatalf("balance %q (%v), want %s", balance, err, projections.FormatBBP(m.BalanceSat))
	}
	loc, _ := chromedp.Run(step, chromedp.Location())
	if !strings.HasSuffix(loc, "/main/miner/"+m.Address) {
		t.Fatalf("search landed on %s", loc)
	}
	shot("miner")
	if err := chromedp.Do(step, chromedp.Navigate(f.srv.URL+"/main/statistics"), chromedp.WaitVisible(`svg.chart`)); err != nil {
		t.Fatalf("statistics: %v", err)
	}
	bars, err := chromedp.Run(step, chromedp.Nodes(`svg.chart rect`))
	if err != nil || len(bars) != 7 {
		t.Fatalf("chart has %d bars (%v), want 7", len(bars), err)
	}
	// The stylesheet loaded from the embedded assets (no CDN): bars are filled.
	fill, err := chromedp.Run(step, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("svg.chart rect")).fill`))
	if err != nil || fill != "rgb(143, 176, 234)" {
		t.Fatalf("bar fill %q (%v): the stylesheet did not apply", fill, err)
	}
	shot("statistics")
	for _, p := range []string{"/main/blocks", "/main/payouts", "/main/howtojoin", "/main/miner/" + m.Address + "/statement"} {
		if err := chromedp.Do(step, chromedp.Navigate(f.srv.URL+p), chromedp.WaitVisible(`main h1`)); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		shot(strings.ReplaceAll(strings.Trim(p, "/"), "/", "_")[:min(30, len(p)-1)])
	}
}
