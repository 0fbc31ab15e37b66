package kvtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/scailabs/webhookd/kv"
)

var webhookTests = []subtest{
	{"CRUD", testWebhookCRUD},
	{"NotFound", testNotFound},
	{"ConcurrentUpdate", testConcurrentUpdate},
	{"List", testListWebhooks},
	{"ListAfterScopeChange", testListAfterScopeChange},
	{"DeleteCascades", testDeleteCascades},
	{"Closed", testClosed},
}

func testWebhookCRUD(t *testing.T, s kv.Store) {
	ctx := context.Background()
	in := newWebhook("wh_crud", base)
	in.TenantID, in.PartnerID = "tnt_acme", "prt_internal"
	in.PreviousSecret, in.PreviousSecretExpiresAt = "whsec_old", timePtr(base.Add(time.Hour))
	createWebhook(t, s, in.Clone())

	got := getWebhook(t, s, "wh_crud")
	if got.URL != in.URL || got.Description != in.Description || !slices.Equal(got.Events, in.Events) ||
		got.Status != in.Status || got.MaxRetries != 5 || got.TimeoutSeconds != 10 ||
		got.Headers["X-Team"] != "core" || got.TenantID != "tnt_acme" || got.PartnerID != "prt_internal" ||
		got.Secret != in.Secret || got.PreviousSecret != "whsec_old" ||
		!sameTime(got.PreviousSecretExpiresAt, in.PreviousSecretExpiresAt) ||
		!got.CreatedAt.Equal(base) || !got.UpdatedAt.Equal(base) {
		t.Fatalf("GetWebhook = %+v, want the created fields of %+v", got, in)
	}
	if got.Revision == 0 {
		t.Fatal("Revision = 0 after create, want it set by the store")
	}

	if err := s.CreateWebhook(ctx, newWebhook("wh_crud", base)); !errors.Is(err, kv.ErrConflict) {
		t.Fatalf("CreateWebhook(duplicate id) = %v, want ErrConflict", err)
	}

	// Returned records are copies.
	got.Events[0] = "mutated"
	got.Headers["X-Team"] = "mutated"
	if again := getWebhook(t, s, "wh_crud"); again.Events[0] != "user.created" || again.Headers["X-Team"] != "core" {
		t.Fatalf("mutating a returned webhook changed the store: %+v", again)
	}

	upd, err := s.UpdateWebhook(ctx, "wh_crud", func(w *kv.Webhook) error {
		w.URL = "https://receiver.example/v2"
		w.UpdatedAt = base.Add(time.Minute)
		w.ID = "wh_other" // the store keeps the id
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	if upd.ID != "wh_crud" || upd.URL != "https://receiver.example/v2" || upd.Revision <= got.Revision {
		t.Fatalf("UpdateWebhook = id %q url %q revision %d (before %d)", upd.ID, upd.URL, upd.Revision, got.Revision)
	}
	if again := getWebhook(t, s, "wh_crud"); again.URL != upd.URL || !again.UpdatedAt.Equal(base.Add(time.Minute)) || again.Revision != upd.Revision {
		t.Fatalf("GetWebhook after update = %+v, want %+v", again, upd)
	}
	if _, err := s.GetWebhook(ctx, "wh_other"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("GetWebhook(id set by fn) = %v, want ErrNotFound", err)
	}

	errAbort := errors.New("abort")
	if _, err := s.UpdateWebhook(ctx, "wh_crud", func(w *kv.Webhook) error {
		w.URL = "https://receiver.example/aborted"
		return errAbort
	}); err != errAbort {
		t.Fatalf("UpdateWebhook(fn fails) = %v, want fn's error as is", err)
	}
	if again := getWebhook(t, s, "wh_crud"); again.URL != upd.URL {
		t.Fatalf("aborted update was stored: url %q", again.URL)
	}

	if err := s.DeleteWebhook(ctx, "wh_crud"); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	if _, err := s.GetWebhook(ctx, "wh_crud"); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("GetWebhook after delete = %v, want ErrNotFound", err)
	}
	if err := s.CreateWebhook(ctx, newWebhook("wh_crud", base)); err != nil {
		t.Fatalf("CreateWebhook after delete: %v", err)
	}
}

func testNotFound(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_known", base))
	d := createDelivery(t, s, "wh_known", "evt_1", base)
	checks := map[string]error{}
	_, checks["GetWebhook"] = s.GetWebhook(ctx, "wh_missing")
	_, checks["UpdateWebhook"] = s.UpdateWebhook(ctx, "wh_missing", func(*kv.Webhook) error { return nil })
	checks["DeleteWebhook"] = s.DeleteWebhook(ctx, "wh_missing")
	_, checks["GetDelivery"] = s.GetDelivery(ctx, "wh_known", d.ID+1000)
	_, checks["GetDelivery other webhook"] = s.GetDelivery(ctx, "wh_missing", d.ID)
	_, checks["RequeueDelivery"] = s.RequeueDelivery(ctx, "wh_known", d.ID+1000, base)
	_, checks["WebhookStats"] = s.WebhookStats(ctx, "wh_missing", base)
	_, checks["CreateDelivery"] = s.CreateDelivery(ctx, newDelivery("wh_missing", "evt_1", base))
	for name, err := range checks {
		if !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("%s(unknown) = %v, want ErrNotFound", name, err)
		}
	}
}

