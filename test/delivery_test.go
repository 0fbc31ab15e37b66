package test

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"
	"time"
)

func TestDeliveryIsSignedAndCarriesTheEnvelopeBytes(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, nil)
	w := d.createWebhook(t, tok, map[string]any{
		"url": rc.URL(), "events": []string{"user.*"},
		"headers": map[string]string{"X-Team": "identity"},
	})
	pub := newPublisher(t, d.NATSURL)
	body := pub.event(t, "evt_sig_1", "user.created", "tnt_a", "prt_a")

	eventually(t, 30*time.Second, "one delivery", func() bool { return rc.count() == 1 })
	got := rc.deliveries()[0]
	if !bytes.Equal(got.Body, body) {
		t.Fatalf("body changed in transit:\n got %s\nwant %s", got.Body, body)
	}
	if err := verifyStandard(w.Secret, got.Header, got.Body); err != nil {
		t.Errorf("standard webhooks signature: %v", err)
	}
	if err := verifyLegacy(w.Secret, got.Header, got.Body); err != nil {
		t.Errorf("legacy signature: %v", err)
	}
	h := got.Header
	checks := map[string]string{
		"Content-Type":         "application/json",
		"webhook-id":           "evt_sig_1",
		"X-ScaiKey-Event-ID":   "evt_sig_1",
		"X-ScaiKey-Event-Type": "user.created",
		"X-ScaiKey-Timestamp":  h.Get("webhook-timestamp"),
		"X-Team":               "identity",
	}
	for k, want := range checks {
		if h.Get(k) != want {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), want)
		}
	}
	if ua := h.Get("User-Agent"); len(ua) < len("webhookd/") || ua[:9] != "webhookd/" {
		t.Errorf("User-Agent = %q", ua)
	}
	ts, err := strconv.ParseInt(h.Get("webhook-timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Errorf("webhook-timestamp %q is not the current unix time", h.Get("webhook-timestamp"))
	}
	id, err := strconv.ParseInt(h.Get("X-ScaiKey-Webhook-ID"), 10, 64)
	if err != nil || id <= 0 {
		t.Fatalf("X-ScaiKey-Webhook-ID = %q, want a positive integer", h.Get("X-ScaiKey-Webhook-ID"))
	}
	dl := d.waitDelivery(t, tok, w.ID, "evt_sig_1", 10*time.Second, "success")
	if dl.ID != id || dl.AttemptCount != 1 || len(dl.Attempts) != 1 || dl.Attempts[0].Trigger != "scheduled" {
		t.Errorf("delivery record = %+v, want id %d with one scheduled attempt", dl, id)
	}
}

func TestFailingTwiceThenSucceedingGivesThreeAttempts(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, func(n int, _ *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"request.completed"}})
	pub := newPublisher(t, d.NATSURL)
	pub.event(t, "evt_retry_1", "request.completed", "", "")

	dl := d.waitDelivery(t, tok, w.ID, "evt_retry_1", 30*time.Second, "success")
	if dl.AttemptCount != 3 || len(dl.Attempts) != 3 {
		t.Fatalf("attempt_count %d with %d attempts, want 3", dl.AttemptCount, len(dl.Attempts))
	}
	for i, a := range dl.Attempts {
		if a.Attempt != i+1 {
			t.Errorf("attempt %d numbered %d", i+1, a.Attempt)
		}
	}
	if c := dl.Attempts[0].StatusCode; c == nil || *c != 500 {
		t.Errorf("first attempt status %v, want 500", c)
	}
	if c := dl.Attempts[2].StatusCode; c == nil || *c != 204 {
		t.Errorf("last attempt status %v, want 204", c)
	}
	// webhook-id is stable across retries so receivers can dedupe.
	for _, got := range rc.deliveries() {
		if got.Header.Get("webhook-id") != "evt_retry_1" {
			t.Errorf("webhook-id %q on a retry", got.Header.Get("webhook-id"))
		}
	}
}

