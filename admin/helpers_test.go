package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

var testKey = []byte("0123456789abcdef0123456789abcdef-test-key")

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeTasks records what admin publishes and purges, and serves envelopes
// by sequence.
type fakeTasks struct {
	mu         sync.Mutex
	published  []bus.Task
	purged     []string
	events     map[uint64][]byte
	publishErr error
	getEvent   int
}

func (f *fakeTasks) PublishTasks(_ context.Context, tasks []bus.Task) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.publishErr != nil {
		return f.publishErr
	}
	f.published = append(f.published, tasks...)
	return nil
}

func (f *fakeTasks) PurgeTasks(_ context.Context, webhookID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purged = append(f.purged, webhookID)
	return nil
}

func (f *fakeTasks) GetEvent(_ context.Context, seq uint64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getEvent++
	b, ok := f.events[seq]
	if !ok {
		return nil, fmt.Errorf("get event %d: %w", seq, bus.ErrEventGone)
	}
	return b, nil
}

func (f *fakeTasks) setEvent(seq uint64, body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.events == nil {
		f.events = map[uint64][]byte{}
	}
	f.events[seq] = body
}

func (f *fakeTasks) failPublish(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.publishErr = err
}

func (f *fakeTasks) getEventCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.getEvent
}

func (f *fakeTasks) snapshot() ([]bus.Task, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bus.Task(nil), f.published...), append([]string(nil), f.purged...)
}

// fakeTester records a test delivery the way fanout does: a delivery
// keeping its envelope, one attempt, no retries. code 0 means the endpoint
// could not be reached.
type fakeTester struct {
	store kv.Store
	clock *clock
	mu    sync.Mutex
	code  int
	calls []testCall
}

type testCall struct {
	webhookID, eventType string
	data                 string
}

func (f *fakeTester) Test(ctx context.Context, w *kv.Webhook, eventType string, data json.RawMessage) (*kv.Delivery, error) {
	f.mu.Lock()
	code := f.code
	f.calls = append(f.calls, testCall{w.ID, eventType, string(data)})
	n := len(f.calls)
	f.mu.Unlock()
	now := f.clock.Now()
	d := &kv.Delivery{
		WebhookID: w.ID, EventID: fmt.Sprintf("evt_test_%d", n), EventType: eventType,
		TenantID: w.TenantID, PartnerID: w.PartnerID,
		Payload:   []byte(fmt.Sprintf(`{"event_id":"evt_test_%d","event_type":%q}`, n, eventType)),
		CreatedAt: now, UpdatedAt: now,
	}
	if _, err := f.store.CreateDelivery(ctx, d); err != nil {
		return nil, err
	}
	at := kv.Attempt{StartedAt: now, DurationMS: 12, StatusCode: code, Trigger: kv.TriggerTest}
	if code == 0 {
		at.Error = "connection refused"
	} else if code/100 != 2 {
		at.Error = fmt.Sprintf("status %d", code)
	}
	res, err := f.store.RecordAttempt(ctx, kv.AttemptOutcome{
		WebhookID: w.ID, DeliveryID: d.ID, Generation: d.Generation, Attempt: at,
		Success: code/100 == 2, Final: true,
	})
	if err != nil {
		return nil, err
	}
	return res.Delivery, nil
}

func (f *fakeTester) answer(code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.code = code
}

func (f *fakeTester) callsMade() []testCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]testCall(nil), f.calls...)
}

// faultStore is the real store with injectable failures, for the error
// mapping tests.
type faultStore struct {
	kv.Store
	mu  sync.Mutex
	err error // returned by GetWebhook and ListWebhooks when set
}

func (s *faultStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.err = err
}

func (s *faultStore) injected() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *faultStore) GetWebhook(ctx context.Context, id string) (*kv.Webhook, error) {
	if err := s.injected(); err != nil {
		return nil, err
	}
	return s.Store.GetWebhook(ctx, id)
}

func (s *faultStore) ListWebhooks(ctx context.Context, f kv.WebhookFilter) ([]*kv.Webhook, int, error) {
	if err := s.injected(); err != nil {
		return nil, 0, err
	}
	return s.Store.ListWebhooks(ctx, f)
}

// fixture is one API over a real bbolt store in t.TempDir().
type fixture struct {
	t      *testing.T
	api    *API
	srv    *httptest.Server
	store  *faultStore
	bolt   *kv.Bolt
	tasks  *fakeTasks
	tester *fakeTester
	clock  *clock
	logs   *syncBuffer
	seen   *coverage
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var t0 = time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)

func openBolt(t *testing.T) *kv.Bolt {
	t.Helper()
	b, err := kv.OpenBolt(kv.BoltOptions{Path: filepath.Join(t.TempDir(), "webhookd.db"), Timeout: time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("OpenBolt: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Check(); err != nil {
			t.Errorf("bolt consistency check: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("bolt close: %v", err)
		}
	})
	return b
}

// setup builds a fixture; mod may change the Config before New.
func setup(t *testing.T, mod ...func(*Config)) *fixture {
	t.Helper()
	b := openBolt(t)
	clk := &clock{now: t0}
	f := &fixture{
		t: t, bolt: b, store: &faultStore{Store: b}, tasks: &fakeTasks{}, clock: clk,
		logs: &syncBuffer{}, seen: &coverage{hits: map[string]bool{}},
	}
	f.tester = &fakeTester{store: b, clock: clk, code: 200}
	cfg := Config{
		Store:  f.store,
		Tasks:  f.tasks,
		Tester: f.tester,
		Auth:   AuthConfig{HS256Key: testKey},
		Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    clk.Now,
	}
	for _, m := range mod {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.api = a
	f.srv = httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		f.srv.Close()
		a.Close()
	})
	return f
}

