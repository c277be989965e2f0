package web

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

//go:embed openapi.json
var openAPIJSON []byte

// OpenAPIDocument is the OpenAPI 3 description of every /api/ endpoint the
// website serves, served at /api/openapi.json and as a page at /api/. A test
// validates it against the real responses on a projected read model, and
// fails when the router serves an /api/ route it does not describe.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIJSON) }

// apiDocRoutes serves the document and its page (one network-independent
// document; {network} is a path parameter in it).
func (h *Handler) apiDocRoutes(r chi.Router) {
	h.pages["api"] = apiPageTemplate
	r.Get("/api/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(openAPIJSON)
	})
	// The page shows the default network's navigation and example links.
	network := h.cfg.DefaultNetwork
	view, viewErr := apiDocView(network, networkNames(h.cfg.Networks))
	r.Get("/api/", func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, network))
		if viewErr != nil { // a test reads the page: never in a release
			h.log.ErrorContext(r.Context(), "web: api docs", "err", viewErr)
			h.fail(w, r, false, http.StatusInternalServerError, "the API documentation is unavailable")
			return
		}
		h.render(w, r, http.StatusOK, "api", view)
	})
	r.Get("/api", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/api/", http.StatusMovedPermanently)
	})
}

var apiPageTemplate = template.Must(template.New("api").Funcs(funcs).ParseFS(templateFS, "templates/base.html", "templates/api.html"))

// The parts of an OpenAPI 3.0 document the page shows. Objects whose order
// matters to a reader (paths, properties, responses, schemas) keep the
// document's order.
type oaDoc struct {
	Info struct {
		Title       string `json:"title"`
		Version     string `json:"version"`
		Description string `json:"description"`
	} `json:"info"`
	Paths      ordered[map[string]*oaOp] `json:"paths"`
	Components struct {
		Schemas    ordered[*oaSchema]     `json:"schemas"`
		Parameters map[string]*oaParam    `json:"parameters"`
		Responses  map[string]*oaResponse `json:"responses"`
	} `json:"components"`
}

type oaOp struct {
	OperationID string               `json:"operationId"`
	Summary     string               `json:"summary"`
	Description string               `json:"description"`
	Parameters  []*oaParam           `json:"parameters"`
	Responses   ordered[*oaResponse] `json:"responses"`
	Events      map[string]string    `json:"x-events"`
}

type oaParam struct {
	Ref         string    `json:"$ref"`
	Name        string    `json:"name"`
	In          string    `json:"in"`
	Description string    `json:"description"`
	Required    bool      `json:"required"`
	Schema      *oaSchema `json:"schema"`
}

type oaResponse struct {
	Ref         string `json:"$ref"`
	Description string `json:"description"`
	Content     map[string]struct {
		Schema *oaSchema `json:"schema"`
	} `json:"content"`
}

type oaSchema struct {
	Ref         string             `json:"$ref"`
	Type        string             `json:"type"`
	Format      string             `json:"format"`
	Description string             `json:"description"`
	Nullable    bool               `json:"nullable"`
	Enum        []any              `json:"enum"`
	Items       *oaSchema          `json:"items"`
	AllOf       []*oaSchema        `json:"allOf"`
	Properties  ordered[*oaSchema] `json:"properties"`
	Required    []string           `json:"required"`
	Minimum     *float64           `json:"minimum"`
	Maximum     *float64           `json:"maximum"`
	Default     any                `json:"default"`
}

// ordered is a JSON object decoded with its keys in order.
type ordered[T any] struct {
	Keys   []string
	Values map[string]T
}

func (o *ordered[T]) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &o.Values); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return err
		}
		o.Keys = append(o.Keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}

// The page's view of the document.
type apiDocPage struct {
	Title, Version string
	Intro          []richText
	DocURL         string
	Network        string
	Networks       []string
	Endpoints      []apiEndpoint
	Schemas        []apiSchema
}

type apiEndpoint struct {
	Method, Path, Anchor string
	PathParts            []string // Path split at its slashes (the page lets it wrap there)
	Summary              string
	Description          []richText
	Try                  string // an example URL on the page's network ("" when it needs an id)
	Params               []apiParam
	Responses            []apiResponse
	Events               []apiEvent
}

type apiParam struct {
	Name, In    string
	Type        string
	Required    bool
	Description string
}

type apiResponse struct {
	Status, Description, ContentType string
	Type                             apiType
}

type apiEvent struct {
	Name string
	Type apiType
}

type apiSchema struct {
	Name        string
	Description []richText
	Fields      []apiField
}

type apiField struct {
	Name        string
	Type        apiType
	Required    bool
	Description []richText
	Notes       string // nullable, one of …, range
}

// apiType is a type as text with at most one linked schema name in it.
type apiType struct {
	Before, Ref, After string
}

