package web_test

import (
	"context"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/purepool/purepool/config"
	"github.com/purepool/purepool/http/web"
	"github.com/purepool/purepool/projections"
)

// The configured pool name is what every page shows.
func TestPoolNameOnPages(t *testing.T) {
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := web.NewHandler(web.Config{PoolName: "Gideon Pool", Networks: map[string]web.Network{"main": {PoolURL: "https://pool.example.org"}}},
		projections.NewReader(db.SQL, db.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, page := range []string{"/main/", "/main/statistics", "/main/howtojoin"} {
		resp, err := srv.Client().Get(srv.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "Gideon Pool") || strings.Contains(string(body), ">Purepool<") {
			t.Errorf("%s: status %d, pool name shown: %v", page, resp.StatusCode, strings.Contains(string(body), "Gideon Pool"))
		}
	}
}

// The brand says "demo" only in the demo: the configuration's default name
// and the website's own default do not.
func TestBrandSaysDemoOnlyInTheDemo(t *testing.T) {
	if name := config.Defaults().PoolName; strings.Contains(strings.ToLower(name), "demo") {
		t.Errorf("the default pool name %q says demo", name)
	}
	ctx := context.Background()
	db, err := projections.OpenURL(ctx, "sqlite:"+filepath.Join(t.TempDir(), "rm.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	h, err := web.NewHandler(web.Config{Networks: map[string]web.Network{"main": {PoolURL: "https://pool.example.org"}}}, projections.NewReader(db.SQL, db.Dialect))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, page := range []string{"/main/", "/main/nosuchpage", "/nosuch/"} {
		resp, err := srv.Client().Get(srv.URL + page)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(strings.ToLower(string(body)), "demo") || !strings.Contains(string(body), `<a class="brand" href="/main/">Purepool</a>`) {
			t.Errorf("%s: the brand is not plain Purepool linking to /main/: %.600s", page, body)
		}
	}
}
