package test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// delivery is one POST a receiver got.
type delivery struct {
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an httptest server that records every POST and answers with
// what respond returns (200 by default).
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	got     []delivery
	respond func(n int, r *http.Request) int // n counts from 1
}

func newReceiver(t *testing.T, respond func(n int, r *http.Request) int) *receiver {
	t.Helper()
	rc := &receiver{respond: respond}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{Header: r.Header.Clone(), Body: body, At: time.Now()})
		n := len(rc.got)
		rc.mu.Unlock()
		code := http.StatusOK
		if rc.respond != nil {
			code = rc.respond(n, r)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"received":%d}`, n)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) URL() string { return rc.srv.URL + "/hook" }

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// verifyStandard checks a Standard Webhooks signature header the way the
// spec describes it, independently of webhookd's code: HMAC-SHA256 keyed by
// the base64-decoded part after "whsec_" over "{id}.{ts}.{body}"; the header
// lists "v1,<base64>" entries separated by spaces; any one matching passes.
func verifyStandard(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return fmt.Errorf("missing webhook-id or webhook-timestamp")
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, ts)
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(h.Get("webhook-signature")) {
		v, s, ok := strings.Cut(sig, ",")
		if ok && v == "v1" && hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no webhook-signature entry verifies")
}

// verifyLegacy checks X-ScaiKey-Signature: "t=<ts>,v1=<hex>[,v1=<hex>]",
// HMAC-SHA256 keyed by the whole secret string over "{t}.{body}".
func verifyLegacy(secret string, h http.Header, body []byte) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(h.Get("X-ScaiKey-Signature"), ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if ts == "" || ts != h.Get("X-ScaiKey-Timestamp") {
		return fmt.Errorf("t=%q does not match X-ScaiKey-Timestamp %q", ts, h.Get("X-ScaiKey-Timestamp"))
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%s.", ts)
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no X-ScaiKey-Signature v1 verifies")
}

// countSignatures returns how many v1 entries each header carries.
func countSignatures(h http.Header) (standard, legacy int) {
	standard = len(strings.Fields(h.Get("webhook-signature")))
	legacy = strings.Count(h.Get("X-ScaiKey-Signature"), "v1=")
	return standard, legacy
}

// publisher publishes envelopes to the daemon's embedded NATS server as a
// platform service would.
type publisher struct {
	nc *nats.Conn
	js jetstream.JetStream
}

func newPublisher(t *testing.T, url string) *publisher {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &publisher{nc: nc, js: js}
}

// envelope builds an envelope body.
func envelope(eventID, eventType, tenant, partner, data string) []byte {
	if data == "" {
		data = "{}"
	}
	var extra string
	if tenant != "" {
		extra += fmt.Sprintf(`,"tenant_id":%q`, tenant)
	}
	if partner != "" {
		extra += fmt.Sprintf(`,"partner_id":%q`, partner)
	}
	return []byte(fmt.Sprintf(`{"event_id":%q,"event_type":%q,"timestamp":%q,"source":"e2e"%s,"data":%s}`,
		eventID, eventType, time.Now().UTC().Format(time.RFC3339Nano), extra, data))
}

// publish sends body on events.<subjectType> with Nats-Msg-Id msgID.
func (p *publisher) publish(t *testing.T, subjectType, msgID string, body []byte) {
	t.Helper()
	msg := nats.NewMsg("events." + subjectType)
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	msg.Data = body
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.js.PublishMsg(ctx, msg); err != nil {
		t.Fatalf("publish %s: %v", subjectType, err)
	}
}

// event publishes a valid envelope and returns its body.
func (p *publisher) event(t *testing.T, eventID, eventType, tenant, partner string) []byte {
	t.Helper()
	body := envelope(eventID, eventType, tenant, partner, `{"n":1,"name":"Åcme ✓"}`)
	p.publish(t, eventType, eventID, body)
	return body
}
