package kv

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// fullDelivery has every stored field set, so a field the codec forgets
// shows up as a difference after a round trip.
func fullDelivery() *Delivery {
	at := time.Date(2026, 4, 22, 14, 30, 0, 123456789, time.UTC)
	next, done := at.Add(30*time.Second), at.Add(time.Minute)
	return &Delivery{
		ID: 123456, WebhookID: "wh_01JS3K8Z9Q4M7N2P5R8T1V4X6Y", EventID: "evt_a3f9k2bWqL8Hn5pZ",
		EventType: "user.created", TenantID: "tnt_acme", PartnerID: "prt_internal", EventSeq: 987654,
		Payload: []byte(`{"event_id":"evt_1"}`), Status: DeliveryFailed, AttemptCount: 3, Generation: 2,
		NextAttemptAt: &next, Deferred: true, ResponseStatusCode: 503, Error: "http 503", DurationMS: 35,
		CreatedAt: at, UpdatedAt: at.Add(time.Second), CompletedAt: &done, EventTime: at.Add(-time.Millisecond),
	}
}

func fullAttempt() Attempt {
	return Attempt{Attempt: 4, StartedAt: time.Date(2026, 4, 22, 14, 30, 0, 987654321, time.UTC),
		DurationMS: 1234, StatusCode: 500, Error: "http 500", ResponseBody: `{"error":"boom"}`, Trigger: TriggerManual}
}

// requireAllSet fails when a field of v is zero: a field added to the
// record must be added to the sample (and so to the codec's round trip).
func requireAllSet(t *testing.T, v any, skip ...string) {
	t.Helper()
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		name := rv.Type().Field(i).Name
		if rv.Field(i).IsZero() && !contains(skip, name) {
			t.Errorf("sample leaves %s unset: set it, and check the codec stores it", name)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestDeliveryRecordRoundTrip(t *testing.T) {
	full := fullDelivery()
	requireAllSet(t, *full, "Attempts")
	for name, d := range map[string]*Delivery{
		"every field": full,
		"zero":        {WebhookID: "wh_1", Status: DeliveryPending},
		"negative":    {WebhookID: "wh_1", Status: DeliverySuccess, ID: -1, DurationMS: -5, CreatedAt: time.Unix(-100, 5).UTC()},
	} {
		t.Run(name, func(t *testing.T) {
			v, err := encodeDelivery(nil, d)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(v, []byte(d.WebhookID)) {
				t.Error("the record repeats its bucket's webhook id")
			}
			got, err := decodeDelivery(v, d.WebhookID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, d) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, d)
			}
		})
	}
	js, _ := json.Marshal(full)
	v, _ := encodeDelivery(nil, full)
	if len(v)*3 > len(js) {
		t.Errorf("record is %d bytes, JSON %d: want under a third", len(v), len(js))
	}
}

func TestAttemptRecordRoundTrip(t *testing.T) {
	full := fullAttempt()
	requireAllSet(t, full)
	for name, a := range map[string]Attempt{"every field": full, "zero": {}} {
		t.Run(name, func(t *testing.T) {
			v, err := encodeAttempt(nil, &a)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeAttempt(v)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, a) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, a)
			}
		})
	}
}

// Files of layout 1 hold JSON records: they are still read.
func TestJSONRecordsOfLayout1AreRead(t *testing.T) {
	d := fullDelivery()
	js, _ := json.Marshal(d)
	got, err := decodeDelivery(js, "wh_other")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, d) {
		t.Fatalf("JSON delivery:\n got %+v\nwant %+v", got, d)
	}
	a := fullAttempt()
	js, _ = json.Marshal(&a)
	ga, err := decodeAttempt(js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ga, a) {
		t.Fatalf("JSON attempt:\n got %+v\nwant %+v", ga, a)
	}
}

