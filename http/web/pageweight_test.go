package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"sort"
	"testing"
	"time"

	"github.com/purepool/purepool/events"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/internal/ledgergen"
	"github.com/purepool/purepool/projections"
)

// BenchmarkPages measures every page of the website over the SQLite read
// model of the generated history: the server time of one request (ns/op,
// the handler called directly, no network) and the page weight, the bytes
// of its HTML and of the CSS and JavaScript it loads (html-B, css-B, js-B,
// total-B per page, uncompressed). It is how the figures of issue 15 were
// measured, before and after, in the same way:
//
//	go test -run '^$' -bench Pages -benchtime 200x ./http/web/
func BenchmarkPages(b *testing.B) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(b.TempDir(), "rm.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	h := history()
	if _, err := db.ApplyBatch(ctx, 0, h.Envelopes); err != nil {
		b.Fatal(err)
	}
	var now time.Time
	for _, env := range h.Envelopes {
		if env.Type == events.TypeSolutionAccepted {
			ev, err := events.Decode(env)
			if err != nil {
				b.Fatal(err)
			}
			now = ev.(events.SolutionAccepted).At.Add(10 * time.Minute)
		}
	}
	wh, err := web.NewHandler(web.Config{
		Networks: map[string]web.Network{"main": {PoolURL: "https://pool.example.org", MinPayoutSat: 10 * 100_000_000, FeeBps: 100}},
		Now:      func() time.Time { return now },
	}, projections.NewReader(db.SQL, db.Dialect))
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range pagePaths(h) {
		b.Run(p.name, func(b *testing.B) {
			html := serveOnce(b, wh, p.path)
			var css, js int
			for _, m := range assetRE.FindAllStringSubmatch(html, -1) {
				body := serveOnce(b, wh, m[2])
				if m[1] == "link" {
					css += len(body)
				} else {
					js += len(body)
				}
			}
			b.ResetTimer()
			for range b.N {
				rec := httptest.NewRecorder()
				wh.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
			}
			b.StopTimer()
			b.ReportMetric(float64(len(html)), "html-B")
			b.ReportMetric(float64(css), "css-B")
			b.ReportMetric(float64(js), "js-B")
			b.ReportMetric(float64(len(html)+css+js), "total-B")
		})
	}
}

// assetRE finds the stylesheets and scripts a page loads from the site.
var assetRE = regexp.MustCompile(`<(link|script)\b[^>]*?(?:href|src)="(/static/[^"]+)"`)

type pagePath struct{ name, path string }

// pagePaths are the site's pages with the fixture's richest miner, its
// latest block and a payout with a transaction.
func pagePaths(hist *ledgergen.History) []pagePath {
	var m, block string
	var best int64 = -1
	for _, mm := range hist.Expected.Miners {
		if mm.CreditedSat > best || (mm.CreditedSat == best && mm.Address < m) {
			best, m = mm.CreditedSat, mm.Address
		}
	}
	var top int64
	for _, bl := range hist.Expected.Blocks {
		if bl.Height > top {
			top, block = bl.Height, bl.Hash
		}
	}
	var payouts []string
	for id, p := range hist.Expected.Payouts {
		if p.TxID != "" {
			payouts = append(payouts, id.String())
		}
	}
	sort.Strings(payouts)
	return []pagePath{
		{"home", "/main/"},
		{"statistics", "/main/statistics"},
		{"blocks", "/main/blocks"},
		{"block", "/main/block/" + block},
		{"payouts", "/main/payouts"},
		{"payout", "/main/payout/" + payouts[0]},
		{"miner", "/main/miner/" + m},
		{"statement", "/main/miner/" + m + "/statement"},
		{"howtojoin", "/main/howtojoin"},
		{"notfound", "/main/nosuchpage"},
	}
}

func serveOnce(tb testing.TB, h http.Handler, path string) string {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
		tb.Fatalf("%s: status %d", path, rec.Code)
	}
	return string(body)
}
