package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseEnvelopeValid(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event_id":"evt_a3f9k2bWqL8Hn5pZ","event_type":"user.created",
	 "timestamp":"2026-04-22T14:30:00.000Z","source":"scaikey",
	 "tenant_id":"tnt_acme","partner_id":"prt_internal",
	 "data":{ "nested": {"event_id": "inner", "s": "}\"{"}, "list": [1, [2], {"a": null}]}, "extra": [true]}`)
	env, err := ParseEnvelope(body, "user.created", 0)
	if err != nil {
		t.Fatalf("ParseEnvelope: %v", err)
	}
	want := Envelope{
		EventID: "evt_a3f9k2bWqL8Hn5pZ", EventType: "user.created",
		Timestamp: time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC),
		Source:    "scaikey", TenantID: "tnt_acme", PartnerID: "prt_internal",
	}
	if env.EventID != want.EventID || env.EventType != want.EventType || !env.Timestamp.Equal(want.Timestamp) ||
		env.Source != want.Source || env.TenantID != want.TenantID || env.PartnerID != want.PartnerID {
		t.Errorf("got %+v", env)
	}
	if &env.Raw[0] != &body[0] || len(env.Raw) != len(body) {
		t.Error("Raw is not the body")
	}
	if got := string(env.Data); !strings.HasPrefix(got, `{ "nested"`) || !strings.HasSuffix(got, `{"a": null}]}`) {
		t.Errorf("Data = %s", got)
	}
}

func TestParseEnvelopeVariants(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body       string
		data, tenant, ts string
	}{
		{"payload key", `{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z","payload":[1,2]}`, `[1,2]`, "", "2026-01-02T03:04:05Z"},
		{"data wins over payload", `{"payload":1,"data":2,"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, `2`, "", "2026-01-02T03:04:05Z"},
		{"no body key", `{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05+02:00"}`, ``, "", "2026-01-02T01:04:05Z"},
		{"nulls are absent", `{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z","tenant_id":null,"data":null}`, ``, "", "2026-01-02T03:04:05Z"},
		{"escaped values", `{"event_id":"e\u0031","event_type":"a.b","timestamp":"2026-01-02T03:04:05.123456789Z","tenant_id":"t\u00e9"}`, ``, "té", "2026-01-02T03:04:05.123456789Z"},
		{"whitespace", " \n\t{ \"event_id\" : \"e\" , \"event_type\":\"a.b\",\"timestamp\":\"2026-01-02T03:04:05Z\" , \"data\" : 5 } \n", `5`, "", "2026-01-02T03:04:05Z"},
		{"case differs is unknown", `{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z","TENANT_ID":"x"}`, ``, "", "2026-01-02T03:04:05Z"},
	}
	for _, tt := range tests {
		env, err := ParseEnvelope([]byte(tt.body), "a.b", 0)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if string(env.Data) != tt.data || env.TenantID != tt.tenant {
			t.Errorf("%s: data %q tenant %q", tt.name, env.Data, env.TenantID)
		}
		if want, _ := time.Parse(time.RFC3339Nano, tt.ts); !env.Timestamp.Equal(want) {
			t.Errorf("%s: timestamp %v, want %v", tt.name, env.Timestamp, want)
		}
	}
}

func TestParseEnvelopeInvalid(t *testing.T) {
	t.Parallel()
	const ok = `"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"`
	tests := []struct {
		name, body, subject string
		max                 int
		kind, field         string
	}{
		{"too large", `{` + ok + `,"data":"` + strings.Repeat("x", 100) + `"}`, "a.b", 100, EnvelopeTooLarge, ""},
		{"empty", ``, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"truncated", `{` + ok, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"trailing garbage", `{` + ok + `} x`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"two objects", `{` + ok + `}{}`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"array", `[{` + ok + `}]`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"string", `"x"`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"null", `null`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"not utf8", "{" + ok + `,"data":"` + "\xff" + `"}`, "a.b", 0, EnvelopeInvalidJSON, ""},
		{"missing event_id", `{"event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeMissingField, "event_id"},
		{"null event_id", `{"event_id":null,"event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeMissingField, "event_id"},
		{"empty event_id", `{"event_id":"","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeMissingField, "event_id"},
		{"missing event_type", `{"event_id":"e","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeMissingField, "event_type"},
		{"missing timestamp", `{"event_id":"e","event_type":"a.b"}`, "a.b", 0, EnvelopeMissingField, "timestamp"},
		{"numeric event_id", `{"event_id":7,"event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeInvalidField, "event_id"},
		{"event_id newline", `{"event_id":"a\nb","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeInvalidField, "event_id"},
		{"event_id space", `{"event_id":"a b","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeInvalidField, "event_id"},
		{"event_id too long", `{"event_id":"` + strings.Repeat("e", 256) + `","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeInvalidField, "event_id"},
		{"bad event_type", `{"event_id":"e","event_type":"A.B","timestamp":"2026-01-02T03:04:05Z"}`, "A.B", 0, EnvelopeInvalidField, "event_type"},
		{"object event_type", `{"event_id":"e","event_type":{},"timestamp":"2026-01-02T03:04:05Z"}`, "a.b", 0, EnvelopeInvalidField, "event_type"},
		{"bad timestamp", `{"event_id":"e","event_type":"a.b","timestamp":"yesterday"}`, "a.b", 0, EnvelopeInvalidField, "timestamp"},
		{"unix timestamp", `{"event_id":"e","event_type":"a.b","timestamp":1767323045}`, "a.b", 0, EnvelopeInvalidField, "timestamp"},
		{"no zone", `{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05"}`, "a.b", 0, EnvelopeInvalidField, "timestamp"},
		{"numeric tenant", `{` + ok + `,"tenant_id":5}`, "a.b", 0, EnvelopeInvalidField, "tenant_id"},
		{"bool partner", `{` + ok + `,"partner_id":true}`, "a.b", 0, EnvelopeInvalidField, "partner_id"},
		{"array source", `{` + ok + `,"source":["x"]}`, "a.b", 0, EnvelopeInvalidField, "source"},
		{"long tenant", `{` + ok + `,"tenant_id":"` + strings.Repeat("t", 256) + `"}`, "a.b", 0, EnvelopeInvalidField, "tenant_id"},
		{"duplicate tenant", `{` + ok + `,"tenant_id":"a","tenant_id":"b"}`, "a.b", 0, EnvelopeInvalidField, "tenant_id"},
		{"escaped duplicate", `{` + ok + `,"tenant_id":"a","tenant\u005fid":"b"}`, "a.b", 0, EnvelopeInvalidField, "tenant_id"},
		{"duplicate event_type", `{` + ok + `,"event_type":"c.d"}`, "a.b", 0, EnvelopeInvalidField, "event_type"},
		{"subject mismatch", `{` + ok + `}`, "a.c", 0, EnvelopeSubjectMismatch, "event_type"},
	}
	for _, tt := range tests {
		env, err := ParseEnvelope([]byte(tt.body), tt.subject, tt.max)
		var ee *EnvelopeError
		if !errors.As(err, &ee) {
			t.Errorf("%s: got %+v, %v; want *EnvelopeError", tt.name, env, err)
			continue
		}
		if ee.Kind != tt.kind || ee.Field != tt.field {
			t.Errorf("%s: kind %q field %q, want %q %q (%v)", tt.name, ee.Kind, ee.Field, tt.kind, tt.field, err)
		}
		if !errors.Is(err, ErrInvalidEnvelope) {
			t.Errorf("%s: not ErrInvalidEnvelope", tt.name)
		}
		if got := ReasonCategory(err.Error()); got != tt.kind {
			t.Errorf("%s: category of %q = %q, want %q", tt.name, err, got, tt.kind)
		}
	}
}

func TestParseEnvelopeSizeLimitBoundary(t *testing.T) {
	t.Parallel()
	body := envelope("e", "a.b")
	if _, err := ParseEnvelope(body, "a.b", len(body)); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	if _, err := ParseEnvelope(body, "a.b", len(body)-1); err == nil {
		t.Error("over the limit accepted")
	}
	big := append(append([]byte(`{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z","data":"`),
		bytes.Repeat([]byte("x"), DefaultMaxEventBytes)...), `"}`...)
	if _, err := ParseEnvelope(big, "a.b", 0); err == nil {
		t.Error("maxBytes 0 did not apply the default limit")
	}
}

func TestValidEventType(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"user.created": true, "user.mfa_enabled": true, "request.completed": true, "a": true,
		"scaiqueue.message.dead_lettered": true, "a1.b2_c": true, "webhook.auto_disabled": true,
		strings.Repeat("a", MaxEventTypeLen):   true,
		"":                                     false,
		strings.Repeat("a", MaxEventTypeLen+1): false,
		"User.created":                         false,
		"user..created":                        false,
		".user":                                false,
		"user.":                                false,
		"user.*":                               false,
		"*":                                    false,
		"user.1created":                        false,
		"_user":                                false,
		"user-created":                         false,
		"user created":                         false,
		"user.créé":                            false,
		"user.created\n":                       false,
		"user>":                                false,
	}
	for in, want := range tests {
		if got := ValidEventType(in); got != want {
			t.Errorf("ValidEventType(%q) = %v, want %v", in, got, want)
		}
	}
}

// FuzzParseEnvelope checks ParseEnvelope never panics, agrees with
// encoding/json on validity, and returns only well-formed results.
func FuzzParseEnvelope(f *testing.F) {
	f.Add([]byte(`{"event_id":"evt_1","event_type":"user.created","timestamp":"2026-04-22T14:30:00.000Z","data":{"a":[1,"}"]}}`), "user.created")
	f.Add([]byte(`{"event_id":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z","payload":null,"tenant_id":"t"}`), "a.b")
	f.Add([]byte(`{"event\u005fid":"e","event_type":"a.b","timestamp":"2026-01-02T03:04:05Z"}`), "a.b")
	f.Add([]byte(`{"a":"\\\"","event_id":"e"}`), "")
	f.Add([]byte(`[]`), "a")
	f.Add([]byte(` {"x":{"y":[{}]},"event_type":"a.b"} `), "a.b")
	f.Fuzz(func(t *testing.T, body []byte, subject string) {
		env, err := ParseEnvelope(body, subject, 4096)
		if err != nil {
			var ee *EnvelopeError
			if !errors.As(err, &ee) || ee.Kind == "" || ReasonCategory(err.Error()) != ee.Kind {
				t.Fatalf("bad error %#v", err)
			}
			return
		}
		if !ValidEventType(env.EventType) || env.EventID == "" || !visibleASCII(env.EventID) {
			t.Fatalf("accepted bad fields: %+v", env)
		}
		if subject != "" && env.EventType != subject {
			t.Fatalf("type %q accepted on subject %q", env.EventType, subject)
		}
		// The stdlib (case-insensitive, last-key-wins) must agree on the
		// fields we matched on whenever keys are exact and unique.
		var std map[string]any
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %v", err)
		}
		if std["event_id"] != env.EventID || std["event_type"] != env.EventType {
			t.Fatalf("disagree with encoding/json: %v vs %+v", std, env)
		}
		if tn, _ := std["tenant_id"].(string); tn != env.TenantID {
			t.Fatalf("tenant disagrees: %q vs %q", tn, env.TenantID)
		}
		if env.Data != nil && !bytes.Contains(body, env.Data) {
			t.Fatal("Data is not part of the body")
		}
	})
}

func BenchmarkParseEnvelope(b *testing.B) {
	body := []byte(`{"event_id":"evt_a3f9k2bWqL8Hn5pZ","event_type":"request.completed","timestamp":"2026-04-22T14:30:00.000Z","source":"scaigrid","tenant_id":"tnt_acme","partner_id":"prt_internal","payload":{"model":"x","tokens":{"in":123,"out":456},"latency_ms":789,"tags":["a","b","c"]}}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(body, "request.completed", 0); err != nil {
			b.Fatal(err)
		}
	}
}