// richText is a paragraph whose `quoted` parts are code.
type richText []textPart

type textPart struct {
	Code bool
	Text string
}

func paragraphs(s string) []richText {
	var out []richText
	for _, p := range strings.Split(strings.TrimSpace(s), "\n\n") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		var rt richText
		for i, part := range strings.Split(p, "`") {
			if part != "" {
				rt = append(rt, textPart{Code: i%2 == 1, Text: part})
			}
		}
		out = append(out, rt)
	}
	return out
}

func refName(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func typeOf(s *oaSchema) apiType {
	switch {
	case s == nil:
		return apiType{Before: "any"}
	case s.Ref != "":
		return apiType{Ref: refName(s.Ref)}
	case len(s.AllOf) == 1:
		return typeOf(s.AllOf[0])
	case s.Type == "array":
		t := typeOf(s.Items)
		t.Before = "array of " + t.Before
		return t
	}
	t := s.Type
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return apiType{Before: t}
}

func notesOf(s *oaSchema) string {
	var n []string
	if s.Nullable {
		n = append(n, "may be null")
	}
	if len(s.Enum) > 0 {
		vs := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			if vs[i] = fmt.Sprint(v); vs[i] == "" {
				vs[i] = `""`
			}
		}
		n = append(n, "one of: "+strings.Join(vs, ", "))
	}
	num := func(f *float64) string { return strconv.FormatFloat(*f, 'f', -1, 64) }
	switch {
	case s.Minimum != nil && s.Maximum != nil:
		n = append(n, num(s.Minimum)+" to "+num(s.Maximum))
	case s.Minimum != nil:
		n = append(n, "at least "+num(s.Minimum))
	}
	if s.Default != nil {
		n = append(n, "default "+fmt.Sprint(s.Default))
	}
	return strings.Join(n, "; ")
}

// apiDocView builds the page from the embedded document.
func apiDocView(network string, networks []string) (apiDocPage, error) {
	var doc oaDoc
	if err := json.Unmarshal(openAPIJSON, &doc); err != nil {
		return apiDocPage{}, fmt.Errorf("openapi.json: %w", err)
	}
	p := apiDocPage{Title: doc.Info.Title, Version: doc.Info.Version, Intro: paragraphs(doc.Info.Description),
		DocURL: "/api/openapi.json", Network: network, Networks: networks}
	for _, path := range doc.Paths.Keys {
		ops := doc.Paths.Values[path]
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			op := ops[m]
			e := apiEndpoint{Method: strings.ToUpper(m), Path: path, Anchor: op.OperationID, Summary: op.Summary,
				Description: paragraphs(op.Description), PathParts: strings.Split(path, "/")}
			try := strings.ReplaceAll(path, "{network}", network)
			if !strings.Contains(try, "{") {
				e.Try = try
			}
			for _, prm := range op.Parameters {
				if prm.Ref != "" {
					if prm = doc.Components.Parameters[refName(prm.Ref)]; prm == nil {
						return apiDocPage{}, fmt.Errorf("openapi.json: %s: unknown parameter", path)
					}
				}
				t := typeOf(prm.Schema).Before
				if n := notesOf(prm.Schema); n != "" {
					t += "; " + n
				}
				e.Params = append(e.Params, apiParam{Name: prm.Name, In: prm.In, Type: t, Required: prm.Required, Description: prm.Description})
			}
			for _, status := range op.Responses.Keys {
				resp := op.Responses.Values[status]
				if resp.Ref != "" {
					if resp = doc.Components.Responses[refName(resp.Ref)]; resp == nil {
						return apiDocPage{}, fmt.Errorf("openapi.json: %s: unknown response", path)
					}
				}
				ar := apiResponse{Status: status, Description: resp.Description}
				for ct, c := range resp.Content {
					ar.ContentType, ar.Type = ct, typeOf(c.Schema)
				}
				e.Responses = append(e.Responses, ar)
			}
			names := make([]string, 0, len(op.Events))
			for n := range op.Events {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				e.Events = append(e.Events, apiEvent{Name: n, Type: apiType{Ref: op.Events[n]}})
			}
			p.Endpoints = append(p.Endpoints, e)
		}
	}
	for _, name := range doc.Components.Schemas.Keys {
		s := doc.Components.Schemas.Values[name]
		as := apiSchema{Name: name, Description: paragraphs(s.Description)}
		required := map[string]bool{}
		for _, r := range s.Required {
			required[r] = true
		}
		for _, f := range s.Properties.Keys {
			fs := s.Properties.Values[f]
			as.Fields = append(as.Fields, apiField{Name: f, Type: typeOf(fs), Required: required[f], Description: paragraphs(fs.Description), Notes: notesOf(fs)})
		}
		p.Schemas = append(p.Schemas, as)
	}
	return p, nil
}
