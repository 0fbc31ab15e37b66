package kvtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var noticeTests = []subtest{
	{"AutoDisableKeepsOneNotice", testNoticeKeptWithAutoDisable},
	{"ClearNoticesRemovesOnlyTheGivenOnes", testClearNotices},
}

func notices(t *testing.T, s kv.Store, limit int) []kv.AutoDisabledNotice {
	t.Helper()
	out, err := s.Notices(context.Background(), limit)
	if err != nil {
		t.Fatalf("Notices: %v", err)
	}
	return out
}

// failUntilDisabled records failures of new deliveries of webhook id, each
// with a notice id, until the webhook is auto-disabled after after
// failures; it returns the result that disabled it.
func failUntilDisabled(t *testing.T, s kv.Store, id string, after int, at time.Time) *kv.AttemptResult {
	t.Helper()
	for i := 1; i <= after; i++ {
		d := createDelivery(t, s, id, fmt.Sprintf("evt_%s_%d", id, i), at)
		o := attempt(d, at.Add(time.Duration(i)*time.Second), 10, 500, false)
		o.Final, o.AutoDisableAfter = true, after
		o.NoticeID = fmt.Sprintf("evt_notice_%s_%d", id, i)
		res := record(t, s, o)
		if res.AutoDisabled != (i == after) || (res.Notice != nil) != (i == after) {
			t.Fatalf("failure %d of %d: auto-disabled %v, notice %+v", i, after, res.AutoDisabled, res.Notice)
		}
		if i == after {
			return res
		}
	}
	return nil
}

func testNoticeKeptWithAutoDisable(t *testing.T, s kv.Store) {
	w := newWebhook("wh_1", base)
	w.TenantID, w.PartnerID = "tnt_acme", "prt_1"
	createWebhook(t, s, w)
	if got := notices(t, s, 10); len(got) != 0 {
		t.Fatalf("notices before any failure: %+v", got)
	}
	res := failUntilDisabled(t, s, "wh_1", 3, base)
	got := notices(t, s, 10)
	if len(got) != 1 {
		t.Fatalf("notices = %+v, want the one of the disabling failure", got)
	}
	n := got[0]
	if n.EventID != "evt_notice_wh_1_3" || n.WebhookID != "wh_1" || n.URL != w.URL || n.TenantID != "tnt_acme" ||
		n.PartnerID != "prt_1" || n.ConsecutiveFailures != 3 || n.DisabledReason == "" || n.At.IsZero() {
		t.Fatalf("notice = %+v", n)
	}
	if res.Notice.EventID != n.EventID || !res.Notice.At.Equal(n.At) || res.Notice.ConsecutiveFailures != 3 {
		t.Fatalf("result notice %+v, stored %+v", res.Notice, n)
	}

	// A disabling outcome without a notice id keeps none.
	createWebhook(t, s, newWebhook("wh_2", base))
	d := createDelivery(t, s, "wh_2", "evt_x", base)
	o := attempt(d, base, 10, 500, false)
	o.Final, o.AutoDisableAfter = true, 1
	if res := record(t, s, o); !res.AutoDisabled || res.Notice != nil {
		t.Fatalf("without a notice id: auto-disabled %v, notice %+v", res.AutoDisabled, res.Notice)
	}
	if got := notices(t, s, 10); len(got) != 1 {
		t.Fatalf("notices = %+v, want still one", got)
	}
}

func testClearNotices(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_a", base))
	createWebhook(t, s, newWebhook("wh_b", base))
	failUntilDisabled(t, s, "wh_a", 1, base.Add(time.Minute))
	failUntilDisabled(t, s, "wh_b", 1, base)
	got := notices(t, s, 10)
	if len(got) != 2 || got[0].WebhookID != "wh_b" || got[1].WebhookID != "wh_a" {
		t.Fatalf("notices = %+v, want wh_b's then wh_a's (oldest first)", got)
	}
	if one := notices(t, s, 1); len(one) != 1 || one[0].WebhookID != "wh_b" {
		t.Fatalf("Notices(limit 1) = %+v", one)
	}
	if err := s.ClearNotices(ctx, got[:1]); err != nil {
		t.Fatalf("ClearNotices: %v", err)
	}
	if err := s.ClearNotices(ctx, got[:1]); err != nil {
		t.Fatalf("ClearNotices of a cleared notice: %v", err)
	}
	if left := notices(t, s, 10); len(left) != 1 || left[0].EventID != got[1].EventID {
		t.Fatalf("after clearing wh_b's: %+v", left)
	}
}
