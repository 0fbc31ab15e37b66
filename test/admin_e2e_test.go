package test

import (
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestRotateSecretSignsWithBothUntilTheGracePeriodEnds(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, nil)
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"user.updated"}})
	pub := newPublisher(t, d.NATSURL)

	var rot struct {
		ID                      string  `json:"id"`
		Secret                  string  `json:"secret"`
		PreviousSecretExpiresAt *string `json:"previous_secret_expires_at"`
	}
	if code := d.api(t, "POST", "/api/v1/admin/webhooks/"+w.ID+"/rotate-secret", tok,
		map[string]any{"grace_period_seconds": 3}, &rot); code != 200 {
		t.Fatalf("rotate: status %d", code)
	}
	if rot.ID != w.ID || rot.Secret == "" || rot.Secret == w.Secret || rot.PreviousSecretExpiresAt == nil {
		t.Fatalf("rotate answer %+v", rot)
	}
	rotatedAt := time.Now()

	pub.event(t, "evt_rot_1", "user.updated", "", "")
	eventually(t, 30*time.Second, "delivery during the grace period", func() bool { return rc.count() == 1 })
	during := rc.deliveries()[0]
	if time.Since(rotatedAt) < 3*time.Second {
		if std, legacy := countSignatures(during.Header); std != 2 || legacy != 2 {
			t.Fatalf("during the grace period: %d standard and %d legacy signatures, want 2 and 2", std, legacy)
		}
	}
	for _, secret := range []string{rot.Secret, w.Secret} {
		if err := verifyStandard(secret, during.Header, during.Body); err != nil {
			t.Errorf("standard signature with %s secret: %v", map[bool]string{true: "new", false: "old"}[secret == rot.Secret], err)
		}
		if err := verifyLegacy(secret, during.Header, during.Body); err != nil {
			t.Errorf("legacy signature: %v", err)
		}
	}

	// After the grace period only the new secret signs.
	time.Sleep(time.Until(rotatedAt.Add(3500 * time.Millisecond)))
	pub.event(t, "evt_rot_2", "user.updated", "", "")
	eventually(t, 30*time.Second, "delivery after the grace period", func() bool { return rc.count() == 2 })
	after := rc.deliveries()[1]
	if std, legacy := countSignatures(after.Header); std != 1 || legacy != 1 {
		t.Fatalf("after the grace period: %d standard and %d legacy signatures, want 1 and 1", std, legacy)
	}
	if err := verifyStandard(rot.Secret, after.Header, after.Body); err != nil {
		t.Errorf("new secret: %v", err)
	}
	if err := verifyStandard(w.Secret, after.Header, after.Body); err == nil {
		t.Errorf("the old secret still verifies after its grace period")
	}
}

func TestManualRetryAddsAnAttemptToTheSameDelivery(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{RetrySchedule: "50ms"})
	tok := d.superToken(t)
	var healthy, hang atomic.Bool
	release := make(chan struct{})
	rc := newReceiver(t, func(int, *http.Request) int {
		if hang.Load() {
			select { // bounded: the test closes release when it ends
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}
		if healthy.Load() {
			return http.StatusOK
		}
		return http.StatusInternalServerError
	})
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"user.created"}, "max_retries": 1})
	body := newPublisher(t, d.NATSURL).event(t, "evt_manual_1", "user.created", "", "")
	failed := d.waitDelivery(t, tok, w.ID, "evt_manual_1", 30*time.Second, "failed")
	if failed.AttemptCount != 2 {
		t.Fatalf("attempt_count %d before the retry, want 2", failed.AttemptCount)
	}

	healthy.Store(true) // the receiver is fixed; the admin retries by hand
	path := fmt.Sprintf("/api/v1/admin/webhooks/%s/deliveries/%d/retry", w.ID, failed.ID)
	var retried deliveryJSON
	if code := d.api(t, "POST", path, tok, nil, &retried); code != 200 {
		t.Fatalf("retry: status %d", code)
	}
	if retried.ID != failed.ID || retried.Status != "pending" {
		t.Fatalf("retry answered %+v, want the same delivery back to pending", retried)
	}
	done := d.waitDelivery(t, tok, w.ID, "evt_manual_1", 30*time.Second, "success")
	if done.ID != failed.ID || done.AttemptCount != 3 || len(done.Attempts) != 3 {
		t.Fatalf("after the retry: %+v, want 3 attempts on delivery %d", done, failed.ID)
	}
	if done.Attempts[2].Trigger != "manual" || done.Attempts[0].Trigger != "scheduled" {
		t.Errorf("triggers %q, %q; want scheduled first and manual last", done.Attempts[0].Trigger, done.Attempts[2].Trigger)
	}
	last := rc.deliveries()[rc.count()-1]
	if string(last.Body) != string(body) {
		t.Errorf("the retried body differs from the published envelope")
	}
	// A success may be retried again; while that attempt hangs the delivery
	// is pending, and retrying it then is refused.
	hang.Store(true)
	defer close(release)
	if code := d.api(t, "POST", path, tok, nil, nil); code != 200 {
		t.Fatalf("second retry of a success delivery: status %d", code)
	}
	if code := d.api(t, "POST", path, tok, nil, nil); code != 409 {
		t.Errorf("retry of a pending delivery: status %d, want 409", code)
	}
}

func TestTestEndpointMakesOneSignedAttempt(t *testing.T) {
	t.Parallel()
	d := startDaemon(t, daemonOptions{})
	tok := d.superToken(t)
	rc := newReceiver(t, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	w := d.createWebhook(t, tok, map[string]any{"url": rc.URL(), "events": []string{"user.created"}})
	var res struct {
		DeliveryID int64   `json:"delivery_id"`
		Success    bool    `json:"success"`
		StatusCode *int    `json:"status_code"`
		DurationMS *int64  `json:"duration_ms"`
		Error      *string `json:"error"`
	}
	if code := d.api(t, "POST", "/api/v1/admin/webhooks/"+w.ID+"/test", tok,
		map[string]any{"data": map[string]any{"hello": "world"}}, &res); code != 200 {
		t.Fatalf("test: status %d", code)
	}
	if res.Success || res.StatusCode == nil || *res.StatusCode != 503 || res.DeliveryID == 0 {
		t.Fatalf("test answer %+v, want a recorded failure with status 503", res)
	}
	if rc.count() != 1 {
		t.Fatalf("receiver got %d requests, want exactly 1 (no retries)", rc.count())
	}
	got := rc.deliveries()[0]
	if got.Header.Get("X-ScaiKey-Event-Type") != "webhook.test" {
		t.Errorf("event type %q, want webhook.test", got.Header.Get("X-ScaiKey-Event-Type"))
	}
	if err := verifyStandard(w.Secret, got.Header, got.Body); err != nil {
		t.Errorf("test delivery signature: %v", err)
	}
	dl := d.delivery(t, tok, w.ID, res.DeliveryID)
	if dl.Status != "failed" || len(dl.Attempts) != 1 || dl.Attempts[0].Trigger != "test" {
		t.Fatalf("recorded test delivery %+v", dl)
	}
	time.Sleep(300 * time.Millisecond)
	if rc.count() != 1 {
		t.Errorf("a test delivery was retried")
	}
}
