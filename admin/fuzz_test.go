package admin

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// fuzzAPI is an API with just what the body parsers use.
func fuzzAPI(t testing.TB) *API {
	t.Helper()
	c, err := LoadCatalog("")
	if err != nil {
		t.Fatal(err)
	}
	return &API{cfg: Config{LegacyPrefix: "X-ScaiKey"}, catalog: c}
}

var bodySeeds = []string{
	`{"url":"https://r.example/h","events":["user.created","request.*"],"headers":{"X-A":"1"},"max_retries":3}`,
	`{"url":"http://u:p@x","events":[],"max_retries":1e999,"timeout_seconds":-0.5,"secret":"whsec_QUJD"}`,
	`{"events":["*","a..b","user.*"],"tenant_id":null,"partner_id":"","description":"é\u0000"}`,
	`{"headers":{"Content-Type":"x","X-B":"a\r\nb","":"","x-a":"1","X-A":"2"}}`,
	`{"url":"https://r.example/"} {"x":1}`,
	`[1,2,3]`, `null`, ``, `{`, `{"a":1,"a":2}`, `{"status":"disabled","status":"active"}`,
	`{"url":` + strings.Repeat("[", 200) + `}`,
}

// checkParse asserts what every parse outcome must satisfy: a parse error
// is one validationError of body violations, and the 422 it makes stays
// proportional to the input.
func checkParse(t *testing.T, b []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ve *validationError
	if !errors.As(err, &ve) || len(ve.Detail) == 0 {
		t.Fatalf("parse error %v is not a validation error with violations", err)
	}
	for _, d := range ve.Detail {
		if len(d.Loc) == 0 || d.Loc[0] != "body" || d.Msg == "" || d.Type == "" {
			t.Fatalf("bad violation %+v", d)
		}
	}
	out, mErr := json.Marshal(ve)
	if mErr != nil {
		t.Fatalf("422 does not encode: %v", mErr)
	}
	if len(ve.Detail) > maxViolations+1 || len(out) > 6*len(b)+128<<10 {
		t.Fatalf("422 of %d bytes for an input of %d", len(out), len(b))
	}
}

func FuzzCreateBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s))
	}
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > DefaultMaxBodyBytes {
			t.Skip()
		}
		in, err := a.parseCreate(b)
		checkParse(t, b, err)
		if err != nil {
			return
		}
		v := &validationError{}
		checkURL(v, in.url, false, "url")
		if v.has() || len(in.events) == 0 || len(in.events) > maxEvents || len(in.headers) > maxHeaders ||
			in.maxRetries < minMaxRetries || in.maxRetries > maxMaxRetries ||
			in.timeoutSeconds < minTimeout || in.timeoutSeconds > maxTimeout ||
			in.status != "active" && in.status != "inactive" || in.secret != "" && !validSecret(in.secret) {
			t.Fatalf("accepted an invalid webhook: %+v", in)
		}
		for name, value := range in.headers {
			if !validHeaderName(name) || !validHeaderValue(value) {
				t.Fatalf("accepted header %q: %q", name, value)
			}
		}
	})
}

func FuzzPatchBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s))
	}
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > DefaultMaxBodyBytes {
			t.Skip()
		}
		in, err := a.parsePatch(b)
		checkParse(t, b, err)
		if err != nil {
			return
		}
		if in.events != nil && len(in.events) == 0 || in.maxRetries != nil && (*in.maxRetries < 0 || *in.maxRetries > maxMaxRetries) ||
			in.status != nil && *in.status != "active" && *in.status != "inactive" {
			t.Fatalf("accepted an invalid patch: %+v", in)
		}
	})
}

func FuzzOptionalBodies(f *testing.F) {
	for _, s := range append(bodySeeds, `{"grace_period_seconds":0}`, `{"event_type":"user.created","data":{"a":[1]}}`) {
		f.Add([]byte(s))
	}
	a := fuzzAPI(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > DefaultMaxBodyBytes {
			t.Skip()
		}
		g, err := parseGrace(b)
		checkParse(t, b, err)
		if err == nil && (g < 0 || g > maxGracePeriod*time.Second) {
			t.Fatalf("grace %v accepted", g)
		}
		in, err := a.parseTest(b)
		checkParse(t, b, err)
		if err == nil && !a.catalog.Has(in.eventType) {
			t.Fatalf("test event type %q accepted", in.eventType)
		}
	})
}

