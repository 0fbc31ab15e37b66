package fanout

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/scailabs/webhookd/kv"
)

func hook(id, tenant, partner string, events ...string) *kv.Webhook {
	return &kv.Webhook{ID: id, TenantID: tenant, PartnerID: partner, Events: events, Status: kv.WebhookActive}
}

func newTestIndex(t testing.TB, ws ...*kv.Webhook) *Index {
	t.Helper()
	ix := NewIndex()
	for _, w := range ws {
		ix.Apply(kv.WebhookChange{ID: w.ID, Webhook: w})
	}
	return ix
}

// matchIDs returns the matched ids sorted, failing on a duplicate.
func matchIDs(t testing.TB, ix *Index, eventType, tenant, partner string) []string {
	t.Helper()
	var ids []string
	for _, w := range ix.Match(eventType, tenant, partner, nil) {
		ids = append(ids, w.ID)
	}
	slices.Sort(ids)
	if i := len(slices.Compact(slices.Clone(ids))); i != len(ids) {
		t.Fatalf("Match(%q, %q, %q) listed a webhook twice: %v", eventType, tenant, partner, ids)
	}
	return ids
}

func TestIndexMatchScopes(t *testing.T) {
	t.Parallel()
	inactive := hook("inactive", "t1", "", "*")
	inactive.Status = kv.WebhookInactive
	disabled := hook("disabled", "", "", "*")
	disabled.Status = kv.WebhookDisabled
	ix := newTestIndex(t,
		hook("t1_exact", "t1", "", "user.created"),
		hook("t2_exact", "t2", "", "user.created"),
		hook("t1_of_p1", "t1", "p1", "user.*"), // filed by tenant, checked against partner
		hook("p1_all", "", "p1", "*"),
		hook("p2_exact", "", "p2", "user.created"),
		hook("platform_prefix", "", "", "user.*"),
		hook("t1_multi", "t1", "", "user.*", "user.created", "*", "user.created"),
		hook("t3_deep", "t3", "", "a.b.*", "a.*"),
		inactive, disabled,
	)
	tests := []struct {
		eventType, tenant, partner string
		want                       []string
	}{
		{"user.created", "t1", "p1", []string{"p1_all", "platform_prefix", "t1_exact", "t1_multi", "t1_of_p1"}},
		{"user.created", "t2", "p1", []string{"p1_all", "platform_prefix", "t2_exact"}},
		{"user.created", "", "p1", []string{"p1_all", "platform_prefix"}},
		{"user.created", "", "", []string{"platform_prefix"}},
		{"user.created", "t1", "", []string{"platform_prefix", "t1_exact", "t1_multi", "t1_of_p1"}},
		// t1_of_p1 names partner p1: an event of tenant t1 published under
		// another partner does not reach it (a partner admin cannot
		// subscribe to another partner's tenant by naming it).
		{"user.created", "t1", "p2", []string{"p2_exact", "platform_prefix", "t1_exact", "t1_multi"}},
		{"user.created", "t9", "p9", []string{"platform_prefix"}},
		{"user.mfa.enabled", "t1", "p1", []string{"p1_all", "platform_prefix", "t1_multi", "t1_of_p1"}},
		{"username.x", "t1", "p1", []string{"p1_all", "t1_multi"}},
		{"user", "t1", "p1", []string{"p1_all", "t1_multi"}},
		{"order.paid", "t2", "p2", nil},
		{"a.b.c", "t3", "", []string{"t3_deep"}},
		{"a.b", "t3", "", []string{"t3_deep"}},
		{"a", "t3", "", nil},
		{"", "t1", "p1", nil},
	}
	for _, tt := range tests {
		got := matchIDs(t, ix, tt.eventType, tt.tenant, tt.partner)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q, tenant %q, partner %q) = %v, want %v", tt.eventType, tt.tenant, tt.partner, got, tt.want)
		}
	}
}

func TestIndexMatchAppendsToDst(t *testing.T) {
	t.Parallel()
	ix := newTestIndex(t, hook("a", "", "", "*"))
	keep := &kv.Webhook{ID: "keep"}
	// keep is already in dst; a webhook equal to it must still be appended
	// (dedup covers this call's matches only).
	got := ix.Match("x.y", "", "", []*kv.Webhook{keep})
	if len(got) != 2 || got[0] != keep || got[1].ID != "a" {
		t.Fatalf("Match appended wrongly: %v", got)
	}
}

