package admin

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestCreateValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	ok := `"url":"https://r.example/h","events":["user.created"]`
	cases := []struct {
		name string
		body string
		want []string // "loc:type", exactly, in order
	}{
		{"missing url", `{"events":["user.created"]}`, []string{"body.url:missing"}},
		{"missing both", `{}`, []string{"body.url:missing", "body.events:missing"}},
		{"url not a string", `{"url":5,"events":["user.created"]}`, []string{"body.url:string_type"}},
		{"url ftp", `{"url":"ftp://r.example/","events":["user.created"]}`, []string{"body.url:url_scheme"}},
		{"url http refused", `{"url":"http://r.example/","events":["user.created"]}`, []string{"body.url:url_scheme"}},
		{"url userinfo", `{"url":"https://u:p@r.example/","events":["user.created"]}`, []string{"body.url:value_error"}},
		{"url no host", `{"url":"https:///x","events":["user.created"]}`, []string{"body.url:url_parsing"}},
		{"url opaque", `{"url":"https:r.example","events":["user.created"]}`, []string{"body.url:url_parsing"}},
		{"url space", `{"url":"https://r.example/a b","events":["user.created"]}`, []string{"body.url:url_parsing"}},
		{"url too long", `{"url":"https://r.example/` + strings.Repeat("a", 2048) + `","events":["user.created"]}`, []string{"body.url:url_too_long"}},
		{"events empty", `{"url":"https://r.example/","events":[]}`, []string{"body.events:too_short"}},
		{"events not a list", `{"url":"https://r.example/","events":"user.created"}`, []string{"body.events:list_type"}},
		{"events item type", `{"url":"https://r.example/","events":["user.created",7]}`, []string{"body.events.1:string_type"}},
		{"unknown exact type", `{"url":"https://r.example/","events":["user.created","user.exploded"]}`, []string{"body.events.1:value_error"}},
		{"bad patterns", `{"url":"https://r.example/","events":["User.Created","user*","a..b","*.x",""]}`,
			[]string{"body.events.0:value_error", "body.events.1:value_error", "body.events.2:value_error", "body.events.3:value_error", "body.events.4:value_error"}},
		{"too many events", `{"url":"https://r.example/","events":[` + strings.Repeat(`"user.*",`, 100) + `"*"]}`, []string{"body.events:too_long"}},
		{"max_retries high", `{` + ok + `,"max_retries":21}`, []string{"body.max_retries:less_than_equal"}},
		{"max_retries low", `{` + ok + `,"max_retries":-1}`, []string{"body.max_retries:greater_than_equal"}},
		{"max_retries string", `{` + ok + `,"max_retries":"5"}`, []string{"body.max_retries:int_type"}},
		{"max_retries fraction", `{` + ok + `,"max_retries":2.5}`, []string{"body.max_retries:int_from_float"}},
		{"max_retries huge", `{` + ok + `,"max_retries":1e300}`, []string{"body.max_retries:int_parsing_size"}},
		{"timeout zero", `{` + ok + `,"timeout_seconds":0}`, []string{"body.timeout_seconds:greater_than_equal"}},
		{"timeout high", `{` + ok + `,"timeout_seconds":31}`, []string{"body.timeout_seconds:less_than_equal"}},
		{"status", `{` + ok + `,"status":"disabled"}`, []string{"body.status:enum"}},
		{"secret no prefix", `{` + ok + `,"secret":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`, []string{"body.secret:value_error"}},
		{"secret short", `{` + ok + `,"secret":"whsec_c2hvcnQ="}`, []string{"body.secret:value_error"}},
		{"secret not base64", `{` + ok + `,"secret":"whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"}`, []string{"body.secret:value_error"}},
		{"secret too long", `{` + ok + `,"secret":"whsec_` + strings.Repeat("QUJD", 22) + `"}`, []string{"body.secret:value_error"}},
		{"reserved headers", `{` + ok + `,"headers":{"Content-Type":"x","webhook-signature":"x","X-ScaiKey-Signature":"x","host":"x","X-Ok":"x"}}`,
			[]string{"body.headers.Content-Type:value_error", "body.headers.X-ScaiKey-Signature:value_error", "body.headers.host:value_error", "body.headers.webhook-signature:value_error"}},
		{"header value CRLF", `{` + ok + `,"headers":{"X-A":"a\r\nX-Evil: 1","X-B":"nul\u0000"}}`, []string{"body.headers.X-A:value_error", "body.headers.X-B:value_error"}},
		{"header name", `{` + ok + `,"headers":{"Bad Name":"x","":"y"}}`, []string{"body.headers.:value_error", "body.headers.Bad Name:value_error"}},
		{"header twice", `{` + ok + `,"headers":{"X-A":"1","x-a":"2"}}`, []string{"body.headers.x-a:value_error"}},
		{"too many headers", `{` + ok + `,"headers":{` + manyHeaders(51) + `}}`, []string{"body.headers:too_long"}},
		{"header value type", `{` + ok + `,"headers":{"X-A":1}}`, []string{"body.headers.X-A:string_type"}},
		{"headers type", `{` + ok + `,"headers":["X-A"]}`, []string{"body.headers:dict_type"}},
		{"unknown field", `{` + ok + `,"colour":"red","id":"wh_x"}`, []string{"body.colour:extra_forbidden", "body.id:extra_forbidden"}},
		{"description long", `{` + ok + `,"description":"` + strings.Repeat("é", 1025) + `"}`, []string{"body.description:string_too_long"}},
		{"tenant id with space", `{` + ok + `,"tenant_id":"a b"}`, []string{"body.tenant_id:value_error"}},
		{"duplicate member", `{` + ok + `,"url":"https://other.example/"}`, []string{"body.url:value_error"}},
		{"json invalid", `{"url":`, []string{"body.8:json_invalid"}},
		{"trailing data", `{` + ok + `} {}`, []string{"body.50:json_invalid"}},
		{"not an object", `["https://r.example/"]`, []string{"body:model_attributes_type"}},
		{"null body", `null`, []string{"body:model_attributes_type"}},
		{"empty body", ``, []string{"body:missing"}},
		{"everything at once", `{"url":"http://u@x","events":[],"max_retries":99,"timeout_seconds":0,"secret":"nope","extra":1}`,
			[]string{"body.extra:extra_forbidden", "body.url:url_scheme", "body.events:too_short", "body.max_retries:less_than_equal",
				"body.timeout_seconds:greater_than_equal", "body.secret:value_error"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := f.as(superAdmin, "POST", base, c.body)
			got := validationTypes(t, r)
			if c.name == "json invalid" || c.name == "trailing data" {
				// The offset is informative; only its presence is fixed.
				for i := range got {
					if strings.HasSuffix(got[i], ":json_invalid") && strings.HasPrefix(got[i], "body.") {
						got[i] = c.want[i]
					}
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("violations = %v, want %v", got, c.want)
			}
		})
	}
	if r := listIDs(t, f, superAdmin, ""); len(r) != 0 {
		t.Errorf("invalid creates stored webhooks: %v", r)
	}
}