func TestAlwaysFailingEndsFailedAfterMaxRetries(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{RetrySchedule: "50ms"})
	tok := d.superToken(t)
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusBadGateway })
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"*"}, "max_retries": 3})
	newPublisher(t, d.NATSURL).event(t, "evt_fail_1", "user.deleted", "", "")

	dl := d.waitDelivery(t, tok, w.ID, "evt_fail_1", 30*time.Second, "failed")
	if dl.AttemptCount != 4 {
		t.Fatalf("attempt_count = %d, want 1 + max_retries = 4", dl.AttemptCount)
	}
	// No attempt after the delivery is failed.
	time.Sleep(300 * time.Millisecond)
	if n := rc.count(); n != 4 {
		t.Fatalf("receiver got %d requests, want 4", n)
	}
}

func TestGoneDisablesTheWebhook(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusGone })
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"*"}})
	pub := newPublisher(t, d.NATSURL)
	pub.event(t, "evt_gone_1", "user.created", "", "")

	dl := d.waitDelivery(t, tok, w.ID, "evt_gone_1", 30*time.Second, "failed")
	if dl.AttemptCount != 1 {
		t.Errorf("410 was retried: attempt_count %d", dl.AttemptCount)
	}
	got := d.webhook(t, tok, w.ID)
	if got.Status != "disabled" || got.DisabledReason == nil || *got.DisabledReason == "" {
		t.Fatalf("webhook after 410: status %q reason %v, want disabled with a reason", got.Status, got.DisabledReason)
	}
	// A disabled webhook receives nothing more.
	pub.event(t, "evt_gone_2", "user.created", "", "")
	time.Sleep(500 * time.Millisecond)
	if rc.count() != 1 {
		t.Fatalf("disabled webhook received %d requests, want 1", rc.count())
	}
}

func TestRedirectIsAFailureAndIsNotFollowed(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{RetrySchedule: "50ms"})
	tok := d.superToken(t)
	target := newReceiver(t, nil)
	redirector := newReceiver(t, func(_ int, r *http.Request) int { return http.StatusFound })
	redirector.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirector.mu.Lock()
		redirector.got = append(redirector.got, delivery{Header: r.Header.Clone(), At: time.Now()})
		redirector.mu.Unlock()
		http.Redirect(w, r, target.URL(), http.StatusFound)
	})
	w := d.createWebhook(t, tok, map[string]any{"url": redirector.URL(), "events": []string{"*"}, "max_retries": 1})
	newPublisher(t, d.NATSURL).event(t, "evt_redir_1", "user.created", "", "")

	dl := d.waitDelivery(t, tok, w.ID, "evt_redir_1", 30*time.Second, "failed")
	if c := dl.Attempts[0].StatusCode; c == nil || *c != 302 {
		t.Errorf("attempt status %v, want 302", c)
	}
	if target.count() != 0 {
		t.Fatalf("the redirect target received %d requests", target.count())
	}
}

func TestTenantWebhookNeverReceivesAnotherTenantsEvents(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rcA, rcB, rcP := newReceiver(t, nil), newReceiver(t, nil), newReceiver(t, nil)
	d.createWebhook(t, tok, map[string]any{"url": rcA.URL(), "events": []string{"*"}, "tenant_id": "tnt_a", "partner_id": "prt_1"})
	d.createWebhook(t, tok, map[string]any{"url": rcB.URL(), "events": []string{"*"}, "tenant_id": "tnt_b", "partner_id": "prt_2"})
	d.createWebhook(t, tok, map[string]any{"url": rcP.URL(), "events": []string{"*"}, "partner_id": "prt_1"})
	pub := newPublisher(t, d.NATSURL)
	pub.event(t, "evt_b_1", "user.created", "tnt_b", "prt_2")
	pub.event(t, "evt_a_1", "user.created", "tnt_a", "prt_1")
	pub.event(t, "evt_a2_1", "user.created", "tnt_a2", "prt_1")

	eventually(t, 30*time.Second, "tenant deliveries", func() bool {
		return rcA.count() == 1 && rcB.count() == 1 && rcP.count() == 2
	})
	time.Sleep(300 * time.Millisecond)
	if rcA.count() != 1 || rcA.deliveries()[0].Header.Get("webhook-id") != "evt_a_1" {
		t.Errorf("tenant A got %d deliveries", rcA.count())
	}
	if rcB.count() != 1 || rcB.deliveries()[0].Header.Get("webhook-id") != "evt_b_1" {
		t.Errorf("tenant B got %d deliveries", rcB.count())
	}
	if rcP.count() != 2 {
		t.Errorf("partner 1 got %d deliveries, want its two tenants' events", rcP.count())
	}
}