// Records exactly as webhookd before layout 2 wrote them (taken from a
// file of d9a2b53), so that a change of the JSON tags cannot go unnoticed.
func TestLiteralLayout1RecordsAreRead(t *testing.T) {
	d, err := decodeDelivery([]byte(`{"id":200000,"webhook_id":"wh_01M8JY3C6X1VKH7GT572PBT9EH","event_id":"evt_backlog_199999",`+
		`"event_type":"user.created","tenant_id":"tnt_bench","event_seq":200000,"status":"pending","attempt_count":1,`+
		`"generation":0,"next_attempt_at":"2026-11-29T07:09:32.712716037Z","deferred":true,"error":"connection refused",`+
		`"duration_ms":1,"created_at":"2026-11-29T05:58:16.427604804Z","updated_at":"2026-11-29T05:59:02.754468359Z"}`),
		"wh_01M8JY3C6X1VKH7GT572PBT9EH")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	if d.ID != 200000 || d.WebhookID != "wh_01M8JY3C6X1VKH7GT572PBT9EH" || d.EventID != "evt_backlog_199999" ||
		d.EventType != "user.created" || d.TenantID != "tnt_bench" || d.EventSeq != 200000 || d.Status != DeliveryPending ||
		d.AttemptCount != 1 || d.NextAttemptAt == nil || !d.NextAttemptAt.Equal(at("2026-11-29T07:09:32.712716037Z")) ||
		!d.Deferred || d.Error != "connection refused" || d.DurationMS != 1 ||
		!d.CreatedAt.Equal(at("2026-11-29T05:58:16.427604804Z")) || !d.UpdatedAt.Equal(at("2026-11-29T05:59:02.754468359Z")) {
		t.Fatalf("layout-1 delivery read as %+v", d)
	}
	a, err := decodeAttempt([]byte(`{"attempt":1,"started_at":"2026-11-29T05:59:02.753468359Z","duration_ms":1,` +
		`"error":"connection refused","trigger":"scheduled"}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Attempt != 1 || !a.StartedAt.Equal(at("2026-11-29T05:59:02.753468359Z")) || a.DurationMS != 1 ||
		a.Error != "connection refused" || a.Trigger != TriggerScheduled {
		t.Fatalf("layout-1 attempt read as %+v", a)
	}
}

// Whatever encodes decodes: integers beyond 32 bits and times in other
// zones (read back as the same instant, in UTC).
func TestRecordsKeepLargeValuesAndInstants(t *testing.T) {
	zone := time.FixedZone("CEST", 2*3600)
	local := time.Date(2026, 7, 1, 12, 0, 0, 5, zone)
	d := &Delivery{WebhookID: "wh_1", Status: DeliveryPending, AttemptCount: 1 << 40, Generation: 1<<31 + 1,
		ResponseStatusCode: -(1 << 33), EventSeq: 1<<64 - 1, CreatedAt: local, UpdatedAt: time.Now()}
	v, err := encodeDelivery(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeDelivery(v, "wh_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.AttemptCount != d.AttemptCount || got.Generation != d.Generation || got.ResponseStatusCode != d.ResponseStatusCode ||
		got.EventSeq != d.EventSeq || !got.CreatedAt.Equal(local) || got.CreatedAt.Location() != time.UTC ||
		!got.UpdatedAt.Equal(d.UpdatedAt) {
		t.Fatalf("round trip: got %+v, want %+v", got, d)
	}
	a := Attempt{Attempt: 1 << 35, StatusCode: 1 << 34, StartedAt: local}
	av, err := encodeAttempt(nil, &a)
	if err != nil {
		t.Fatal(err)
	}
	ga, err := decodeAttempt(av)
	if err != nil || ga.Attempt != a.Attempt || ga.StatusCode != a.StatusCode || !ga.StartedAt.Equal(local) {
		t.Fatalf("round trip: got %+v (%v), want %+v", ga, err, a)
	}
}

// Every cut-short or extended record is an error, never a panic or a
// half-read record.
func TestMalformedRecordsAreErrors(t *testing.T) {
	d, _ := encodeDelivery(nil, fullDelivery())
	fa := fullAttempt()
	a, _ := encodeAttempt(nil, &fa)
	for n := range len(d) {
		if _, err := decodeDelivery(d[:n], "wh_1"); err == nil {
			t.Errorf("delivery cut to %d of %d bytes decoded", n, len(d))
		}
	}
	for n := range len(a) {
		if _, err := decodeAttempt(a[:n]); err == nil {
			t.Errorf("attempt cut to %d of %d bytes decoded", n, len(a))
		}
	}
	if _, err := decodeDelivery(append(d, 0), "wh_1"); err == nil {
		t.Error("delivery with a trailing byte decoded")
	}
	if _, err := decodeAttempt(append(a, 0)); err == nil {
		t.Error("attempt with a trailing byte decoded")
	}
	bad := append([]byte(nil), d...)
	bad[2] = 9 // no such status
	if _, err := decodeDelivery(bad, "wh_1"); err == nil {
		t.Error("delivery with an unknown status code decoded")
	}
	bad[2], bad[1] = 1, 0x80 // no such flag
	if _, err := decodeDelivery(bad, "wh_1"); err == nil {
		t.Error("delivery with an unknown flag decoded")
	}
	badA := append([]byte(nil), a...)
	badA[1] = 9 // no such trigger
	if _, err := decodeAttempt(badA); err == nil {
		t.Error("attempt with an unknown trigger code decoded")
	}
	if _, err := encodeDelivery(nil, &Delivery{Status: "lost"}); err == nil {
		t.Error("delivery with an unknown status encoded")
	}
	if _, err := encodeAttempt(nil, &Attempt{Trigger: "cron"}); err == nil {
		t.Error("attempt with an unknown trigger encoded")
	}
}

// A record that decodes encodes back to one that decodes the same.
func FuzzDecodeDelivery(f *testing.F) {
	v, _ := encodeDelivery(nil, fullDelivery())
	f.Add(v)
	js, _ := json.Marshal(fullDelivery())
	f.Add(js)
	f.Add([]byte{deliveryFormat, 0, 1})
	f.Fuzz(func(t *testing.T, v []byte) {
		d, err := decodeDelivery(v, "wh_1")
		if err != nil {
			return
		}
		if len(v) > 0 && v[0] == jsonFormat {
			return // JSON's own round trip is not ours to check
		}
		again, err := encodeDelivery(nil, d)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", d, err)
		}
		d2, err := decodeDelivery(again, "wh_1")
		if err != nil || !reflect.DeepEqual(d, d2) {
			t.Fatalf("re-encoded record differs: %+v vs %+v (%v)", d, d2, err)
		}
	})
}

func FuzzDecodeAttempt(f *testing.F) {
	a := fullAttempt()
	v, _ := encodeAttempt(nil, &a)
	f.Add(v)
	f.Add([]byte{attemptFormat, 1})
	js, _ := json.Marshal(&a)
	f.Add(js)
	f.Fuzz(func(t *testing.T, v []byte) {
		a, err := decodeAttempt(v)
		if err != nil || (len(v) > 0 && v[0] == jsonFormat) {
			return
		}
		again, err := encodeAttempt(nil, &a)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", a, err)
		}
		a2, err := decodeAttempt(again)
		if err != nil || !reflect.DeepEqual(a, a2) {
			t.Fatalf("re-encoded record differs: %+v vs %+v (%v)", a, a2, err)
		}
	})
}