func testConcurrentUpdate(t *testing.T, s kv.Store) {
	createWebhook(t, s, newWebhook("wh_counter", base))
	const workers, each = 20, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := s.UpdateWebhook(context.Background(), "wh_counter", func(w *kv.Webhook) error {
					w.ConsecutiveFailures++
					return nil
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("UpdateWebhook: %v", err)
	}
	if got := getWebhook(t, s, "wh_counter").ConsecutiveFailures; got != workers*each {
		t.Fatalf("counter = %d after %d increments: updates were lost", got, workers*each)
	}
}

// listFixture creates webhooks of several scopes, one second apart, and
// returns them oldest first.
func listFixture(t *testing.T, s kv.Store) []*kv.Webhook {
	t.Helper()
	scopes := []struct{ id, tenant, partner string }{
		{"wh_a1", "tnt_a", "prt_x"},
		{"wh_p1", "", "prt_x"},
		{"wh_g1", "", ""},
		{"wh_b1", "tnt_b", "prt_x"},
		{"wh_c1", "tnt_c", "prt_y"},
		{"wh_a2", "tnt_a", "prt_x"},
		{"wh_a3", "tnt_a", ""},
		{"wh_d1", "tnt_a", "prt_y"},
		{"wh_p2", "", "prt_y"},
		{"wh_a4", "tnt_a", "prt_x"},
	}
	var out []*kv.Webhook
	// Created out of time order so that newest first is not insertion order.
	order := []int{3, 0, 9, 1, 5, 2, 8, 4, 7, 6}
	for _, i := range order {
		sc := scopes[i]
		w := newWebhook(sc.id, base.Add(time.Duration(i)*time.Second))
		w.TenantID, w.PartnerID = sc.tenant, sc.partner
		createWebhook(t, s, w)
	}
	for i, sc := range scopes {
		w := newWebhook(sc.id, base.Add(time.Duration(i)*time.Second))
		w.TenantID, w.PartnerID = sc.tenant, sc.partner
		out = append(out, w)
	}
	return out
}

// wantList is the reference: matching webhooks, newest first.
func wantList(all []*kv.Webhook, f kv.WebhookFilter) []string {
	var out []*kv.Webhook
	for _, w := range all {
		if (f.TenantID == "" || w.TenantID == f.TenantID) && (f.PartnerID == "" || w.PartnerID == f.PartnerID) {
			out = append(out, w)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	return webhookIDs(out)
}

func testListWebhooks(t *testing.T, s kv.Store) {
	ctx := context.Background()
	all := listFixture(t, s)
	filters := []kv.WebhookFilter{
		{},
		{TenantID: "tnt_a"},
		{PartnerID: "prt_x"},
		{PartnerID: "prt_y"},
		{TenantID: "tnt_a", PartnerID: "prt_x"},
		{TenantID: "tnt_a", PartnerID: "prt_y"},
		{TenantID: "tnt_b", PartnerID: "prt_y"},
		{TenantID: "tnt_none"},
		{PartnerID: "prt_none"},
	}
	for _, f := range filters {
		want := wantList(all, f)
		got, total, err := s.ListWebhooks(ctx, f)
		if err != nil {
			t.Fatalf("ListWebhooks(%+v): %v", f, err)
		}
		if !slices.Equal(webhookIDs(got), want) || total != len(want) {
			t.Errorf("ListWebhooks(%+v) = %v total %d, want %v total %d", f, webhookIDs(got), total, want, len(want))
		}
		// Pages of 3 put back together give the whole list.
		var paged []string
		for off := 0; off < len(want)+3; off += 3 {
			f.Offset, f.Limit = off, 3
			page, total, err := s.ListWebhooks(ctx, f)
			if err != nil {
				t.Fatalf("ListWebhooks(%+v): %v", f, err)
			}
			if total != len(want) || len(page) > 3 {
				t.Errorf("ListWebhooks(%+v) = %d items total %d, want at most 3 and total %d", f, len(page), total, len(want))
			}
			paged = append(paged, webhookIDs(page)...)
		}
		if !slices.Equal(paged, want) {
			t.Errorf("pages of %+v = %v, want %v", f, paged, want)
		}
	}
	if got, _, _ := s.ListWebhooks(ctx, kv.WebhookFilter{PartnerID: "prt_x"}); len(got) > 0 && got[0].Secret == "" {
		t.Errorf("listed webhooks lack their fields: %+v", got[0])
	}
}

func testListAfterScopeChange(t *testing.T, s kv.Store) {
	ctx := context.Background()
	all := listFixture(t, s)
	// Move wh_a2 to tenant b of partner y, and wh_g1 back in time.
	moved := map[string]func(*kv.Webhook){
		"wh_a2": func(w *kv.Webhook) { w.TenantID, w.PartnerID = "tnt_b", "prt_y" },
		"wh_g1": func(w *kv.Webhook) { w.CreatedAt = base.Add(-time.Hour) },
	}
	for id, fn := range moved {
		if _, err := s.UpdateWebhook(ctx, id, func(w *kv.Webhook) error { fn(w); return nil }); err != nil {
			t.Fatalf("UpdateWebhook(%s): %v", id, err)
		}
		for _, w := range all {
			if w.ID == id {
				fn(w)
			}
		}
	}
	for _, f := range []kv.WebhookFilter{{}, {TenantID: "tnt_a"}, {TenantID: "tnt_b"}, {PartnerID: "prt_x"}, {TenantID: "tnt_b", PartnerID: "prt_y"}} {
		got, total, err := s.ListWebhooks(ctx, f)
		if want := wantList(all, f); err != nil || !slices.Equal(webhookIDs(got), want) || total != len(want) {
			t.Errorf("ListWebhooks(%+v) after update = %v total %d err %v, want %v", f, webhookIDs(got), total, err, want)
		}
	}
}

func testDeleteCascades(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_gone", base))
	createWebhook(t, s, newWebhook("wh_kept", base.Add(time.Second)))
	var gone []*kv.Delivery
	for i := range 3 {
		d := createDelivery(t, s, "wh_gone", fmt.Sprintf("evt_%d", i), base)
		record(t, s, attempt(d, base, 20, 200, true))
		gone = append(gone, d)
	}
	kept := createDelivery(t, s, "wh_kept", "evt_0", base)

	if err := s.DeleteWebhook(ctx, "wh_gone"); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	for _, d := range gone {
		if _, err := s.GetDelivery(ctx, "wh_gone", d.ID); !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("GetDelivery(%d) after delete = %v, want ErrNotFound", d.ID, err)
		}
	}
	if res := record(t, s, attempt(gone[0], base, 20, 200, true)); !res.Stale {
		t.Errorf("RecordAttempt on a deleted webhook's delivery: Stale = false")
	}
	if _, err := s.WebhookStats(ctx, "wh_gone", base); !errors.Is(err, kv.ErrNotFound) {
		t.Errorf("WebhookStats after delete = %v, want ErrNotFound", err)
	}
	if got, total, _ := s.ListWebhooks(ctx, kv.WebhookFilter{}); total != 1 || len(got) != 1 || got[0].ID != "wh_kept" {
		t.Errorf("ListWebhooks after delete = %v total %d, want [wh_kept]", webhookIDs(got), total)
	}
	if d := getDelivery(t, s, "wh_kept", kept.ID); d.EventID != "evt_0" {
		t.Errorf("the other webhook's delivery changed: %+v", d)
	}

	// The same id again starts empty: no deliveries, stats or idempotency keys.
	createWebhook(t, s, newWebhook("wh_gone", base))
	if got, total, err := s.ListDeliveries(ctx, kv.DeliveryFilter{WebhookID: "wh_gone"}); err != nil || total != 0 || len(got) != 0 {
		t.Errorf("ListDeliveries of the re-created webhook = %d items total %d err %v, want none", len(got), total, err)
	}
	st, err := s.WebhookStats(ctx, "wh_gone", base)
	if err != nil || st.Total != 0 || st.Success != 0 || st.LastDelivery != nil || st.AvgLatencyMS != 0 {
		t.Errorf("WebhookStats of the re-created webhook = %+v, %v; want zeros", st, err)
	}
	d := newDelivery("wh_gone", "evt_0", base)
	if created, err := s.CreateDelivery(ctx, d); err != nil || !created || d.ID == gone[0].ID {
		t.Errorf("CreateDelivery(old event) after re-create = %v, %v id %d; want a new delivery", created, err, d.ID)
	}
}

func testClosed(t *testing.T, s kv.Store) {
	ctx := context.Background()
	createWebhook(t, s, newWebhook("wh_1", base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checks := map[string]error{}
	_, checks["GetWebhook"] = s.GetWebhook(ctx, "wh_1")
	checks["CreateWebhook"] = s.CreateWebhook(ctx, newWebhook("wh_2", base))
	_, _, checks["ListWebhooks"] = s.ListWebhooks(ctx, kv.WebhookFilter{})
	_, checks["CreateDelivery"] = s.CreateDelivery(ctx, newDelivery("wh_1", "evt_1", base))
	_, checks["RecordAttempt"] = s.RecordAttempt(ctx, kv.AttemptOutcome{WebhookID: "wh_1", DeliveryID: 1})
	checks["WatchWebhooks"] = s.WatchWebhooks(ctx, func(kv.WebhookChange) {})
	for name, err := range checks {
		if !errors.Is(err, kv.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}
