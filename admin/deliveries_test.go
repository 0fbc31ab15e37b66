package admin

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

func TestListDeliveries(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("tnt_t", "prt_p")
	other := f.createWebhook("tnt_t", "prt_p")
	var ids []int64
	for i, st := range []kv.DeliveryStatus{kv.DeliverySuccess, kv.DeliveryFailed, kv.DeliveryPending, kv.DeliverySuccess} {
		ids = append(ids, f.createDelivery(w, fmt.Sprintf("evt_%d", i), uint64(i+1), st).ID)
		f.clock.Add(time.Second)
	}
	f.createDelivery(other, "evt_other", 99, kv.DeliverySuccess)

	type page struct {
		Items []map[string]any `json:"items"`
		Total int              `json:"total"`
		Pages int              `json:"pages"`
	}
	get := func(q string) page {
		t.Helper()
		r := f.as(tenantTofP, "GET", base+"/"+w.ID+"/deliveries"+q, nil)
		expectStatus(t, r, http.StatusOK)
		var p page
		r.json(t, &p)
		return p
	}
	idsOf := func(p page) []int64 {
		var out []int64
		for _, it := range p.Items {
			out = append(out, int64(it["id"].(float64)))
		}
		return out
	}
	all := get("")
	if want := []int64{ids[3], ids[2], ids[1], ids[0]}; !slices.Equal(idsOf(all), want) || all.Total != 4 {
		t.Errorf("deliveries = %v (total %d), want newest first %v", idsOf(all), all.Total, want)
	}
	if p := get("?status=success"); !slices.Equal(idsOf(p), []int64{ids[3], ids[0]}) || p.Total != 2 {
		t.Errorf("success = %v", idsOf(p))
	}
	if p := get("?status=pending"); !slices.Equal(idsOf(p), []int64{ids[2]}) {
		t.Errorf("pending = %v", idsOf(p))
	}
	if p := get("?status=failed&per_page=1&page=1"); !slices.Equal(idsOf(p), []int64{ids[1]}) || p.Pages != 1 {
		t.Errorf("failed = %v", idsOf(p))
	}
	if p := get("?per_page=3&page=2"); !slices.Equal(idsOf(p), []int64{ids[0]}) || p.Pages != 2 {
		t.Errorf("page 2 = %v", idsOf(p))
	}
	// The list view: contract fields, no internals, no attempts.
	it := all.Items[0]
	for _, k := range []string{"id", "webhook_id", "event_id", "event_type", "status", "attempt_count", "next_attempt_at",
		"response_status_code", "error", "duration_ms", "created_at", "updated_at", "completed_at"} {
		if _, ok := it[k]; !ok {
			t.Errorf("delivery lacks %s: %v", k, it)
		}
	}
	for _, k := range []string{"payload", "event_seq", "generation", "attempts"} {
		if _, ok := it[k]; ok {
			t.Errorf("delivery list shows %s", k)
		}
	}
	if it["status"] != "success" || it["response_status_code"] != 200.0 || it["error"] != nil || it["duration_ms"] != 40.0 {
		t.Errorf("success item = %v", it)
	}
	pending := all.Items[1]
	if pending["status"] != "pending" || pending["duration_ms"] != nil || pending["response_status_code"] != nil || pending["completed_at"] != nil {
		t.Errorf("pending item = %v", pending)
	}
}

func TestGetDelivery(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "prt_p")
	d := f.createDelivery(w, "evt_1", 1, kv.DeliveryFailed)
	r := f.as(partnerP, "GET", fmt.Sprintf("%s/%s/deliveries/%d", base, w.ID, d.ID), nil)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if m["id"] != float64(d.ID) || m["webhook_id"] != w.ID || m["event_id"] != "evt_1" || m["status"] != "failed" ||
		m["attempt_count"] != 1.0 || m["error"] != "status 500" || m["response_status_code"] != 500.0 {
		t.Errorf("delivery = %v", m)
	}
	atts, _ := m["attempts"].([]any)
	if len(atts) != 1 {
		t.Fatalf("attempts = %v", m["attempts"])
	}
	at := atts[0].(map[string]any)
	if at["attempt"] != 1.0 || at["status_code"] != 500.0 || at["error"] != "status 500" || at["response_body"] != "ok" ||
		at["trigger"] != "scheduled" || at["duration_ms"] != 40.0 || at["started_at"] != "2026-04-22T14:30:00.000Z" {
		t.Errorf("attempt = %v", at)
	}
	for _, k := range []string{"payload", "event_seq", "generation"} {
		if _, ok := m[k]; ok {
			t.Errorf("delivery shows %s", k)
		}
	}

	// Unknown delivery, and a delivery of another webhook named under this one.
	other := f.createWebhook("", "prt_p")
	od := f.createDelivery(other, "evt_2", 2, kv.DeliverySuccess)
	for _, id := range []int64{999, od.ID, -1, 0} {
		r := f.as(partnerP, "GET", fmt.Sprintf("%s/%s/deliveries/%d", base, w.ID, id), nil)
		expectStatus(t, r, http.StatusNotFound)
		if dt := r.detail(t); dt != "Delivery not found" {
			t.Errorf("delivery %d: detail %q", id, dt)
		}
	}
}