func TestIndexApply(t *testing.T) {
	t.Parallel()
	ix := NewIndex()
	w := hook("wh_1", "t1", "", "user.created")
	ix.Apply(kv.WebhookChange{ID: w.ID, Webhook: w})

	// The index keeps its own copy: changing the caller's value later
	// must not change what the index holds or matches.
	w.Events[0] = "order.paid"
	w.TenantID = "t2"
	if got := matchIDs(t, ix, "user.created", "t1", ""); !slices.Equal(got, []string{"wh_1"}) {
		t.Fatalf("after mutating the caller's copy: %v", got)
	}
	if got, _ := ix.Get("wh_1"); got.TenantID != "t1" || got.Events[0] != "user.created" {
		t.Fatalf("Get returned %+v", got)
	}

	steps := []struct {
		name   string
		change kv.WebhookChange
		check  func(t *testing.T)
	}{
		{"move to platform with a new pattern", kv.WebhookChange{ID: "wh_1", Webhook: hook("wh_1", "", "", "order.*")}, func(t *testing.T) {
			if got := matchIDs(t, ix, "user.created", "t1", ""); len(got) != 0 {
				t.Errorf("old pattern still matches: %v", got)
			}
			if got := matchIDs(t, ix, "order.paid", "t5", "p5"); !slices.Equal(got, []string{"wh_1"}) {
				t.Errorf("new pattern does not match: %v", got)
			}
		}},
		{"deactivate", kv.WebhookChange{ID: "wh_1", Webhook: func() *kv.Webhook {
			w := hook("wh_1", "", "", "order.*")
			w.Status = kv.WebhookInactive
			return w
		}()}, func(t *testing.T) {
			if got := matchIDs(t, ix, "order.paid", "", ""); len(got) != 0 {
				t.Errorf("inactive webhook matched: %v", got)
			}
			if got, ok := ix.Get("wh_1"); !ok || got.Status != kv.WebhookInactive {
				t.Errorf("Get = %v, %v; want the inactive webhook", got, ok)
			}
			if ix.Len() != 1 {
				t.Errorf("Len = %d, want 1", ix.Len())
			}
		}},
		{"reactivate under a partner, id taken from the webhook", kv.WebhookChange{Webhook: hook("wh_1", "", "p1", "order.paid")}, func(t *testing.T) {
			if got := matchIDs(t, ix, "order.paid", "t1", "p1"); !slices.Equal(got, []string{"wh_1"}) {
				t.Errorf("reactivated webhook: %v", got)
			}
			if got := matchIDs(t, ix, "order.paid", "", "p2"); len(got) != 0 {
				t.Errorf("matched another partner: %v", got)
			}
		}},
		{"delete", kv.WebhookChange{ID: "wh_1"}, func(t *testing.T) {
			if got := matchIDs(t, ix, "order.paid", "t1", "p1"); len(got) != 0 {
				t.Errorf("deleted webhook matched: %v", got)
			}
			if _, ok := ix.Get("wh_1"); ok {
				t.Error("Get found a deleted webhook")
			}
			if ix.Len() != 0 {
				t.Errorf("Len = %d, want 0", ix.Len())
			}
			if len(ix.partners) != 0 || len(ix.tenants) != 0 {
				t.Errorf("empty scope buckets kept: %d partners, %d tenants", len(ix.partners), len(ix.tenants))
			}
		}},
		{"delete unknown is a no-op", kv.WebhookChange{ID: "nope"}, func(t *testing.T) {
			if ix.Len() != 0 {
				t.Errorf("Len = %d", ix.Len())
			}
		}},
	}
	for _, s := range steps {
		ix.Apply(s.change)
		t.Run(s.name, s.check)
	}
}

