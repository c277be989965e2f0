package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

// chromiumPath finds Debian's Chromium. The browser test is skipped when it
// is missing, unless PUREPOOL_REQUIRE_BROWSER=1 (CI installs it: .ci/run).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	if os.Getenv("PUREPOOL_REQUIRE_BROWSER") != "" {
		t.Fatal("Chromium is not installed (/usr/bin/chromium), and PUREPOOL_REQUIRE_BROWSER is set: apt-get install -y --no-install-recommends chromium chromium-driver")
	}
	t.Skip("browser test skipped: Chromium is not installed (apt-get install -y --no-install-recommends chromium chromium-driver); set PUREPOOL_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// withNetworkBits returns envelopes whose ChainBlockRecorded events carry a
// header nBits ("bits"), so that the pages show network difficulty and
// effort as they will once the chain follower records them.
func withNetworkBits(t *testing.T, envs []events.Envelope) []events.Envelope {
	t.Helper()
	out := make([]events.Envelope, len(envs))
	copy(out, envs)
	for i, env := range out {
		if env.Type != events.TypeChainBlockRecorded {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(env.Data, &m); err != nil {
			t.Fatal(err)
		}
		// Difficulty 2^18 and up (target 0x4000 × 2^224 and down): about
		// what the generated shares of a pool block's heights add up to.
		m["bits"] = fmt.Sprintf("%08x", 0x1f004000-uint32(int64(m["height"].(float64))%5)*0x400)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out[i].Data = b
	}
	return out
}

// TestBrowser opens every page in headless Chromium at 1280 px and at
// 390 px (a phone): the page never scrolls sideways, shows no "NaN",
// "undefined" or template error, and is saved as a screenshot into
// PUREPOOL_SCREENSHOTS (default: a new temporary directory, logged). Then,
// with the home page open, a pool block is found: it appears on the page
// without a reload (the live script and /api/events). A miner searches for
// its address and sees its balance.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test skipped in -short mode")
	}
	path := chromiumPath(t)
	ctx := context.Background()

	// The site over a SQLite read model of the generated week.
	db := openRM(t, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"), "")
	// A week of history whose last pool blocks are still maturing (the
	// miner page's immature balance), with the network difficulty.
	h := ledgergen.Generate(ledgergen.Config{Seed: 3, Miners: 6, ChainBlocks: 170, SharesPerBlock: 6, PayoutEvery: 20,
		Maturity: 20, PoolBlockEvery: 3, Spacing: time.Hour})
	envs := withNetworkBits(t, h.Envelopes)
	cp, err := db.ApplyBatch(ctx, 0, envs)
	if err != nil {
		t.Fatal(err)
	}
	var now time.Time
	for _, env := range envs {
		if env.Type == events.TypeSolutionAccepted {
			ev, _ := events.Decode(env)
			now = ev.(events.SolutionAccepted).At.Add(10 * time.Minute)
		}
	}
	wh, err := web.NewHandler(web.Config{
		Networks: map[string]web.Network{
			"main": {PoolURL: "https://pool.example.org", MinPayoutSat: 10 * 100_000_000, FeeBps: 100, PayoutInterval: time.Hour, Maturity: 20,
				ExplorerTxURL: "https://explorer.example.org/tx/{txid}", ExplorerBlockURL: "https://explorer.example.org/block/{hash}"},
			"test": {PoolURL: "http://testpool.example.org", PoolPort: 8080},
		},
		Now:       func() time.Time { return now },
		EventPoll: 50 * time.Millisecond,
	}, projections.NewReader(db.SQL, db.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(wh)
	defer srv.Close()

	dir := os.Getenv("PUREPOOL_SCREENSHOTS")
	if dir == "" {
		dir, err = os.MkdirTemp("", "purepool-screenshots-")
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	// The first Run starts the browser; it must not carry a timeout.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	// About 25 s on a quiet machine of two cores, most of it the
	// screenshots; the timeouts leave room for a busy one.
	step, cancelStep := context.WithTimeout(bctx, 90*time.Second)
	defer cancelStep()

	m := richestMiner(h)
	pages := append(pagePaths(h), pagePath{"unknown-network", "/nosuch/"})
	for _, width := range []int64{1280, 390} {
		if err := chromedp.Do(step, chromedp.EmulateViewport(width, 900)); err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			if err := chromedp.Do(step, chromedp.Navigate(srv.URL+p.path), chromedp.WaitVisible(`main h1`)); err != nil {
				t.Fatalf("%s at %d px: %v", p.path, width, err)
			}
			scrollW, err1 := chromedp.Run(step, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`))
			innerW, err2 := chromedp.Run(step, chromedp.Evaluate[int64](`window.innerWidth`))
			text, err3 := chromedp.Run(step, chromedp.Evaluate[string](`document.body.innerText`))
			brandAttr, err4 := chromedp.Run(step, chromedp.AttributeValue(`header a.brand`, "href"))
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				t.Fatalf("%s at %d px: %v", p.path, width, err)
			}
			brand := brandAttr.Value
			if scrollW > innerW {
				wide, _ := chromedp.Run(step, chromedp.Evaluate[string](overflowing))
				t.Errorf("%s at %d px: the page scrolls sideways (scrollWidth %d > innerWidth %d); too wide:\n%s", p.path, width, scrollW, innerW, wide)
			}
			for _, bad := range []string{"NaN", "undefined", "<no value>", "ZgotmplZ", "%!", "template:", "internal error"} {
				if strings.Contains(text, bad) {
					t.Errorf("%s at %d px shows %q", p.path, width, bad)
				}
			}
			if brand != "/main/" {
				t.Errorf("%s: the brand links to %q, want /main/", p.path, brand)
			}
			png, err := chromedp.Run(step, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("%s screenshot: %v", p.path, err)
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", p.name, width)), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if t.Failed() {
		return
	}

	// A miner searches for its address and lands on its balance.
	step, cancelLive := context.WithTimeout(bctx, 30*time.Second)
	defer cancelLive()
	if err := chromedp.Do(step,
		chromedp.Navigate(srv.URL+"/main/"),
		chromedp.SendKeys(`input[name="address"]`, m.Address),
		chromedp.Submit(`form.search`),
		chromedp.WaitVisible(`#balance`),
	); err != nil {
		t.Fatalf("search: %v", err)
	}
	balance, err1 := chromedp.Run(step, chromedp.Text(`#balance`))
	loc, err2 := chromedp.Run(step, chromedp.Location())
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("search: %v", err)
	}
	if strings.TrimSpace(balance) != bbpText(m.BalanceSat) || !strings.HasSuffix(loc, "/main/miner/"+m.Address) {
		t.Fatalf("search landed on %s with balance %q, want %s", loc, balance, bbpText(m.BalanceSat))
	}

	// With the home page open, a pool block is found: it appears without
	// a reload (the page's marker survives).
	if err := chromedp.Do(step, chromedp.Navigate(srv.URL+"/main/"), chromedp.WaitVisible(`#live`)); err != nil {
		t.Fatalf("live updates did not start: %v", err)
	}
	if _, err := chromedp.Run(step, chromedp.Evaluate[bool](`window.__noReload = true`)); err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("e", 56) + "b10c0001"
	ne, err := events.New(uuid.New(), events.BlockDiscovered{Network: "main", Height: h.Expected.ChainHeight + 1, Hash: hash,
		FinderMinerID: m.ID, Recipient: "pool", RewardSat: 12_345_678_900, BlockTime: now, RoundRule: events.RoundRuleHeight,
		At: now.Add(time.Minute)}, events.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	env := events.Envelope{ID: ne.ID, Position: cp + 1, Stream: "block-" + hash, Type: ne.Type, SchemaVersion: ne.SchemaVersion,
		Data: ne.Data, RecordedAt: now.Add(time.Minute)}
	if _, err := db.ApplyBatch(ctx, cp, []events.Envelope{env}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(step, chromedp.WaitVisible(`tr[data-key="`+hash+`"]`)); err != nil {
		t.Fatalf("the new block did not appear on the open page: %v", err)
	}
	kept, err := chromedp.Run(step, chromedp.Evaluate[bool](`window.__noReload === true`))
	if err != nil {
		t.Fatal(err)
	}
	if !kept {
		t.Fatal("the page was reloaded to show the new block")
	}
	if err := chromedp.Do(step, chromedp.EmulateViewport(390, 900)); err == nil {
		if png, err := chromedp.Run(step, chromedp.FullScreenshot(100)); err == nil {
			_ = os.WriteFile(filepath.Join(dir, "home-live-block-390.png"), png, 0o644)
		}
	}
}

// overflowing lists the innermost elements that reach past the window's
// right edge (to say what makes a page scroll sideways).
const overflowing = `(() => {
  const w = window.innerWidth, out = [];
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.right > w + 1 && ![...e.children].some(c => c.getBoundingClientRect().right > w + 1)) {
      out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " right=" + Math.round(r.right) + " " + (e.textContent || "").trim().slice(0, 50));
    } else if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === "visible" && e.clientWidth > 0) {
      out.push(e.tagName.toLowerCase() + (e.className ? "." + e.className : "") + " content " + e.scrollWidth + " > " + e.clientWidth + " " + (e.textContent || "").trim().slice(0, 50));
    }
  }
  return out.slice(0, 8).join("\n");
})()`

// richestMiner is the miner with the most credits.
func richestMiner(h *ledgergen.History) *ledgergen.Miner {
	var best *ledgergen.Miner
	for _, m := range h.Expected.Miners {
		if best == nil || m.CreditedSat > best.CreditedSat || (m.CreditedSat == best.CreditedSat && m.Address < best.Address) {
			best = m
		}
	}
	return best
}
