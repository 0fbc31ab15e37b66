package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

var allowLoopback = AddrPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// newTestSender allows http and 127.0.0.1, as the tests' receivers live there.
func newTestSender(t *testing.T, cfg SenderConfig) *Sender {
	t.Helper()
	cfg.AllowHTTP = true
	if cfg.Policy.Allow == nil {
		cfg.Policy = allowLoopback
	}
	s := NewSender(cfg)
	t.Cleanup(s.Close)
	return s
}

// newReceiver starts an httptest server on 127.0.0.1 and counts its hits.
func newReceiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSendSuccess(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, ua, sig, host string
		body                  string
		contentLength         int64
	}
	got := make(chan seen, 1)
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.Header.Get("User-Agent"), r.Header.Get("Webhook-Signature"), r.Host, string(b), r.ContentLength}
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "thanks")
	})
	s := newTestSender(t, SenderConfig{UserAgent: "webhookd/test"})
	h := http.Header{}
	h.Set("Webhook-Signature", "v1,abc")
	res := s.Send(context.Background(), Request{URL: srv.URL + "/hook?x=1", Header: h, Body: []byte(`{"a":1}`), Timeout: 5 * time.Second})
	if res.Err != nil || res.StatusCode != http.StatusCreated || res.Body != "thanks" {
		t.Fatalf("Send = %+v", res)
	}
	if res.Duration <= 0 {
		t.Errorf("Duration = %v, want > 0", res.Duration)
	}
	if Classify(res) != VerdictSuccess || ErrorText(res) != "" {
		t.Errorf("Classify = %v, ErrorText = %q", Classify(res), ErrorText(res))
	}
	r := <-got
	u, _ := url.Parse(srv.URL)
	want := seen{"POST", "webhookd/test", "v1,abc", u.Host, `{"a":1}`, 7}
	if r != want {
		t.Errorf("receiver saw %+v, want %+v", r, want)
	}
	_ = h // Send took it over (Request.Header)
}

func TestSendBlocksLoopbackWithoutAllow(t *testing.T) {
	t.Parallel()
	srv, hits := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	s := NewSender(SenderConfig{AllowHTTP: true})
	t.Cleanup(s.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	for _, target := range []string{
		srv.URL,                    // literal: refused by CheckURL
		"http://localhost:" + port, // a name: refused at dial, after resolution
		"http://[::ffff:127.0.0.1]:" + port,
	} {
		res := s.Send(context.Background(), Request{URL: target, Timeout: 5 * time.Second})
		if !errors.Is(res.Err, ErrBlockedAddress) {
			t.Errorf("Send(%s) err = %v, want ErrBlockedAddress", target, res.Err)
		}
		if res.StatusCode != 0 || Classify(res) != VerdictRetry || !strings.HasPrefix(ErrorText(res), "blocked address") {
			t.Errorf("Send(%s) = %+v, ErrorText %q", target, res, ErrorText(res))
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("receiver was hit %d times", hits.Load())
	}
}

func TestSendDialChecksResolvedAddress(t *testing.T) {
	t.Parallel()
	srv, hits := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	// With 127.0.0.1 allowed, "localhost" is fine only through the dial
	// check passing its resolved address.
	s := newTestSender(t, SenderConfig{})
	res := s.Send(context.Background(), Request{URL: "http://localhost:" + port, Timeout: 5 * time.Second})
	if res.Err != nil || res.StatusCode != 200 {
		t.Fatalf("Send via localhost = %+v", res)
	}
	if hits.Load() != 1 {
		t.Fatalf("hits = %d", hits.Load())
	}
}

func TestSendDoesNotFollowRedirects(t *testing.T) {
	t.Parallel()
	target, targetHits := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	})
	s := newTestSender(t, SenderConfig{})
	res := s.Send(context.Background(), Request{URL: srv.URL, Body: []byte("{}"), Timeout: 5 * time.Second})
	if res.Err != nil || res.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("Send = %+v, want the 307 itself", res)
	}
	if Classify(res) != VerdictRetry || ErrorText(res) != "http 307" {
		t.Errorf("Classify = %v, ErrorText = %q", Classify(res), ErrorText(res))
	}
	if targetHits.Load() != 0 {
		t.Fatalf("redirect target was hit %d times", targetHits.Load())
	}
}