func TestIndexSnapshotIsStable(t *testing.T) {
	t.Parallel()
	ix := newTestIndex(t, hook("wh_1", "t1", "", "*"))
	before, _ := ix.Get("wh_1")
	next := hook("wh_1", "t1", "", "*")
	next.URL = "https://new.example"
	ix.Apply(kv.WebhookChange{ID: "wh_1", Webhook: next})
	if before.URL != "" {
		t.Fatal("Apply changed a snapshot handed out earlier")
	}
	if after, _ := ix.Get("wh_1"); after.URL != "https://new.example" {
		t.Fatalf("Get after replace: %q", after.URL)
	}
}

// refMatch is the contract's rule written naively, to compare against.
func refMatch(ws map[string]*kv.Webhook, eventType, tenant, partner string) []string {
	var out []string
	for id, w := range ws {
		if w.Status != kv.WebhookActive {
			continue
		}
		switch {
		case w.TenantID != "":
			if w.TenantID != tenant || (w.PartnerID != "" && partner != "" && w.PartnerID != partner) {
				continue
			}
		case w.PartnerID != "":
			if w.PartnerID != partner {
				continue
			}
		}
		for _, p := range w.Events {
			pre, isPrefix := strings.CutSuffix(p, ".*")
			if p == "*" || p == eventType ||
				(isPrefix && strings.HasPrefix(eventType, pre+".") && len(eventType) > len(pre)+1) {
				out = append(out, id)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestIndexMatchesReference(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	patterns := []string{"*", "a.*", "a.b.*", "a.b", "a.b.c", "b.*", "b.c", "a"}
	types := []string{"a", "a.b", "a.b.c", "a.b.c.d", "b.c", "b.c.d", "ab.c", "c"}
	tenants := []string{"", "t1", "t2"}
	partners := []string{"", "p1", "p2"}
	statuses := []kv.WebhookStatus{kv.WebhookActive, kv.WebhookActive, kv.WebhookInactive, kv.WebhookDisabled}

	ix := NewIndex()
	ref := map[string]*kv.Webhook{}
	for step := range 3000 {
		id := fmt.Sprintf("wh_%d", rng.IntN(40))
		if rng.IntN(5) == 0 {
			ix.Apply(kv.WebhookChange{ID: id})
			delete(ref, id)
		} else {
			w := hook(id, pick(tenants...), pick(partners...))
			w.Status = statuses[rng.IntN(len(statuses))]
			for range 1 + rng.IntN(3) {
				w.Events = append(w.Events, pick(patterns...))
			}
			ix.Apply(kv.WebhookChange{ID: id, Webhook: w})
			ref[id] = w.Clone()
		}
		if ix.Len() != len(ref) {
			t.Fatalf("step %d: Len = %d, want %d", step, ix.Len(), len(ref))
		}
		et, tn, pt := pick(types...), pick(tenants...), pick(partners...)
		if got, want := matchIDs(t, ix, et, tn, pt), refMatch(ref, et, tn, pt); !slices.Equal(got, want) {
			t.Fatalf("step %d: Match(%q, %q, %q) = %v, want %v", step, et, tn, pt, got, want)
		}
	}
	for id := range ref {
		ix.Apply(kv.WebhookChange{ID: id})
	}
	if len(ix.tenants) != 0 || len(ix.partners) != 0 || ix.platform.n != 0 || len(ix.platform.exact) != 0 ||
		len(ix.platform.prefix) != 0 || len(ix.platform.all) != 0 {
		t.Fatal("buckets not empty after deleting everything")
	}
}

func TestIndexMatchNoAllocs(t *testing.T) {
	ix := newTestIndex(t,
		hook("a", "t1", "", "user.created"),
		hook("b", "t1", "", "user.*", "*"),
		hook("c", "", "p1", "user.*"),
		hook("d", "", "", "*"),
	)
	dst := make([]*kv.Webhook, 0, 8)
	var n int
	allocs := testing.AllocsPerRun(100, func() {
		n = len(ix.Match("user.created", "t1", "p1", dst[:0]))
	})
	if n != 4 {
		t.Fatalf("matched %d, want 4", n)
	}
	if allocs != 0 {
		t.Fatalf("Match allocates %v times per call with a large enough dst", allocs)
	}
}

func TestIndexConcurrent(t *testing.T) {
	t.Parallel()
	ix := NewIndex()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				id := fmt.Sprintf("wh_%d_%d", g, i%20)
				if i%7 == 0 {
					ix.Apply(kv.WebhookChange{ID: id})
					continue
				}
				ix.Apply(kv.WebhookChange{ID: id, Webhook: hook(id, "t1", "", "user.*")})
				for _, w := range ix.Match("user.created", "t1", "", nil) {
					if w.TenantID != "t1" {
						t.Errorf("matched %s of tenant %q", w.ID, w.TenantID)
					}
				}
				ix.Get(id)
				ix.Len()
			}
		}()
	}
	wg.Wait()
}

// BenchmarkIndexMatch shows that matching one tenant's event costs the
// same whether 10 or 100,000 webhooks of other tenants are registered.
func BenchmarkIndexMatch(b *testing.B) {
	for _, others := range []int{10, 100_000} {
		b.Run(fmt.Sprintf("others=%d", others), func(b *testing.B) {
			ix := NewIndex()
			for i := range others {
				id := fmt.Sprintf("wh_o%d", i)
				ix.Apply(kv.WebhookChange{ID: id, Webhook: hook(id, fmt.Sprintf("t_%d", i), fmt.Sprintf("p_%d", i%100), "user.created", "user.*")})
			}
			ix.Apply(kv.WebhookChange{ID: "mine1", Webhook: hook("mine1", "tnt_acme", "", "user.created")})
			ix.Apply(kv.WebhookChange{ID: "mine2", Webhook: hook("mine2", "tnt_acme", "", "user.*")})
			ix.Apply(kv.WebhookChange{ID: "mine3", Webhook: hook("mine3", "", "prt_x", "*")})
			dst := make([]*kv.Webhook, 0, 8)
			b.ReportAllocs()
			for b.Loop() {
				dst = ix.Match("user.mfa.enabled", "tnt_acme", "prt_x", dst[:0])
			}
			if len(dst) != 2 {
				b.Fatalf("matched %d, want 2", len(dst))
			}
		})
	}
}

func TestIndexDedupManyMultiPattern(t *testing.T) {
	t.Parallel()
	// More multi-pattern matches than matchState's fixed array holds, so
	// the map path dedups too.
	ix := NewIndex()
	for i := range 50 {
		id := fmt.Sprintf("wh_%02d", i)
		ix.Apply(kv.WebhookChange{ID: id, Webhook: hook(id, "t1", "", "*", "a.*", "a.b", "a.*")})
	}
	if got := matchIDs(t, ix, "a.b", "t1", ""); len(got) != 50 {
		t.Fatalf("matched %d webhooks, want 50", len(got))
	}
}

// pooled reports whether a signer keeps HMAC states keyed by secret.
func pooled(secret string) bool {
	standardMACs.mu.Lock()
	defer standardMACs.mu.Unlock()
	_, ok := standardMACs.m[secret]
	return ok
}

// The keyed HMAC states of a secret go when the secret does: rotated out,
// or with its webhook.
func TestIndexForgetsSecretsThatAreGone(t *testing.T) {
	t.Parallel()
	first, second := newSecret(), newSecret()
	sign := func(s string) { SignStandard([]string{s}, "evt_1", 1, []byte("{}")) }
	ix := NewIndex()
	w := &kv.Webhook{ID: "wh_secrets", Status: kv.WebhookActive, Events: []string{"*"}, Secret: first}
	ix.Apply(kv.WebhookChange{ID: w.ID, Webhook: w})
	sign(first)

	rotated := w.Clone()
	rotated.Secret, rotated.PreviousSecret = second, first
	ix.Apply(kv.WebhookChange{ID: w.ID, Webhook: rotated})
	sign(second)
	if !pooled(first) || !pooled(second) {
		t.Fatal("a secret still in use during the rotation overlap lost its states")
	}
	done := rotated.Clone()
	done.PreviousSecret = ""
	ix.Apply(kv.WebhookChange{ID: w.ID, Webhook: done})
	if pooled(first) || !pooled(second) {
		t.Fatalf("after the old secret was dropped: old pooled %v, new pooled %v; want false, true", pooled(first), pooled(second))
	}
	ix.Apply(kv.WebhookChange{ID: w.ID})
	if pooled(second) {
		t.Fatal("a deleted webhook's secret keeps its HMAC states")
	}
}
