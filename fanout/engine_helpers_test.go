package fanout

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// waitDeadline is generous: the test machine is small and loaded.
const waitDeadline = 20 * time.Second

// engLogger discards unless FANOUT_TEST_LOG is set.
func engLogger() *slog.Logger {
	if os.Getenv("FANOUT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is one test's engine on a real embedded NATS and a real bbolt
// file.
type harness struct {
	t     *testing.T
	bus   *bus.Bus
	store *kv.Bolt
	cfg   Config
	f     *Fanout
}

type harnessOpts struct {
	cfg     func(*Config)
	bus     func(*bus.Config)
	noStart bool
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	ctx := context.Background()
	bcfg := bus.Config{DataDir: t.TempDir(), Listen: "off", Logger: engLogger()}
	if o.bus != nil {
		o.bus(&bcfg)
	}
	b, err := bus.Start(ctx, bcfg)
	if err != nil {
		t.Fatalf("bus.Start: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	store, err := kv.OpenBolt(kv.BoltOptions{Path: filepath.Join(t.TempDir(), "webhookd.db"), Logger: engLogger()})
	if err != nil {
		t.Fatalf("kv.OpenBolt: %v", err)
	}
	t.Cleanup(func() {
		if err := store.Check(); err != nil && !errors.Is(err, kv.ErrClosed) {
			t.Errorf("store consistency: %v", err)
		}
		_ = store.Close()
	})
	cfg := Config{
		Bus:   b,
		Store: store,
		Sender: SenderConfig{
			Policy:    AddrPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
			AllowHTTP: true,
		},
		Schedule: Schedule{20 * time.Millisecond, 40 * time.Millisecond},
		Workers:  16,
		Logger:   engLogger(),
	}
	if o.cfg != nil {
		o.cfg(&cfg)
	}
	h := &harness{t: t, bus: b, store: store, cfg: cfg}
	if !o.noStart {
		h.start()
	}
	return h
}

// start builds and starts a new Fanout on the harness's bus and store;
// the test's cleanup stops it.
func (h *harness) start() *Fanout {
	h.t.Helper()
	f, err := New(h.cfg)
	if err != nil {
		h.t.Fatalf("New: %v", err)
	}
	if err := f.Start(context.Background()); err != nil {
		h.t.Fatalf("Start: %v", err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.Stop(ctx); err != nil {
			h.t.Errorf("Stop: %v", err)
		}
	})
	h.f = f
	return f
}

func newWebhookID() string { return "wh_" + strings.ToLower(rand.Text()) }

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// addWebhook stores an active webhook on url for events; mod adjusts it
// first.
func (h *harness) addWebhook(url string, events []string, mod func(*kv.Webhook)) *kv.Webhook {
	h.t.Helper()
	now := time.Now().UTC()
	w := &kv.Webhook{
		ID:             newWebhookID(),
		URL:            url,
		Events:         events,
		Status:         kv.WebhookActive,
		MaxRetries:     5,
		TimeoutSeconds: 5,
		Secret:         newSecret(),
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	if mod != nil {
		mod(w)
	}
	if err := h.store.CreateWebhook(context.Background(), w); err != nil {
		h.t.Fatalf("CreateWebhook: %v", err)
	}
	if h.f != nil {
		eventually(h.t, "webhook in the index", func() bool { _, ok := h.f.Index().Get(w.ID); return ok })
	}
	return w
}

type testEnvelope struct {
	EventID   string          `json:"event_id"`
	EventType string          `json:"event_type"`
	Timestamp string          `json:"timestamp"`
	Source    string          `json:"source"`
	TenantID  string          `json:"tenant_id,omitempty"`
	PartnerID string          `json:"partner_id,omitempty"`
	Data      json.RawMessage `json:"data"`
}

func envelopeBytes(t *testing.T, id, eventType, tenant, partner, data string) []byte {
	t.Helper()
	if data == "" {
		data = "{}"
	}
	b, err := json.Marshal(testEnvelope{EventID: id, EventType: eventType,
		Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), Source: "test",
		TenantID: tenant, PartnerID: partner, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publish publishes one event as a platform service would.
func (h *harness) publish(eventType, tenant, partner, data string) (string, []byte) {
	h.t.Helper()
	id := "evt_" + rand.Text()
	body := envelopeBytes(h.t, id, eventType, tenant, partner, data)
	if err := h.bus.PublishEvent(context.Background(), id, eventType, body); err != nil {
		h.t.Fatalf("PublishEvent: %v", err)
	}
	return id, body
}

// delivery finds the delivery of eventID to webhookID, nil if none.
func (h *harness) delivery(webhookID, eventID string) *kv.Delivery {
	h.t.Helper()
	for _, d := range h.deliveries(webhookID) {
		if d.EventID == eventID {
			got, err := h.store.GetDelivery(context.Background(), webhookID, d.ID)
			if err != nil {
				h.t.Fatalf("GetDelivery: %v", err)
			}
			return got
		}
	}
	return nil
}

func (h *harness) deliveries(webhookID string) []*kv.Delivery {
	h.t.Helper()
	ds, _, err := h.store.ListDeliveries(context.Background(), kv.DeliveryFilter{WebhookID: webhookID})
	if err != nil {
		h.t.Fatalf("ListDeliveries: %v", err)
	}
	return ds
}

// waitStatus waits until the delivery of eventID to webhookID has status.
func (h *harness) waitStatus(webhookID, eventID string, status kv.DeliveryStatus) *kv.Delivery {
	h.t.Helper()
	var d *kv.Delivery
	eventually(h.t, fmt.Sprintf("delivery of %s %s", eventID, status), func() bool {
		d = h.delivery(webhookID, eventID)
		return d != nil && d.Status == status
	})
	return d
}

func (h *harness) webhook(id string) *kv.Webhook {
	h.t.Helper()
	w, err := h.store.GetWebhook(context.Background(), id)
	if err != nil {
		h.t.Fatalf("GetWebhook: %v", err)
	}
	return w
}

func (h *harness) streamMsgs(name string) uint64 {
	h.t.Helper()
	_, info := h.streamInfo(name)
	return info.State.Msgs
}

// streamInfo is a stream and its state as the server reports it.
func (h *harness) streamInfo(name string) (jetstream.Stream, *jetstream.StreamInfo) {
	h.t.Helper()
	s, err := h.bus.JetStream().Stream(context.Background(), name)
	if err != nil {
		h.t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		h.t.Fatalf("stream %s info: %v", name, err)
	}
	return s, info
}

// consumerInfo is a consumer's state as the server reports it.
func (h *harness) consumerInfo(stream, consumer string) *jetstream.ConsumerInfo {
	h.t.Helper()
	c, err := h.bus.JetStream().Consumer(context.Background(), stream, consumer)
	if err != nil {
		h.t.Fatalf("consumer %s: %v", consumer, err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		h.t.Fatalf("consumer %s info: %v", consumer, err)
	}
	return info
}

// eventsSettled reports whether the match consumer has acked everything.
func (h *harness) eventsSettled() bool {
	h.t.Helper()
	info := h.consumerInfo(bus.EventsStream, bus.MatchConsumer)
	return info.NumPending == 0 && info.NumAckPending == 0
}

// createDelivery stores a pending delivery of a made-up event directly.
func (h *harness) createDelivery(w *kv.Webhook, eventType string) (*kv.Delivery, []byte) {
	h.t.Helper()
	id := "evt_" + rand.Text()
	body := envelopeBytes(h.t, id, eventType, w.TenantID, w.PartnerID, "")
	now := time.Now().UTC()
	d := &kv.Delivery{WebhookID: w.ID, EventID: id, EventType: eventType, Status: kv.DeliveryPending,
		CreatedAt: now, UpdatedAt: now}
	if _, err := h.store.CreateDelivery(context.Background(), d); err != nil {
		h.t.Fatalf("CreateDelivery: %v", err)
	}
	return d, body
}

// publishTask publishes the task of d at generation gen.
func (h *harness) publishTask(d *kv.Delivery, body []byte, gen int) {
	h.t.Helper()
	err := h.bus.PublishTasks(context.Background(), []bus.Task{{
		DeliveryID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType,
		Generation: gen, Trigger: bus.TriggerScheduled, Body: body,
	}})
	if err != nil {
		h.t.Fatalf("PublishTasks: %v", err)
	}
}

// eventually polls cond until it holds or waitDeadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hit is one request an endpoint got.
type hit struct {
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	At     time.Time
}

// endpoint is an httptest endpoint recording every request. handle
// answers request n (1-based); nil answers 200.
type endpoint struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []hit
	handle func(n int, w http.ResponseWriter, r *http.Request)
}

func newEndpoint(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *endpoint {
	t.Helper()
	rc := &endpoint{handle: handle}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, hit{Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, At: time.Now()})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if rc.handle == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.handle(n, w, r)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *endpoint) url() string { return rc.srv.URL }

func (rc *endpoint) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

func (rc *endpoint) requests() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// eventIDs counts the requests per webhook-id header.
func (rc *endpoint) eventIDs() map[string]int {
	out := map[string]int{}
	for _, r := range rc.requests() {
		out[r.Header.Get("webhook-id")]++
	}
	return out
}

// statusSeq answers the statuses in turn, the last one repeating.
func statusSeq(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(codes[min(n, len(codes))-1])
	}
}

// checkSignatures verifies both signature headers of one request
// independently of sign.go.
func checkSignatures(t *testing.T, secret string, r hit) {
	t.Helper()
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(r.Body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := strings.Fields(r.Header.Get("webhook-signature")); !slices.Contains(got, want) {
		t.Errorf("webhook-signature %q lacks %q", got, want)
	}
	legacy := hmac.New(sha256.New, []byte(secret))
	legacy.Write([]byte(ts + "."))
	legacy.Write(r.Body)
	sig := r.Header.Get("X-ScaiKey-Signature")
	if !strings.HasPrefix(sig, "t="+ts+",") || !strings.Contains(sig, "v1="+hex.EncodeToString(legacy.Sum(nil))) {
		t.Errorf("X-ScaiKey-Signature %q does not verify", sig)
	}
	if r.Header.Get("X-ScaiKey-Timestamp") != ts {
		t.Errorf("X-ScaiKey-Timestamp %q != webhook-timestamp %q", r.Header.Get("X-ScaiKey-Timestamp"), ts)
	}
}

// dlqMessage returns the last message of the dead-letter stream.
func (h *harness) dlqMessage() *jetstream.RawStreamMsg {
	h.t.Helper()
	s, info := h.streamInfo(bus.DeadLetterStream)
	m, err := s.GetMsg(context.Background(), info.State.LastSeq)
	if err != nil {
		h.t.Fatalf("dlq GetMsg: %v", err)
	}
	return m
}
