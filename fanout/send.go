package fanout

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// SenderConfig configures NewSender. Zero values take the defaults named.
type SenderConfig struct {
	// Policy decides which addresses may be connected to.
	Policy AddrPolicy
	// AllowHTTP allows http:// URLs. Defaults to false (https only).
	AllowHTTP bool
	// UserAgent is sent when a request carries none. Defaults to
	// "webhookd/dev".
	UserAgent string
	// MaxResponseBytes is the most of a response body read. Defaults to
	// 64 KiB.
	MaxResponseBytes int
	// KeepResponseBytes is the most of a response body kept (for history).
	// Defaults to 4 KiB; never more than MaxResponseBytes.
	KeepResponseBytes int
	// MaxIdleConnsPerHost bounds the kept-alive connections per host.
	// Defaults to 64.
	MaxIdleConnsPerHost int
}

func (c *SenderConfig) setDefaults() {
	if c.UserAgent == "" {
		c.UserAgent = "webhookd/dev"
	}
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 64 << 10
	}
	if c.KeepResponseBytes <= 0 {
		c.KeepResponseBytes = 4 << 10
	}
	c.KeepResponseBytes = min(c.KeepResponseBytes, c.MaxResponseBytes)
	if c.MaxIdleConnsPerHost <= 0 {
		c.MaxIdleConnsPerHost = 64
	}
}

// Sender posts one attempt. It dials through a net.Dialer whose Control
// checks every resolved address at connect time (so DNS rebinding cannot
// bypass it), never follows redirects, reads the response up to
// MaxResponseBytes. Safe for concurrent use.
type Sender struct {
	cfg       SenderConfig
	transport *http.Transport
	// bodies holds *[]byte of KeepResponseBytes: a buffer per response
	// was a fifth of all the bytes webhookd allocated at full speed.
	bodies sync.Pool
}

// NewSender returns a Sender with its own connection pool. Proxy settings
// from the environment are ignored on purpose: a proxy would dial the
// target itself, out of reach of the address check.
func NewSender(cfg SenderConfig) *Sender {
	cfg.setDefaults()
	cfg.Policy.Allow = append([]netip.Prefix(nil), cfg.Policy.Allow...)
	dialer := &net.Dialer{
		Timeout:   30 * time.Second, // the request context usually ends first
		KeepAlive: 30 * time.Second,
		Control:   cfg.Policy.control,
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Receivers' answers are small and read only in part; asking for
		// gzip would only make MaxResponseBytes count compressed bytes.
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &Sender{
		cfg:       cfg,
		transport: tr,
	}
}

// Request is one attempt to send.
type Request struct {
	URL string
	// Header is everything to send (signatures, ids, custom headers). Send
	// takes it over: it may add a User-Agent, and the request keeps it.
	Header  http.Header
	Body    []byte
	Timeout time.Duration // whole attempt, body read included; 0: ctx only
}

// Response is what one attempt got.
type Response struct {
	StatusCode int           // 0 when no response
	Body       string        // first KeepResponseBytes of the body, valid UTF-8
	RetryAfter time.Duration // parsed Retry-After (seconds or HTTP date), 0 when absent
	Duration   time.Duration
	// Err is the transport error (timeout, refused, DNS, ErrBlockedAddress,
	// scheme). An error while reading the body after the status line
	// arrived is not reported: the status code is the receiver's verdict.
	Err error
}

// Send posts r.Body to r.URL and returns the outcome; it never returns the
// body of more than MaxResponseBytes read.
func (s *Sender) Send(ctx context.Context, r Request) (out Response) {
	start := time.Now()
	defer func() { out.Duration = time.Since(start) }()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		out.Err = fmt.Errorf("%w: %v", ErrInvalidURL, unwrapURLError(err))
		return out
	}
	if err := s.checkURL(req.URL); err != nil {
		out.Err = err
		return out
	}
	if r.Header != nil {
		req.Header = r.Header // Send owns it (Request.Header)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}
	// The transport itself, not an http.Client: a client's redirect and
	// timeout machinery would only cost (it copied every request's header),
	// and a 3xx is the receiver's answer anyway, never followed (it would
	// post the event somewhere nobody registered).
	res, err := s.transport.RoundTrip(req)
	if err != nil {
		// Keep the cause, drop url.Error's copy of the URL (it may carry a
		// token) so the error is safe to log.
		out.Err = unwrapURLError(err)
		return out
	}
	defer res.Body.Close()
	out.StatusCode = res.StatusCode
	out.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	out.Body = s.readBody(res.Body)
	return out
}

// readBody reads up to MaxResponseBytes, keeping the first
// KeepResponseBytes. Whatever lies beyond is left unread: closing the body
// then drops the connection instead of draining a huge answer.
func (s *Sender) readBody(body io.Reader) string {
	buf, _ := s.bodies.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, s.cfg.KeepResponseBytes)
		buf = &b
	}
	defer s.bodies.Put(buf)
	n, _ := io.ReadFull(body, *buf)
	if n == s.cfg.KeepResponseBytes {
		_, _ = io.Copy(io.Discard, io.LimitReader(body, int64(s.cfg.MaxResponseBytes-n)))
	}
	// sanitizeBody copies: the buffer goes back to the pool.
	return sanitizeBody((*buf)[:n], s.cfg.KeepResponseBytes)
}

// sanitizeBody returns b as valid UTF-8 of at most limit bytes: a rune cut
// at the end is dropped, other invalid bytes become U+FFFD.
func sanitizeBody(b []byte, limit int) string {
	// Drop a trailing partial rune (at most UTFMax-1 bytes) left by the cut.
	for i := 1; i < utf8.UTFMax && i <= len(b); i++ {
		c := b[len(b)-i]
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[len(b)-i:]) {
				b = b[:len(b)-i]
			}
			break
		}
	}
	out := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(out) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut]
	}
	return out
}

// CheckURL refuses a URL that Send will not post to: a scheme other than
// https (or http when AllowHTTP), userinfo, no host, a bad port, or a
// literal IP address the policy blocks. Host names are checked at connect
// time, after resolution.
func (s *Sender) CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidURL, unwrapURLError(err))
	}
	return s.checkURL(u)
}

func (s *Sender) checkURL(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !s.cfg.AllowHTTP {
			return fmt.Errorf("%w: http", ErrSchemeNotAllowed)
		}
	default:
		return fmt.Errorf("%w: %q", ErrSchemeNotAllowed, u.Scheme)
	}
	if u.User != nil {
		return fmt.Errorf("%w: userinfo not allowed", ErrInvalidURL)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: bad port", ErrInvalidURL)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := s.cfg.Policy.Check(ip); err != nil {
			return err
		}
	}
	return nil
}

// unwrapURLError drops url.Error's copy of the URL, which may hold a
// token in its query.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok && ue.Err != nil {
		return ue.Err
	}
	return err
}

// Close closes idle connections; in-flight sends finish normally.
func (s *Sender) Close() { s.transport.CloseIdleConnections() }

// maxRetryAfter bounds a parsed Retry-After; the retry policy clamps it
// much tighter anyway.
const maxRetryAfter = 30 * 24 * time.Hour

// parseRetryAfter reads a Retry-After value: delta-seconds or an HTTP
// date (relative to now). Absent, malformed or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if v[0] >= '0' && v[0] <= '9' {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return maxRetryAfter
			}
			return 0
		}
		if n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
