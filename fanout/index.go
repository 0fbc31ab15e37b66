package fanout

import (
	"slices"
	"sync"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// Index holds every webhook in memory, bucketed by scope (tenant T /
// partner P without tenant / platform-wide) and, within a scope, by exact
// type and by prefix, so Match cost does not grow with other tenants'
// webhooks. Safe for concurrent use (RWMutex). Feed it from
// kv.Store.WatchWebhooks.
//
// The index stores its own copy of every webhook it is given; Get and
// Match hand out that copy, shared by every caller: treat it as read-only.
// A later Apply replaces the pointer, it never mutates the old copy, so a
// webhook obtained from the index is a consistent snapshot.
type Index struct {
	mu       sync.RWMutex
	byID     map[string]*indexEntry
	tenants  map[string]*bucket
	partners map[string]*bucket
	platform *bucket
}

// indexEntry is one webhook and where it was filed, so Apply can unfile it.
type indexEntry struct {
	w     *kv.Webhook
	scope scopeRef
	// filed is true when w was active and placed in its scope's bucket.
	filed    bool
	patterns []bus.Pattern
}

type scopeKind uint8

const (
	scopePlatform scopeKind = iota
	scopeTenant
	scopePartner
)

type scopeRef struct {
	kind scopeKind
	id   string
}

// bucket holds one scope's active webhooks by pattern kind.
type bucket struct {
	exact  map[string][]filing // "user.created"
	prefix map[string][]filing // "user" for "user.*"
	all    []filing            // "*"
	// other holds patterns that are neither exact nor prefix; none exist
	// today, but a future pattern kind must still match (slowly).
	other []patternRef
	n     int // filings in this bucket, to drop it when empty
}

// filing is one webhook listed under one of its patterns. multi is true
// when the webhook has several patterns, so Match may meet it twice.
type filing struct {
	w     *kv.Webhook
	multi bool
}

type patternRef struct {
	p bus.Pattern
	f filing
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{
		byID:     make(map[string]*indexEntry),
		tenants:  make(map[string]*bucket),
		partners: make(map[string]*bucket),
		platform: newBucket(),
	}
}

func newBucket() *bucket {
	return &bucket{exact: make(map[string][]filing), prefix: make(map[string][]filing)}
}

// scopeOf places a webhook per contract section 2: a tenant webhook is
// filed under its tenant; Match then also checks its partner, if any.
func scopeOf(w *kv.Webhook) scopeRef {
	switch {
	case w.TenantID != "":
		return scopeRef{scopeTenant, w.TenantID}
	case w.PartnerID != "":
		return scopeRef{scopePartner, w.PartnerID}
	default:
		return scopeRef{kind: scopePlatform}
	}
}

// Apply inserts, replaces or (c.Webhook nil) deletes one webhook. The
// webhook is keyed by c.ID, or by c.Webhook.ID when c.ID is empty.
func (ix *Index) Apply(c kv.WebhookChange) {
	id := c.ID
	if id == "" && c.Webhook != nil {
		id = c.Webhook.ID
	}
	var e *indexEntry
	if c.Webhook != nil {
		w := c.Webhook.Clone()
		e = &indexEntry{w: w, scope: scopeOf(w)}
		if w.Status == kv.WebhookActive {
			e.patterns = parsePatterns(w.Events)
		}
	}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.byID[id]; ok {
		ix.unfile(old)
		delete(ix.byID, id)
		forgetSecrets(goneSecrets(old.w, c.Webhook)...)
	}
	if e == nil {
		return
	}
	ix.byID[id] = e
	ix.file(e)
}

// goneSecrets are the secrets of old that now is without (all of them
// when now is nil: the webhook was deleted).
func goneSecrets(old, now *kv.Webhook) []string {
	var gone []string
	for _, s := range []string{old.Secret, old.PreviousSecret} {
		if s != "" && (now == nil || (s != now.Secret && s != now.PreviousSecret)) {
			gone = append(gone, s)
		}
	}
	return gone
}

// parsePatterns keeps the valid, distinct patterns. Invalid ones cannot be
// stored through the admin API; one that slips in matches nothing.
func parsePatterns(events []string) []bus.Pattern {
	out := make([]bus.Pattern, 0, len(events))
	seen := make(map[string]struct{}, len(events))
	for _, s := range events {
		if _, dup := seen[s]; dup {
			continue
		}
		seen[s] = struct{}{}
		p, err := bus.ParsePattern(s)
		if err != nil {
			continue
		}
		out = append(out, p)
	}
	return out
}

func (ix *Index) bucketFor(s scopeRef, create bool) *bucket {
	var m map[string]*bucket
	switch s.kind {
	case scopeTenant:
		m = ix.tenants
	case scopePartner:
		m = ix.partners
	default:
		return ix.platform
	}
	b := m[s.id]
	if b == nil && create {
		b = newBucket()
		m[s.id] = b
	}
	return b
}

func (ix *Index) file(e *indexEntry) {
	if e.w.Status != kv.WebhookActive || len(e.patterns) == 0 {
		return
	}
	b := ix.bucketFor(e.scope, true)
	f := filing{w: e.w, multi: len(e.patterns) > 1}
	for _, p := range e.patterns {
		if t, ok := p.Exact(); ok {
			b.exact[t] = append(b.exact[t], f)
		} else if pre, ok := p.Prefix(); ok {
			if pre == "" {
				b.all = append(b.all, f)
			} else {
				b.prefix[pre] = append(b.prefix[pre], f)
			}
		} else {
			b.other = append(b.other, patternRef{p, f})
		}
		b.n++
	}
	e.filed = true
}

func (ix *Index) unfile(e *indexEntry) {
	if !e.filed {
		return
	}
	b := ix.bucketFor(e.scope, false)
	if b == nil {
		return
	}
	for _, p := range e.patterns {
		if t, ok := p.Exact(); ok {
			b.exact[t] = removeWebhook(b.exact[t], e.w)
			if len(b.exact[t]) == 0 {
				delete(b.exact, t)
			}
		} else if pre, ok := p.Prefix(); ok {
			if pre == "" {
				b.all = removeWebhook(b.all, e.w)
			} else {
				b.prefix[pre] = removeWebhook(b.prefix[pre], e.w)
				if len(b.prefix[pre]) == 0 {
					delete(b.prefix, pre)
				}
			}
		} else {
			b.other = slices.DeleteFunc(b.other, func(r patternRef) bool { return r.f.w == e.w })
		}
		b.n--
	}
	e.filed = false
	if b.n <= 0 {
		switch e.scope.kind {
		case scopeTenant:
			delete(ix.tenants, e.scope.id)
		case scopePartner:
			delete(ix.partners, e.scope.id)
		}
	}
}

// removeWebhook drops w's filing from s (DeleteFunc also clears the spare
// capacity, so no dangling pointer stays reachable).
func removeWebhook(s []filing, w *kv.Webhook) []filing {
	return slices.DeleteFunc(s, func(f filing) bool { return f.w == w })
}

// Match appends to dst the active webhooks whose pattern matches eventType
// and whose scope covers an event of tenantID / partnerID (contract section
// 2), each once, and returns the extended slice. The appended values are
// shared read-only snapshots. Only the event's own tenant bucket, its
// partner's bucket and the platform bucket are looked at.
func (ix *Index) Match(eventType, tenantID, partnerID string, dst []*kv.Webhook) []*kv.Webhook {
	if eventType == "" {
		return dst // no pattern matches an empty type, "*" included
	}
	var m matchState
	m.dst = dst
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if tenantID != "" {
		if b := ix.tenants[tenantID]; b != nil {
			// A tenant webhook that also names a partner only gets its
			// tenant's events published under that partner (or under none):
			// a partner admin may name a tenant_id at create, and without
			// this it could name another partner's tenant and receive its
			// events.
			m.partner, m.checkPartner = partnerID, partnerID != ""
			b.match(eventType, &m)
			m.checkPartner = false
		}
	}
	if partnerID != "" {
		if b := ix.partners[partnerID]; b != nil {
			b.match(eventType, &m)
		}
	}
	ix.platform.match(eventType, &m)
	return m.dst
}

// matchState collects one Match call's result. Only a webhook with several
// patterns can be listed twice, so only those are remembered for dedup: in
// a fixed array first (no allocation), in a map past that.
type matchState struct {
	dst []*kv.Webhook
	// checkPartner skips webhooks whose partner_id is set and differs from
	// partner (the event's).
	partner      string
	checkPartner bool
	multi        [16]*kv.Webhook
	multiN       int
	multiSeen    map[*kv.Webhook]struct{}
}

func (m *matchState) add(fs []filing) {
	for _, f := range fs {
		if m.checkPartner && f.w.PartnerID != "" && f.w.PartnerID != m.partner {
			continue
		}
		if f.multi && m.seen(f.w) {
			continue
		}
		m.dst = append(m.dst, f.w)
	}
}

// seen records w and reports whether it was recorded before.
func (m *matchState) seen(w *kv.Webhook) bool {
	if m.multiSeen != nil {
		if _, ok := m.multiSeen[w]; ok {
			return true
		}
		m.multiSeen[w] = struct{}{}
		return false
	}
	if slices.Contains(m.multi[:m.multiN], w) {
		return true
	}
	if m.multiN < len(m.multi) {
		m.multi[m.multiN] = w
		m.multiN++
		return false
	}
	m.multiSeen = make(map[*kv.Webhook]struct{}, 4*len(m.multi))
	for _, x := range m.multi {
		m.multiSeen[x] = struct{}{}
	}
	m.multiSeen[w] = struct{}{}
	return false
}

func (b *bucket) match(eventType string, m *matchState) {
	m.add(b.exact[eventType])
	if len(b.prefix) > 0 {
		// Every proper token prefix: "a.b.c" looks up "a" and "a.b".
		for i := 0; i < len(eventType); i++ {
			if eventType[i] == '.' {
				m.add(b.prefix[eventType[:i]])
			}
		}
	}
	m.add(b.all)
	for _, r := range b.other {
		if r.p.Match(eventType) {
			m.add([]filing{r.f})
		}
	}
}

// Get returns the webhook with this id (whatever its status) as a shared
// read-only snapshot.
func (ix *Index) Get(id string) (*kv.Webhook, bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	e, ok := ix.byID[id]
	if !ok {
		return nil, false
	}
	return e.w, true
}

// Len is the number of webhooks held, whatever their status.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.byID)
}
