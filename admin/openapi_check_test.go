package admin

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const docURL = "mem://webhookd/openapi.json"

// docIndex compiles response schemas of the OpenAPI document on demand.
type docIndex struct {
	mu       sync.Mutex
	doc      map[string]any
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema
}

var (
	docsMu sync.Mutex
	docs   = map[bool]*docIndex{}
)

// loadDoc returns the document of an API with or without /metrics.
func loadDoc(metrics bool) (*docIndex, error) {
	docsMu.Lock()
	defer docsMu.Unlock()
	if d, ok := docs[metrics]; ok {
		return d, nil
	}
	cfg := Config{}
	if metrics {
		cfg.Metrics = http.NotFoundHandler()
	}
	b, err := openAPIDocument(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, raw); err != nil {
		return nil, err
	}
	d := &docIndex{doc: raw.(map[string]any), compiler: c, schemas: map[string]*jsonschema.Schema{}}
	docs[metrics] = d
	return d, nil
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (d *docIndex) schema(ptr string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[ptr]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(docURL + "#" + (&url.URL{Fragment: ptr}).EscapedFragment())
	if err != nil {
		return nil, err
	}
	d.schemas[ptr] = s
	return s, nil
}

// template finds the documented path template matching path; literal
// segments win over parameters (/events over /{webhook_id}).
func (d *docIndex) template(path string) (string, bool) {
	paths := d.doc["paths"].(map[string]any)
	best, bestLit := "", -1
	segs := strings.Split(path, "/")
	for tpl := range paths {
		ts := strings.Split(tpl, "/")
		if len(ts) != len(segs) {
			continue
		}
		lit, ok := 0, true
		for i := range ts {
			switch {
			case strings.HasPrefix(ts[i], "{"):
				ok = ok && segs[i] != ""
			case ts[i] == segs[i]:
				lit++
			default:
				ok = false
			}
		}
		if ok && lit > bestLit {
			best, bestLit = tpl, lit
		}
	}
	return best, bestLit >= 0
}

// coverage records the (method, template, status) answers seen.
type coverage struct {
	mu   sync.Mutex
	hits map[string]bool
}

func (c *coverage) add(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hits[k] = true
}

func (c *coverage) has(k string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hits[k]
}

// checkAgainstOpenAPI validates one live answer against the document: the
// status must be documented for the operation and the body must match the
// schema given for it. Paths the document does not describe are skipped.
func checkAgainstOpenAPI(t *testing.T, cov *coverage, metrics bool, method, path string, r *response) {
	t.Helper()
	hit, problem := openAPIProblem(metrics, method, path, r)
	if hit != "" {
		cov.add(hit)
	}
	if problem != "" {
		t.Error(problem)
	}
}

// openAPIProblem returns the operation and status hit ("GET /x 200") and
// what is wrong with the answer ("" when nothing).
func openAPIProblem(metrics bool, method, path string, r *response) (hit, problem string) {
	d, err := loadDoc(metrics)
	if err != nil {
		return "", fmt.Sprintf("openapi document: %v", err)
	}
	tpl, ok := d.template(path)
	if !ok {
		return "", ""
	}
	m := strings.ToLower(method)
	opObj, ok := d.doc["paths"].(map[string]any)[tpl].(map[string]any)[m].(map[string]any)
	if !ok {
		if r.status != http.StatusMethodNotAllowed {
			return "", fmt.Sprintf("%s %s answered %d but the document has no such operation", method, tpl, r.status)
		}
		return "", ""
	}
	code := strconv.Itoa(r.status)
	respObj, ok := opObj["responses"].(map[string]any)[code].(map[string]any)
	if !ok {
		return "", fmt.Sprintf("%s %s answered %d, not documented; body %s", method, tpl, r.status, r.body)
	}
	hit = fmt.Sprintf("%s %s %s", method, tpl, code)
	content, ok := respObj["content"].(map[string]any)
	if !ok {
		if len(r.body) != 0 {
			return hit, fmt.Sprintf("%s: documented without content, got body %q", hit, r.body)
		}
		return hit, ""
	}
	if _, ok := content["application/json"]; !ok {
		return hit, ""
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return hit, fmt.Sprintf("%s: Content-Type %q, want application/json", hit, ct)
	}
	ptr := "/paths/" + pointerEscape(tpl) + "/" + m + "/responses/" + code + "/content/" + pointerEscape("application/json") + "/schema"
	s, err := d.schema(ptr)
	if err != nil {
		return hit, fmt.Sprintf("compile schema %s: %v", ptr, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
	if err != nil {
		return hit, fmt.Sprintf("%s: body is not JSON: %v; %q", hit, err, r.body)
	}
	if err := s.Validate(inst); err != nil {
		return hit, fmt.Sprintf("%s: body does not match the document: %v\nbody: %s", hit, err, r.body)
	}
	return hit, ""
}

// operations lists every (METHOD, template) of the document with its
// success status.
func operations(t *testing.T) map[string]string {
	t.Helper()
	d, err := loadDoc(true)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for tpl, item := range d.doc["paths"].(map[string]any) {
		for m, op := range item.(map[string]any) {
			var codes []string
			for code := range op.(map[string]any)["responses"].(map[string]any) {
				if code[0] == '2' {
					codes = append(codes, code)
				}
			}
			sort.Strings(codes)
			out[strings.ToUpper(m)+" "+tpl] = codes[0]
		}
	}
	return out
}