func TestRetryDelivery(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("tnt_t", "prt_p")
	d := f.createDelivery(w, "evt_1", 17, kv.DeliveryFailed)
	envelope := []byte(`{"event_id":"evt_1","event_type":"user.created","timestamp":"2026-04-22T14:30:00.000Z","data":{}}`)
	f.tasks.setEvent(17, envelope)
	f.clock.Add(time.Minute)

	path := fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, d.ID)
	r := f.as(tenantTofP, "POST", path, nil)
	expectStatus(t, r, http.StatusOK)
	m := r.object(t)
	if m["status"] != "pending" || m["completed_at"] != nil || m["next_attempt_at"] != "2026-04-22T14:31:00.000Z" {
		t.Errorf("retried = %v", m)
	}
	if atts, _ := m["attempts"].([]any); len(atts) != 1 {
		t.Errorf("attempt history not kept in the answer: %v", m["attempts"])
	}
	stored, err := f.bolt.GetDelivery(t.Context(), w.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status != kv.DeliveryPending || stored.Generation != d.Generation+1 || len(stored.Attempts) != 1 {
		t.Errorf("stored = status %s generation %d attempts %d", stored.Status, stored.Generation, len(stored.Attempts))
	}
	pub, _ := f.tasks.snapshot()
	want := bus.Task{DeliveryID: d.ID, WebhookID: w.ID, EventID: "evt_1", EventType: "user.created",
		Generation: stored.Generation, Trigger: "manual", Body: envelope}
	if len(pub) != 1 || !sameTask(pub[0], want) {
		t.Fatalf("published = %+v, want %+v", pub, want)
	}

	// Pending now: 409, nothing more published.
	r = f.as(tenantTofP, "POST", path, nil)
	expectStatus(t, r, http.StatusConflict)
	if dt := r.detail(t); dt != "Delivery is already pending" {
		t.Errorf("detail = %q", dt)
	}
	if pub, _ := f.tasks.snapshot(); len(pub) != 1 {
		t.Errorf("a pending retry published: %d tasks", len(pub))
	}

	// A successful delivery may be retried too.
	ok := f.createDelivery(w, "evt_2", 18, kv.DeliverySuccess)
	f.tasks.setEvent(18, []byte(`{"event_id":"evt_2"}`))
	expectStatus(t, f.as(tenantTofP, "POST", fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, ok.ID), nil), http.StatusOK)
}

func sameTask(a, b bus.Task) bool {
	return a.DeliveryID == b.DeliveryID && a.WebhookID == b.WebhookID && a.EventID == b.EventID && a.EventType == b.EventType &&
		a.Generation == b.Generation && a.Trigger == b.Trigger && string(a.Body) == string(b.Body)
}

func TestRetryEventGone(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	d := f.createDelivery(w, "evt_1", 5, kv.DeliveryFailed) // seq 5 is not retained
	r := f.as(superAdmin, "POST", fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, d.ID), nil)
	expectStatus(t, r, http.StatusConflict)
	if dt := r.detail(t); !strings.Contains(dt, "no longer retained") {
		t.Errorf("detail = %q", dt)
	}
	// The envelope is read first: the delivery was left untouched.
	stored, err := f.bolt.GetDelivery(t.Context(), w.ID, d.ID)
	if err != nil || stored.Status != kv.DeliveryFailed || stored.Generation != d.Generation {
		t.Errorf("stored = %+v, %v; want it unchanged", stored, err)
	}
	if pub, _ := f.tasks.snapshot(); len(pub) != 0 {
		t.Errorf("published %d tasks", len(pub))
	}
}

func TestRetryTestDeliveryUsesItsPayload(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	r := f.as(superAdmin, "POST", base+"/"+w.ID+"/test", nil)
	expectStatus(t, r, http.StatusOK)
	id := int64(r.object(t)["delivery_id"].(float64))
	stored, err := f.bolt.GetDelivery(t.Context(), w.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	r = f.as(superAdmin, "POST", fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, id), nil)
	expectStatus(t, r, http.StatusOK)
	pub, _ := f.tasks.snapshot()
	if len(pub) != 1 || string(pub[0].Body) != string(stored.Payload) || pub[0].EventType != "webhook.test" {
		t.Errorf("published = %+v, want the kept payload %s", pub, stored.Payload)
	}
	if n := f.tasks.getEventCalls(); n != 0 {
		t.Errorf("GetEvent called %d times for a test delivery", n)
	}
}

func TestRetryPublishFailure(t *testing.T) {
	t.Parallel()
	f := setup(t)
	w := f.createWebhook("", "")
	d := f.createDelivery(w, "evt_1", 3, kv.DeliveryFailed)
	f.tasks.setEvent(3, []byte(`{}`))
	f.tasks.failPublish(errors.New("nats: secret-internal-detail timeout"))
	r := f.as(superAdmin, "POST", fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, d.ID), nil)
	expectStatus(t, r, http.StatusInternalServerError)
	if dt := r.detail(t); dt != "Internal server error" {
		t.Errorf("detail = %q", dt)
	}
	if !strings.Contains(f.logs.String(), "secret-internal-detail") {
		t.Error("the cause was not logged")
	}
	// Not left pending without a task: it failed again, with the reason,
	// and can be retried once the bus is back.
	got, err := f.bolt.GetDelivery(t.Context(), w.ID, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := got.Attempts[len(got.Attempts)-1]; got.Status != kv.DeliveryFailed ||
		last.Trigger != kv.TriggerManual || last.Error != "manual retry could not be queued" {
		t.Fatalf("after a failed publish: status %s, last attempt %+v", got.Status, last)
	}
	f.tasks.failPublish(nil)
	r = f.as(superAdmin, "POST", fmt.Sprintf("%s/%s/deliveries/%d/retry", base, w.ID, d.ID), nil)
	expectStatus(t, r, http.StatusOK)
}