// Principals of the scoping table.
var (
	superAdmin   = TokenClaims{Role: "super_admin", Subject: "root"}
	platformRO   = TokenClaims{Platform: true, Scope: "admin:read", Subject: "svc-ro"}
	platformRW   = TokenClaims{Platform: true, Scope: "admin:read admin:write", Subject: "svc-rw"}
	partnerP     = TokenClaims{Role: "partner_admin", PartnerID: "prt_p", Subject: "pa"}
	partnerQ     = TokenClaims{Role: "partner_admin", PartnerID: "prt_q", Subject: "qa"}
	tenantTofP   = TokenClaims{Role: "tenant_admin", TenantID: "tnt_t", PartnerID: "prt_p", Subject: "ta"}
	tenantUofQ   = TokenClaims{Role: "tenant_admin", TenantID: "tnt_u", PartnerID: "prt_q", Subject: "ua"}
	platformNone = TokenClaims{Platform: true, Subject: "svc-none"}
)

func (f *fixture) token(c TokenClaims) string {
	f.t.Helper()
	tok, err := MintToken(testKey, c, time.Hour, f.clock.Now())
	if err != nil {
		f.t.Fatalf("MintToken: %v", err)
	}
	return tok
}

// response is one answer, read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d answer %q: %v", r.status, r.body, err)
	}
}

func (r *response) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	r.json(t, &m)
	return m
}

// detail returns the string detail of an error answer.
func (r *response) detail(t *testing.T) string {
	t.Helper()
	var d struct {
		Detail string `json:"detail"`
	}
	r.json(t, &d)
	return d.Detail
}

// do sends one request; body is sent as is when it is a string or []byte,
// else as JSON. Every answer is checked against the OpenAPI document.
func (f *fixture) do(method, path, token string, body any, hdr ...string) *response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			f.t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatalf("new request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatalf("read answer: %v", err)
	}
	r := &response{status: res.StatusCode, header: res.Header, body: b}
	checkAgainstOpenAPI(f.t, f.seen, f.api.cfg.Metrics != nil, method, req.URL.Path, r)
	return r
}

// as is do with the token of claims c.
func (f *fixture) as(c TokenClaims, method, path string, body any) *response {
	f.t.Helper()
	return f.do(method, path, f.token(c), body)
}

func expectStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status = %d, want %d; body %s", r.status, want, r.body)
	}
}

// createWebhook creates a webhook through the store directly, with the
// given owner, and returns it.
func (f *fixture) createWebhook(tenantID, partnerID string) *kv.Webhook {
	f.t.Helper()
	now := f.clock.Now()
	id, err := f.api.ids.webhookID(now)
	if err != nil {
		f.t.Fatal(err)
	}
	w := &kv.Webhook{
		ID: id, URL: "https://receiver.example/hook", Description: "d", Events: []string{"user.created"},
		Status: kv.WebhookActive, MaxRetries: 5, TimeoutSeconds: 10, TenantID: tenantID, PartnerID: partnerID,
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAA=", CreatedAt: now, UpdatedAt: now,
	}
	if err := f.bolt.CreateWebhook(context.Background(), w); err != nil {
		f.t.Fatalf("CreateWebhook: %v", err)
	}
	return w
}

// createDelivery stores a delivery of event seq for w and, unless status is
// pending, one final attempt leaving it in status.
func (f *fixture) createDelivery(w *kv.Webhook, eventID string, seq uint64, status kv.DeliveryStatus) *kv.Delivery {
	f.t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	d := &kv.Delivery{WebhookID: w.ID, EventID: eventID, EventType: "user.created", TenantID: w.TenantID,
		PartnerID: w.PartnerID, EventSeq: seq, CreatedAt: now, UpdatedAt: now}
	if _, err := f.bolt.CreateDelivery(ctx, d); err != nil {
		f.t.Fatalf("CreateDelivery: %v", err)
	}
	if status == kv.DeliveryPending {
		return d
	}
	code := 200
	if status == kv.DeliveryFailed {
		code = 500
	}
	at := kv.Attempt{StartedAt: now, DurationMS: 40, StatusCode: code, ResponseBody: "ok", Trigger: kv.TriggerScheduled}
	if code != 200 {
		at.Error = "status 500"
	}
	res, err := f.bolt.RecordAttempt(ctx, kv.AttemptOutcome{WebhookID: w.ID, DeliveryID: d.ID, Generation: d.Generation,
		Attempt: at, Success: code == 200, Final: true})
	if err != nil || res.Stale {
		f.t.Fatalf("RecordAttempt: %v (stale %v)", err, res != nil && res.Stale)
	}
	return res.Delivery
}

func (f *fixture) storedWebhook(id string) *kv.Webhook {
	f.t.Helper()
	w, err := f.bolt.GetWebhook(context.Background(), id)
	if err != nil {
		f.t.Fatalf("GetWebhook(%s): %v", id, err)
	}
	return w
}

// validationTypes returns "loc:type" for each violation of a 422 answer.
func validationTypes(t *testing.T, r *response) []string {
	t.Helper()
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status = %d, want 422; body %s", r.status, r.body)
	}
	var v struct {
		Detail []struct {
			Loc  []any  `json:"loc"`
			Msg  string `json:"msg"`
			Type string `json:"type"`
		} `json:"detail"`
	}
	r.json(t, &v)
	var out []string
	for _, d := range v.Detail {
		parts := make([]string, len(d.Loc))
		for i, l := range d.Loc {
			parts[i] = fmt.Sprint(l)
		}
		if d.Msg == "" {
			t.Errorf("violation %v has no msg", d.Loc)
		}
		out = append(out, strings.Join(parts, ".")+":"+d.Type)
	}
	return out
}

var errInjected = errors.New("injected store failure: disk on fire at /var/secret/path")

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