func FuzzAuthorization(f *testing.F) {
	now := time.Unix(1_776_000_000, 0)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		f.Fatal(err)
	}
	v, err := newVerifier(AuthConfig{HS256Key: testKey, Leeway: 30 * time.Second}, func() time.Time { return now }, slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	// Deterministic (MintToken adds a random jti), so the corpus stays valid.
	good, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"role": "super_admin", "exp": now.Add(time.Hour).Unix()}).SignedString(testKey)
	if err != nil {
		f.Fatal(err)
	}
	rs, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"role": "super_admin", "exp": now.Add(time.Hour).Unix()}).SignedString(rk)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"Bearer " + good, "bearer " + good, "Bearer " + rs, "Basic abc", "Bearer", "Bearer a.b.c",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + strings.Repeat("A", 9000), "  Bearer   " + good + "  "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		raw, err := bearerToken([]string{header})
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != 401 {
				t.Fatalf("bearerToken error %v is not a 401", err)
			}
			return
		}
		if len(raw) > maxTokenBytes {
			t.Fatalf("token of %d bytes passed", len(raw))
		}
		claims, err := v.verify(context.Background(), raw)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.status != 401 || len(raw) > 16 && strings.Contains(he.detail, raw) {
				t.Fatalf("verify error %v", err)
			}
			return
		}
		if raw != good {
			t.Fatalf("a token other than the one signed verified: %q (%+v)", raw, claims)
		}
		if _, err := newPrincipal(claims); err != nil {
			t.Fatalf("minted super admin refused: %v", err)
		}
	})
}

func FuzzScopeClaim(f *testing.F) {
	for _, s := range []string{`"admin:read admin:write"`, `["admin:read"]`, `null`, `5`, `{"a":1}`, `["a b",1]`, `""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s scopeList
		if err := s.UnmarshalJSON(b); err != nil {
			return
		}
		for _, item := range s {
			if item == "" || strings.ContainsAny(item, " \t\n\r") {
				t.Fatalf("scope item %q", item)
			}
		}
	})
}

// TestParseAllocationBounded feeds the body parsers adversarial bodies of
// the largest accepted size and bounds what they allocate. Not parallel:
// it reads the process-wide allocation counter.
func TestParseAllocationBounded(t *testing.T) {
	a := fuzzAPI(t)
	const size = DefaultMaxBodyBytes
	fill := func(prefix, unit, suffix string) []byte {
		n := (size - len(prefix) - len(suffix)) / len(unit)
		return []byte(prefix + strings.Repeat(unit, n) + suffix)
	}
	bodies := map[string][]byte{
		"deep nesting":    fill(`{"url":`, `[`, ``),
		"many bad events": fill(`{"url":"https://r.example/","events":[`, `1,`, `1]}`),
		"many events":     fill(`{"url":"https://r.example/","events":[`, `"user.created",`, `"*"]}`),
		"many headers":    fill(`{"url":"https://r.example/","events":["*"],"headers":{`, `"X-A":"\r\n",`, `"b":"c"}}`),
		"many members":    fill(`{`, `"a":1,`, `"b":2}`),
		"escaped string":  fill(`{"url":"https://r.example/","events":["*"],"description":"`, `\u0000`, `"}`),
		"long event":      fill(`{"url":"https://r.example/","events":["`, `a`, `"]}`),
	}
	var ms runtime.MemStats
	for name, b := range bodies {
		for _, parse := range []func([]byte) error{
			func(b []byte) error { _, err := a.parseCreate(b); return err },
			func(b []byte) error { _, err := a.parsePatch(b); return err },
		} {
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			err := parse(b)
			runtime.ReadMemStats(&ms)
			if got := ms.TotalAlloc - before; got > 8*size {
				t.Errorf("%s: parsing %d bytes allocated %d KiB", name, len(b), got>>10)
			}
			if err == nil {
				continue
			}
			out, _ := json.Marshal(err)
			if len(out) > 6*len(b)+128<<10 {
				t.Errorf("%s: a 422 of %d bytes", name, len(out))
			}
		}
	}
}

// FuzzMembers checks the scanner against encoding/json on valid input.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`[]`, `{}`, `[1, "a\"]", {"x":[1,{"y":"]"}]}, null , true,-1.5e3]`,
		`{"a" : 1 , "b":"}" ,"c\u0022":{"d":[]} ,"e":null}`, ` [ [ ] , { } ] `, `["\\", "\\\""]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		b = bytes.TrimSpace(b)
		switch b[0] {
		case '[':
			var want []json.RawMessage
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			members(b, func(_, v []byte) bool { got = append(got, v); return true })
			if len(got) != len(want) {
				t.Fatalf("%d members, want %d", len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(bytes.TrimSpace(got[i]), bytes.TrimSpace(want[i])) {
					t.Fatalf("member %d = %q, want %q", i, got[i], want[i])
				}
			}
		case '{':
			var want map[string]json.RawMessage
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got := map[string][]byte{}
			members(b, func(k, v []byte) bool {
				var key string
				if err := json.Unmarshal(k, &key); err != nil {
					t.Fatalf("key %q: %v", k, err)
				}
				got[key] = v // the last one wins, as in encoding/json
				return true
			})
			if len(got) != len(want) {
				t.Fatalf("%d keys, want %d", len(got), len(want))
			}
			for k, v := range want {
				if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
					t.Fatalf("member %q = %q, want %q", k, got[k], v)
				}
			}
		}
	})
}