func manyHeaders(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"X-H%d":"v"`, i)
	}
	return strings.Join(parts, ",")
}

func TestFiftyHeadersAccepted(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.as(superAdmin, "POST", base, `{"url":"https://r.example/","events":["*"],"headers":{`+manyHeaders(50)+`}}`)
	expectStatus(t, r, http.StatusCreated)
	if w := f.storedWebhook(r.object(t)["id"].(string)); len(w.Headers) != 50 {
		t.Errorf("stored %d headers", len(w.Headers))
	}
}

func TestViolationsAreCapped(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.as(superAdmin, "POST", base, `{"url":"https://r.example/","events":[`+strings.Repeat("1,", 5000)+`1]}`)
	got := validationTypes(t, r)
	if len(got) != maxViolations+1 || got[0] != "body.events.0:string_type" || got[maxViolations] != "body:too_many_errors" {
		t.Errorf("%d violations, first %q, last %q", len(got), got[0], got[len(got)-1])
	}
}

func TestCreateAllowHTTP(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) { c.AllowHTTP = true })
	expectStatus(t, f.as(superAdmin, "POST", base, `{"url":"http://r.example/","events":["*"]}`), http.StatusCreated)
	r := f.as(superAdmin, "POST", base, `{"url":"ftp://r.example/","events":["*"]}`)
	if got := validationTypes(t, r); !slices.Equal(got, []string{"body.url:url_scheme"}) {
		t.Errorf("violations = %v", got)
	}
}

func TestCustomLegacyPrefixReserved(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) { c.LegacyPrefix = "X-Acme" })
	r := f.as(superAdmin, "POST", base, `{"url":"https://r.example/","events":["*"],"headers":{"x-acme-signature":"1"}}`)
	if got := validationTypes(t, r); !slices.Equal(got, []string{"body.headers.x-acme-signature:value_error"}) {
		t.Errorf("violations = %v", got)
	}
}

func TestPatchValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	cases := []struct {
		name, body string
		want       []string
	}{
		{"ownership and secret", `{"tenant_id":"t","partner_id":"p","secret":"whsec_x"}`,
			[]string{"body.tenant_id:extra_forbidden", "body.partner_id:extra_forbidden", "body.secret:extra_forbidden"}},
		{"null url", `{"url":null}`, []string{"body.url:string_type"}},
		{"null events", `{"events":null}`, []string{"body.events:list_type"}},
		{"empty events", `{"events":[]}`, []string{"body.events:too_short"}},
		{"null max_retries", `{"max_retries":null}`, []string{"body.max_retries:int_type"}},
		{"status disabled", `{"status":"disabled"}`, []string{"body.status:enum"}},
		{"several", `{"url":"https://a@b/","timeout_seconds":40,"status":"on","id":"x"}`,
			[]string{"body.id:extra_forbidden", "body.url:value_error", "body.status:enum", "body.timeout_seconds:less_than_equal"}},
		{"empty body", ``, []string{"body:missing"}},
	}
	for _, c := range cases {
		r := f.as(superAdmin, "PATCH", base+"/"+w.ID, c.body)
		if got := validationTypes(t, r); !slices.Equal(got, c.want) {
			t.Errorf("%s: violations = %v, want %v", c.name, got, c.want)
		}
	}
	if got := f.storedWebhook(w.ID); !got.UpdatedAt.Equal(w.UpdatedAt) || got.URL != w.URL {
		t.Errorf("invalid patches changed the webhook: %+v", got)
	}
}

func TestQueryAndPathValidation(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	cases := []struct {
		path string
		want []string
	}{
		{base + "?per_page=0", []string{"query.per_page:greater_than_equal"}},
		{base + "?per_page=101", []string{"query.per_page:less_than_equal"}},
		{base + "?per_page=abc", []string{"query.per_page:int_parsing"}},
		{base + "?page=0&per_page=x", []string{"query.page:greater_than_equal", "query.per_page:int_parsing"}},
		{base + "?page=", []string{"query.page:int_parsing"}},
		{base + "/" + w.ID + "/deliveries?status=done&page=-1", []string{"query.page:greater_than_equal", "query.status:enum"}},
		{base + "/" + w.ID + "/deliveries/abc", []string{"path.delivery_id:int_parsing"}},
		{base + "/" + w.ID + "/deliveries/1.5", []string{"path.delivery_id:int_parsing"}},
	}
	for _, c := range cases {
		r := f.as(superAdmin, "GET", c.path, nil)
		if got := validationTypes(t, r); !slices.Equal(got, c.want) {
			t.Errorf("%s: violations = %v, want %v", c.path, got, c.want)
		}
	}
	r := f.as(superAdmin, "POST", base+"/"+w.ID+"/deliveries/abc/retry", nil)
	if got := validationTypes(t, r); !slices.Equal(got, []string{"path.delivery_id:int_parsing"}) {
		t.Errorf("retry abc: %v", got)
	}
}

func TestBodyTooLarge(t *testing.T) {
	t.Parallel()
	f := setup(t, func(c *Config) { c.MaxBodyBytes = 256 })
	big := fmt.Sprintf(`{"url":"https://r.example/","events":["*"],"description":%q}`, strings.Repeat("x", 300))
	r := f.as(superAdmin, "POST", base, big)
	expectStatus(t, r, http.StatusRequestEntityTooLarge)
	if d := r.detail(t); d != "Request body too large" {
		t.Errorf("detail = %q", d)
	}
	expectStatus(t, f.as(superAdmin, "POST", base, `{"url":"https://r.example/","events":["*"]}`), http.StatusCreated)
}

func TestParseJSONInt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		n    int64
		typ  string
		desc string
	}{
		{"5", 5, "", ""}, {"-3", -3, "", ""}, {"5.0", 5, "", ""}, {"1e2", 100, "", ""},
		{"5.5", 0, typeIntFromFloat, ""}, {`"5"`, 0, typeIntType, ""}, {"true", 0, typeIntType, ""},
		{"null", 0, typeIntType, ""}, {"[1]", 0, typeIntType, ""}, {"9007199254740993", 0, typeIntParsingSize, ""},
		{"1e400", 0, typeIntParsingSize, ""}, {"-1e20", 0, typeIntParsingSize, ""},
	}
	for _, c := range cases {
		n, typ, _ := parseJSONInt([]byte(c.in))
		if n != c.n || typ != c.typ {
			t.Errorf("parseJSONInt(%s) = %d, %q; want %d, %q", c.in, n, typ, c.n, c.typ)
		}
	}
}

func TestValidHeaderNameAndValue(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"X-Team", "x_a", "A1!#$%&'*+-.^_`|~"} {
		if !validHeaderName(s) {
			t.Errorf("validHeaderName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "a b", "a:b", "é", "a\nb", strings.Repeat("a", 257)} {
		if validHeaderName(s) {
			t.Errorf("validHeaderName(%q) = true", s)
		}
	}
	for _, s := range []string{"", "a b", "tab\there", "ünï"} {
		if !validHeaderValue(s) {
			t.Errorf("validHeaderValue(%q) = false", s)
		}
	}
	for _, s := range []string{"a\rb", "a\nb", "a\x00", "\x7f", "\x01"} {
		if validHeaderValue(s) {
			t.Errorf("validHeaderValue(%q) = true", s)
		}
	}
}

// Validation errors are answered before the object is looked up, and
// never touch the store.
func TestValidationBeforeLookup(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.as(superAdmin, "PATCH", base+"/wh_01JSDQ7ZQ8M6Y3V5X2W9T4R1PA", `{"max_retries":99}`)
	if got := validationTypes(t, r); !slices.Equal(got, []string{"body.max_retries:less_than_equal"}) {
		t.Errorf("violations = %v", got)
	}
}