func TestSendCapsResponseBody(t *testing.T) {
	t.Parallel()
	const total = 1 << 30 // far more than anyone should read
	var written atomic.Int64
	handlerDone := make(chan struct{})
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		defer close(handlerDone)
		w.WriteHeader(http.StatusOK)
		chunk := []byte(strings.Repeat("é", 16<<10)) // 32 KiB of 2-byte runes
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	s := newTestSender(t, SenderConfig{})
	res := s.Send(context.Background(), Request{URL: srv.URL, Timeout: time.Minute})
	if res.Err != nil || res.StatusCode != 200 {
		t.Fatalf("Send = %+v", res)
	}
	if len(res.Body) != 4<<10 || !utf8.ValidString(res.Body) || res.Body != strings.Repeat("é", 2<<10) {
		t.Fatalf("kept %d bytes (valid UTF-8: %v), want the first 4 KiB", len(res.Body), utf8.ValidString(res.Body))
	}
	// The connection is dropped, not drained: the server's writes fail
	// long before it has written everything.
	select {
	case <-handlerDone:
	case <-time.After(30 * time.Second):
		t.Fatal("server still writing: the response was not abandoned")
	}
	if written.Load() >= total {
		t.Fatalf("server wrote all %d bytes", written.Load())
	}
}

// countingReader is an endless stream that counts what was read.
type countingReader struct{ n int }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	c.n += len(p)
	return len(p), nil
}

func TestReadBodyLimits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		max, keep       int
		wantRead, wantK int
	}{
		{0, 0, 64 << 10, 4 << 10}, // defaults
		{100, 10, 100, 10},
		{10, 100, 10, 10}, // keep never exceeds max
	}
	for _, tt := range tests {
		s := NewSender(SenderConfig{MaxResponseBytes: tt.max, KeepResponseBytes: tt.keep})
		var r countingReader
		body := s.readBody(&r)
		if r.n != tt.wantRead || len(body) != tt.wantK {
			t.Errorf("max %d keep %d: read %d kept %d, want read %d kept %d", tt.max, tt.keep, r.n, len(body), tt.wantRead, tt.wantK)
		}
	}
	// A short body is kept whole.
	s := NewSender(SenderConfig{})
	if got := s.readBody(strings.NewReader("short")); got != "short" {
		t.Errorf("readBody(short) = %q", got)
	}
}

func TestSanitizeBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"plain", 10, "plain"},
		{"é", 10, "é"},
		{"ab\xc3", 10, "ab"},          // a rune cut by the keep limit is dropped
		{"ab\xe2\x9c", 10, "ab"},      // also a 3-byte rune cut after 2
		{"a\xffb", 10, "a\uFFFDb"},    // invalid byte replaced
		{"\xff\xff\xff", 3, "\uFFFD"}, // replacement never exceeds the limit
		{"\xffab", 3, "\uFFFD"},
		{"\xffab", 4, "\uFFFDa"},
		{"", 4, ""},
	}
	for _, tt := range tests {
		got := sanitizeBody([]byte(tt.in), tt.limit)
		if got != tt.want || len(got) > tt.limit || !utf8.ValidString(got) {
			t.Errorf("sanitizeBody(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestSendTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	s := newTestSender(t, SenderConfig{})
	res := s.Send(context.Background(), Request{URL: srv.URL, Timeout: 50 * time.Millisecond})
	if res.Err == nil || res.StatusCode != 0 {
		t.Fatalf("Send = %+v, want a timeout", res)
	}
	if got := ErrorText(res); got != "timeout" {
		t.Errorf("ErrorText = %q (err %v), want timeout", got, res.Err)
	}
	if res.Duration < 50*time.Millisecond {
		t.Errorf("Duration %v shorter than the timeout", res.Duration)
	}
	if strings.Contains(res.Err.Error(), srv.URL) {
		t.Errorf("error %q carries the URL", res.Err)
	}
}

func TestSendRetryAfter(t *testing.T) {
	t.Parallel()
	srv, _ := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	s := newTestSender(t, SenderConfig{})
	res := s.Send(context.Background(), Request{URL: srv.URL, Timeout: 5 * time.Second})
	if res.StatusCode != 429 || res.RetryAfter != 7*time.Second || ErrorText(res) != "http 429" {
		t.Fatalf("Send = %+v", res)
	}
}

func TestSendTransportErrors(t *testing.T) {
	t.Parallel()
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String()
	ln.Close()

	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed handshake is expected
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)

	s := newTestSender(t, SenderConfig{})
	strict := NewSender(SenderConfig{Policy: allowLoopback})
	t.Cleanup(strict.Close)
	tests := []struct {
		name   string
		s      *Sender
		url    string
		want   string
		target error
	}{
		{"refused", s, closedURL, "connection refused", nil},
		{"tls unknown authority", s, tlsSrv.URL, "tls error: certificate signed by unknown authority", nil},
		{"http not allowed", strict, closedURL, "url scheme not allowed", ErrSchemeNotAllowed},
		{"bad scheme", s, "ftp://127.0.0.1/", "url scheme not allowed", ErrSchemeNotAllowed},
		{"userinfo", s, "https://user:pw@127.0.0.1/", "invalid url", ErrInvalidURL},
	}
	for _, tt := range tests {
		res := tt.s.Send(context.Background(), Request{URL: tt.url, Timeout: 5 * time.Second})
		if got := ErrorText(res); got != tt.want {
			t.Errorf("%s: ErrorText = %q (err %v), want %q", tt.name, got, res.Err, tt.want)
		}
		if tt.target != nil && !errors.Is(res.Err, tt.target) {
			t.Errorf("%s: err = %v, want %v", tt.name, res.Err, tt.target)
		}
		if Classify(res) != VerdictRetry {
			t.Errorf("%s: Classify = %v", tt.name, Classify(res))
		}
		if res.Err != nil && strings.Contains(res.Err.Error(), "pw@") {
			t.Errorf("%s: error leaks userinfo: %v", tt.name, res.Err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{" 5 ", 5 * time.Second},
		{"-5", 0},
		{"1.5", 0},
		{"abc", 0},
		{"99999999999999999999999", maxRetryAfter},
		{"999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{"Wed, 22 Apr 2026 14:31:00 GMT", time.Minute},
		{"Wednesday, 22-Apr-26 14:31:00 GMT", time.Minute}, // RFC 850
		{"Wed Apr 22 14:31:00 2026", time.Minute},          // asctime
		{"Wed, 22 Apr 2026 14:29:00 GMT", 0},               // past
		{"Wed, 22 Apr 2027 14:30:00 GMT", maxRetryAfter},
		{"Wed, 32 Apr 2026 14:31:00 GMT", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	https := NewSender(SenderConfig{})
	withHTTP := NewSender(SenderConfig{AllowHTTP: true, Policy: allowLoopback})
	tests := []struct {
		s      *Sender
		url    string
		target error // nil: accepted
	}{
		{https, "https://example.com/hook", nil},
		{https, "HTTPS://Example.com:8443/hook?x=1#f", nil},
		{https, "https://8.8.8.8/", nil},
		{https, "https://[2001:4860::8888]:443/", nil},
		{https, "http://example.com/", ErrSchemeNotAllowed},
		{withHTTP, "http://example.com/", nil},
		{withHTTP, "http://127.0.0.1:8080/", nil},
		{https, "ftp://example.com/", ErrSchemeNotAllowed},
		{https, "example.com/hook", ErrSchemeNotAllowed},
		{https, "javascript:alert(1)", ErrSchemeNotAllowed},
		{https, "https://user@example.com/", ErrInvalidURL},
		{https, "https://user:pw@example.com/", ErrInvalidURL},
		{https, "https://", ErrInvalidURL},
		{https, "https:///path", ErrInvalidURL},
		{https, "https:example.com", ErrInvalidURL},
		{https, "https://example.com:0/", ErrInvalidURL},
		{https, "https://example.com:70000/", ErrInvalidURL},
		{https, "https://exa mple.com/", ErrInvalidURL},
		{https, " https://example.com/", ErrInvalidURL},
		{https, "https://127.0.0.1/", ErrBlockedAddress},
		{https, "https://[::1]/", ErrBlockedAddress},
		{https, "https://[::ffff:127.0.0.1]/", ErrBlockedAddress},
		{https, "https://[::ffff:10.0.0.1]/", ErrBlockedAddress},
		{https, "https://169.254.169.254/latest/meta-data", ErrBlockedAddress},
		{https, "https://100.64.0.1/", ErrBlockedAddress},
		{https, "https://[fe80::1]/", ErrBlockedAddress},
		{https, "https://0.0.0.0/", ErrBlockedAddress},
		{https, "https://[::]/", ErrBlockedAddress},
		{https, "https://224.0.0.1/", ErrBlockedAddress},
		{withHTTP, "http://127.0.0.2/", ErrBlockedAddress},
	}
	for _, tt := range tests {
		err := tt.s.CheckURL(tt.url)
		if tt.target == nil && err != nil || tt.target != nil && !errors.Is(err, tt.target) {
			t.Errorf("CheckURL(%q) = %v, want %v", tt.url, err, tt.target)
		}
		if err != nil && strings.Contains(err.Error(), "pw") {
			t.Errorf("CheckURL(%q) error leaks userinfo: %v", tt.url, err)
		}
	}
}

func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://example.com/hook", "http://127.0.0.1:8080/", "https://[::ffff:10.0.0.1]/",
		"https://user:pw@example.com/", "https://[fe80::1%25eth0]/", "https://0x7f.1/", "https://2130706433/",
		"HTTPS://EXAMPLE.COM", "https:///x", "://", "https://[::1", "https://example.com:99999/",
	} {
		f.Add(s)
	}
	s := NewSender(SenderConfig{})
	f.Fuzz(func(t *testing.T, raw string) {
		if err := s.CheckURL(raw); err != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted unparsable %q: %v", raw, err)
		}
		if !strings.EqualFold(u.Scheme, "https") {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q with userinfo or without host", raw)
		}
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			if blockedAddr(ip.WithZone("").Unmap()) {
				t.Fatalf("accepted blocked literal %q", raw)
			}
		}
		// Whatever passed must also be a valid request target.
		if _, err := http.NewRequest(http.MethodPost, raw, nil); err != nil {
			t.Fatalf("accepted %q that http cannot send: %v", raw, err)
		}
	})
}

func ExampleSender_Send() {
	s := NewSender(SenderConfig{})
	defer s.Close()
	res := s.Send(context.Background(), Request{URL: "https://127.0.0.1/hook", Timeout: time.Second})
	fmt.Println(ErrorText(res))
	// Output: blocked address: 127.0.0.1
}

func TestSenderIgnoresProxyEnvironment(t *testing.T) {
	t.Parallel()
	// A proxy would dial the target itself, past the address check.
	s := NewSender(SenderConfig{})
	t.Cleanup(s.Close)
	if s.transport.Proxy != nil {
		t.Fatal("transport uses a proxy")
	}
	if s.transport.DialContext == nil || s.transport.DialTLSContext != nil {
		t.Fatal("transport does not dial through the checked dialer")
	}
}
