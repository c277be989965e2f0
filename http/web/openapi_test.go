package web_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/purepool/purepool/http/web"
)

// loadOpenAPI loads and validates the embedded document.
func loadOpenAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(web.OpenAPIDocument())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// apiChecker calls the site and validates every request and response
// against the document: the route, the parameters, the status code (it
// must be documented), the content type and the body against its schema,
// whose objects admit no undocumented field.
type apiChecker struct {
	t      *testing.T
	f      *fixture
	doc    *openapi3.T
	router routers.Router
	// covered: "GET /path" of the operations answered 200.
	covered map[string]bool
}

func newAPIChecker(t *testing.T, f *fixture) *apiChecker {
	doc, router := loadOpenAPI(t)
	return &apiChecker{t: t, f: f, doc: doc, router: router, covered: map[string]bool{}}
}

// check GETs path, wants status, and validates the exchange. It returns
// the body.
func (c *apiChecker) check(path string, status int) []byte {
	t := c.t
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		t.Fatalf("GET %s: status %d, want %d: %.300s", path, resp.StatusCode, status, body)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatalf("GET %s: not described by openapi.json: %v", path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true}}
	if status < 400 { // the others are out of the documented ranges on purpose
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("GET %s: the request does not match openapi.json: %v", path, err)
		}
	}
	opts := &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") || ct == "text/event-stream" {
		opts.ExcludeResponseBody = true // checked by the caller
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: opts}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("GET %s: the response (%d) does not match openapi.json: %v\n%.1000s", path, resp.StatusCode, err, body)
	}
	if status < 400 {
		c.covered["GET "+route.Path] = true
	}
	return body
}

// schema is a component schema of the document.
func (c *apiChecker) schema(name string) *openapi3.Schema {
	ref := c.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		c.t.Fatalf("openapi.json has no schema %s", name)
	}
	return ref.Value
}

func (c *apiChecker) validateJSON(what string, s *openapi3.Schema, data []byte) {
	c.t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	if err := s.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		c.t.Errorf("%s does not match its schema: %v\n%.1000s", what, err, data)
	}
}

// events reads the event stream from since until it has seen at least
// wantBlocks blocks and wantPayouts payouts, validating each event's data
// against the schema the operation's x-events names for its kind.
func (c *apiChecker) events(since time.Time, wantBlocks, wantPayouts int) {
	t := c.t
	t.Helper()
	op := c.doc.Paths.Find("/{network}/api/events").Get
	kinds := map[string]string{}
	raw, ok := op.Extensions["x-events"].(map[string]any)
	if !ok {
		t.Fatalf("events: x-events is %T", op.Extensions["x-events"])
	}
	for k, v := range raw {
		kinds[k] = v.(string)
	}
	path := "/main/api/events?since=" + url.QueryEscape(since.Format(time.RFC3339))
	// The exchange itself (status, content type) through the validator,
	// on a stream cut short; then the events.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.f.srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		t.Fatal(err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{ExcludeResponseBody: true, IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("events: %v", err)
	}
	seen := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var kind string
	for sc.Scan() && (seen["block"] < wantBlocks || seen["payout"] < wantPayouts) {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "event: "); ok {
			kind = k
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			name, ok := kinds[kind]
			if !ok {
				t.Fatalf("events: event %q is not in x-events", kind)
			}
			c.validateJSON("event "+kind, c.schema(name), []byte(d))
			seen[kind]++
		}
	}
	if seen["block"] < wantBlocks || seen["payout"] < wantPayouts {
		t.Fatalf("events: saw %v, want %d blocks and %d payouts", seen, wantBlocks, wantPayouts)
	}
	c.covered["GET "+route.Path] = true
}

// Every endpoint of openapi.json, called on a real read model projected
// from a generated history (every block status, empty rounds, corrected
// payouts, dead transactions), answers what the document says: statuses,
// content types and bodies, every object without an undocumented field.
func TestOpenAPI_RealResponses(t *testing.T) {
	for i, rm := range readModels {
		t.Run(rm.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureOn(t, i)
			c := newAPIChecker(t, f)
			testOpenAPIHistory(t, f, c)
			c.checkCovered()
		})
	}
}

