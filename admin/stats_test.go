package admin

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/scailabs/webhookd/kv"
)

func TestStats(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("tnt_t", "prt_p")
	r := f.as(tenantTofP, "GET", base+"/"+w.ID+"/stats", nil)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if m["total"] != 0.0 || m["success_rate"] != 0.0 || m["last_delivery"] != nil || m["webhook_id"] != w.ID {
		t.Errorf("empty stats = %v", m)
	}

	f.createDelivery(w, "evt_1", 1, kv.DeliverySuccess)
	f.createDelivery(w, "evt_2", 2, kv.DeliverySuccess)
	f.createDelivery(w, "evt_3", 3, kv.DeliverySuccess)
	last := f.createDelivery(w, "evt_4", 4, kv.DeliveryFailed)
	f.createDelivery(w, "evt_5", 5, kv.DeliveryPending)
	r = f.as(tenantTofP, "GET", base+"/"+w.ID+"/stats", nil)
	expectStatus(t, r, http.StatusOK)
	m = r.object(t)
	want, err := f.bolt.WebhookStats(t.Context(), w.ID, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m["total"] != 5.0 || m["success"] != 3.0 || m["failed"] != 1.0 || m["pending"] != 1.0 ||
		m["success_rate"] != 0.75 || m["avg_latency_ms"] != want.AvgLatencyMS || m["p95_latency_ms"] != want.P95LatencyMS ||
		m["consecutive_failures"] != float64(want.ConsecutiveFailures) {
		t.Errorf("stats = %v, store says %+v", m, want)
	}
	l24 := m["last_24h"].(map[string]any)
	if l24["deliveries"] != 5.0 || l24["success_rate"] != 0.75 || l24["avg_latency_ms"] != 40.0 {
		t.Errorf("last_24h = %v", l24)
	}
	ld := m["last_delivery"].(map[string]any)
	if ld["id"] != float64(last.ID) || ld["status"] != "failed" || ld["response_status_code"] != 500.0 || ld["at"] == nil {
		t.Errorf("last_delivery = %v", ld)
	}
}

func TestTestEndpoint(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "prt_p")
	path := base + "/" + w.ID + "/test"

	r := f.as(partnerP, "POST", path, nil)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if len(m) != 5 || m["success"] != true || m["status_code"] != 200.0 || m["duration_ms"] != 12.0 || m["error"] != nil || m["delivery_id"] == nil {
		t.Errorf("test = %v", m)
	}
	d, err := f.bolt.GetDelivery(t.Context(), w.ID, int64(m["delivery_id"].(float64)))
	if err != nil || d.Status != kv.DeliverySuccess || d.EventType != "webhook.test" {
		t.Errorf("recorded delivery = %+v, %v", d, err)
	}

	// A failing endpoint is still a 200, with success false.
	f.tester.answer(503)
	r = f.as(partnerP, "POST", path, `{"event_type":"user.created","data":{"id":"usr_1"}}`)
	expectStatus(t, r, http.StatusOK)
	if m := r.object(t); m["success"] != false || m["status_code"] != 503.0 || m["error"] != "status 503" {
		t.Errorf("failed test = %v", m)
	}
	f.tester.answer(0)
	r = f.as(partnerP, "POST", path, `{"event_type":null,"data":null}`)
	expectStatus(t, r, http.StatusOK)
	if m := r.object(t); m["success"] != false || m["status_code"] != nil || m["error"] != "connection refused" {
		t.Errorf("unreachable test = %v", m)
	}
	calls := f.tester.callsMade()
	want := []testCall{{w.ID, "webhook.test", ""}, {w.ID, "user.created", `{"id":"usr_1"}`}, {w.ID, "webhook.test", ""}}
	if !slices.Equal(calls, want) {
		t.Errorf("tester calls = %+v, want %+v", calls, want)
	}

	for body, wantV := range map[string][]string{
		`{"event_type":"user.exploded"}`:    {"body.event_type:value_error"},
		`{"event_type":"user.*"}`:           {"body.event_type:value_error"},
		`{"event_type":5,"data":[1],"x":1}`: {"body.x:extra_forbidden", "body.event_type:string_type", "body.data:dict_type"},
	} {
		if got := validationTypes(t, f.as(partnerP, "POST", path, body)); !slices.Equal(got, wantV) {
			t.Errorf("%s: %v, want %v", body, got, wantV)
		}
	}
	if n := len(f.tester.callsMade()); n != 3 {
		t.Errorf("invalid bodies reached the tester: %d calls", n)
	}
}

func TestEventTypes(t *testing.T) {
	t.Parallel()
	f := setup(t)
	r := f.as(tenantUofQ, "GET", base+"/events", nil)
	expectStatus(t, r, http.StatusOK)
	var v struct {
		Items []EventType `json:"items"`
		Total int         `json:"total"`
	}
	r.json(t, &v)
	if v.Total != len(v.Items) || v.Total < 43 {
		t.Errorf("total %d, %d items", v.Total, len(v.Items))
	}
	var types []string
	for _, it := range v.Items {
		types = append(types, it.Type)
		if it.Description == "" || it.Category == "" {
			t.Errorf("entry %+v lacks description or category", it)
		}
	}
	for _, want := range []string{"user.created", "request.completed", "webhook.test", "webhook.auto_disabled", "scaiqueue.message.dead_lettered"} {
		if !slices.Contains(types, want) {
			t.Errorf("catalogue lacks %s", want)
		}
	}
	if strings.Count(string(r.body), `"webhook.test"`) != 1 {
		t.Error("webhook.test listed more than once")
	}
}