func testOpenAPIHistory(t *testing.T, f *fixture, c *apiChecker) {
	c.check("/api/openapi.json", 200)
	c.check("/api", 301)
	page := string(c.check("/api/", 200))
	for _, item := range c.doc.Paths.Map() {
		for _, op := range item.Operations() {
			if !strings.Contains(page, `id="`+op.OperationID+`"`) {
				t.Errorf("the API page lacks %s", op.OperationID)
			}
		}
	}
	for name := range c.doc.Components.Schemas {
		if !strings.Contains(page, `id="schema-`+name+`"`) {
			t.Errorf("the API page lacks the schema %s", name)
		}
	}
	if !strings.Contains(page, `href="/api/openapi.json"`) || !strings.Contains(page, `href="/main/api/pool"`) {
		t.Error("the API page lacks the document's link or the examples")
	}
	c.check("/main/api/pool", 200)
	c.check("/test/api/pool", 200) // a network without any event
	c.check("/main/api/statistics", 200)
	c.check("/test/api/statistics", 200)
	c.check("/main/api/block_subsidysum/7", 200)
	c.check("/test/api/block_subsidysum/0", 200)
	c.check("/main/api/blocks", 200)
	c.check("/main/api/blocks?page=2&limit=5", 200)
	c.check("/test/api/blocks", 200)
	var blocks web.Page[web.APIBlock]
	if err := json.Unmarshal(c.check("/main/api/blocks?limit=500", 200), &blocks); err != nil {
		t.Fatal(err)
	}
	if len(blocks.Items) != len(f.h.Expected.Blocks) {
		t.Fatalf("%d blocks, want %d", len(blocks.Items), len(f.h.Expected.Blocks))
	}
	statuses := map[string]int{}
	for _, b := range blocks.Items {
		c.check("/main/api/blocks/"+b.Hash, 200)
		statuses[b.Status]++
	}
	if statuses["matured"] == 0 || statuses["orphaned"] == 0 {
		t.Errorf("the history lacks a block status: %v", statuses) // pending ones: TestOpenAPI_RoundsByHeight
	}
	var payouts web.Page[web.APIPayout]
	if err := json.Unmarshal(c.check("/main/api/payouts?limit=500", 200), &payouts); err != nil {
		t.Fatal(err)
	}
	if len(payouts.Items) != len(f.h.Expected.Payouts) {
		t.Fatalf("%d payouts, want %d", len(payouts.Items), len(f.h.Expected.Payouts))
	}
	for _, p := range payouts.Items {
		c.check("/main/api/payouts/"+p.PayoutID, 200)
	}
	c.check("/main/api/payouts?page=3&limit=2", 200)
	for _, m := range f.h.Expected.Miners {
		if m.Address == "" {
			continue
		}
		c.check("/main/api/miner/"+m.Address, 200)
		c.check("/main/api/miner/"+m.Address+"/statement", 200)
	}
	rich := f.richMiner()
	c.check("/main/api/miner/"+rich.Address+"/statement?page=2&limit=3", 200)

	// The errors the document promises.
	c.check("/main/api/blocks?page=0", 400)
	c.check("/main/api/payouts?limit=501", 400)
	c.check("/main/api/miner/"+rich.Address+"/statement?limit=1001", 400)
	c.check("/main/api/blocks/"+strings.Repeat("0", 64), 404)
	c.check("/main/api/payouts/"+uuid.NewString(), 404)
	c.check("/main/api/payouts/not-a-uuid", 404)
	c.check("/main/api/miner/notanaddress", 404)
	c.check("/main/api/miner/B91RjV9UoZa5qLNbWZFXJ42sFWbJCyxUTH", 404) // valid, never mined here
	c.check("/main/api/block_subsidysum/3651", 404)
	c.check("/regtest/api/pool", 404) // a network this pool does not serve
	c.check("/main/api/events?since=yesterday", 400)

	c.events(f.h.Config.Start, len(f.h.Expected.Blocks), len(f.h.Expected.Payouts))
}

// checkCovered fails for a documented operation no call answered 200.
func (c *apiChecker) checkCovered() {
	c.t.Helper()
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			if !c.covered[method+" "+path] {
				c.t.Errorf("%s %s is documented but was not called", method, path)
			}
		}
	}
}

// The signed payouts (their transactions, dead ones, corrected payouts,
// anchors and the latest public anchor) match the document too.
func TestOpenAPI_SignedPayouts(t *testing.T) {
	f, s := newSignedFixture(t, 0)
	c := newAPIChecker(t, f)
	body := c.check("/main/api/pool", 200)
	if !strings.Contains(string(body), `"latest_anchor": {`) {
		t.Errorf("pool without its latest anchor: %s", body)
	}
	for _, id := range []uuid.UUID{s.a, s.b, s.c} {
		c.check("/main/api/payouts/"+id.String(), 200)
	}
	c.check("/main/api/payouts", 200)
	c.check("/main/api/miner/"+s.alice+"/statement", 200)
	c.check("/main/api/miner/"+s.bob, 200)
	c.events(s.now.Add(-2*time.Hour), 0, 3)
}

// Rounds by height (a pending block with its round open, empty rounds to
// the finder and carried, late shares, a block of the earlier rule) match
// the document too.
func TestOpenAPI_RoundsByHeight(t *testing.T) {
	f, h := newRoundsFixture(t, 0)
	c := newAPIChecker(t, f)
	c.check("/main/api/pool", 200)
	c.check("/main/api/statistics", 200)
	var blocks web.Page[web.APIBlock]
	if err := json.Unmarshal(c.check("/main/api/blocks", 200), &blocks); err != nil {
		t.Fatal(err)
	}
	open := false
	for _, b := range blocks.Items {
		c.check("/main/api/blocks/"+b.Hash, 200)
		open = open || (b.Status == "pending" && b.RoundOpen)
	}
	if !open {
		t.Error("no pending block with its round open")
	}
	for _, a := range []string{h.alice, h.bob} {
		c.check("/main/api/miner/"+a, 200)
		c.check("/main/api/miner/"+a+"/statement", 200)
	}
	c.events(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), len(blocks.Items), 0)
}

// The router serves no /api/ route that the document does not describe,
// and the document describes no route the router does not serve.
func TestOpenAPI_DescribesEveryAPIRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	f := newFixture(t)
	served := map[string]bool{}
	err := chi.Walk(web.RouterOf(f.web), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.ReplaceAll(route, "/*/", "/")
		if strings.Contains(route+"/", "/api/") {
			served[method+" "+route] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing, stale []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			stale = append(stale, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	if len(missing) > 0 {
		t.Errorf("served but not in http/web/openapi.json: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("in http/web/openapi.json but not served: %v", stale)
	}
	if len(served) < 12 {
		t.Errorf("only %d /api/ routes found: %v", len(served), served)
	}
}
