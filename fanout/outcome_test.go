package fanout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r    Response
		want Verdict
	}{
		{Response{StatusCode: 200}, VerdictSuccess},
		{Response{StatusCode: 201}, VerdictSuccess},
		{Response{StatusCode: 204}, VerdictSuccess},
		{Response{StatusCode: 299}, VerdictSuccess},
		{Response{StatusCode: 410}, VerdictGone},
		{Response{StatusCode: 100}, VerdictRetry},
		{Response{StatusCode: 300}, VerdictRetry},
		{Response{StatusCode: 301}, VerdictRetry},
		{Response{StatusCode: 304}, VerdictRetry},
		{Response{StatusCode: 400}, VerdictRetry},
		{Response{StatusCode: 404}, VerdictRetry},
		{Response{StatusCode: 429, RetryAfter: time.Second}, VerdictRetry},
		{Response{StatusCode: 500}, VerdictRetry},
		{Response{StatusCode: 503}, VerdictRetry},
		{Response{}, VerdictRetry},
		{Response{Err: context.DeadlineExceeded}, VerdictRetry},
		// A transport error wins over a status (never both in practice).
		{Response{StatusCode: 200, Err: io.ErrUnexpectedEOF}, VerdictRetry},
		{Response{StatusCode: 410, Err: io.ErrUnexpectedEOF}, VerdictRetry},
	}
	for _, tt := range tests {
		if got := Classify(tt.r); got != tt.want {
			t.Errorf("Classify(%d, %v) = %v, want %v", tt.r.StatusCode, tt.r.Err, got, tt.want)
		}
	}
}

// timeoutErr is a net.Error that timed out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorText(t *testing.T) {
	t.Parallel()
	opErr := func(err error) error {
		return &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	blocked := AddrPolicy{}.Check(netip.MustParseAddr("10.0.0.1"))
	tests := []struct {
		r    Response
		want string
	}{
		{Response{StatusCode: 200}, ""},
		{Response{StatusCode: 204}, ""},
		{Response{StatusCode: 302}, "http 302"},
		{Response{StatusCode: 410}, "http 410"},
		{Response{StatusCode: 500}, "http 500"},
		{Response{}, "no response"},
		{Response{Err: context.DeadlineExceeded}, "timeout"},
		{Response{Err: fmt.Errorf("post: %w", context.DeadlineExceeded)}, "timeout"},
		{Response{Err: opErr(timeoutErr{})}, "timeout"},
		{Response{Err: context.Canceled}, "canceled"},
		{Response{Err: opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED))}, "connection refused"},
		{Response{Err: opErr(os.NewSyscallError("read", syscall.ECONNRESET))}, "connection reset"},
		{Response{Err: opErr(os.NewSyscallError("connect", syscall.EHOSTUNREACH))}, "host unreachable"},
		{Response{Err: opErr(os.NewSyscallError("connect", syscall.ENETUNREACH))}, "network unreachable"},
		{Response{Err: opErr(&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true})}, "dns error: no such host"},
		{Response{Err: opErr(&net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true})}, "dns error: timeout"},
		{Response{Err: opErr(&net.DNSError{Err: "server misbehaving", Name: "x"})}, "dns error"},
		{Response{Err: opErr(blocked)}, "blocked address: 10.0.0.1"},
		{Response{Err: fmt.Errorf("%w: odd", ErrBlockedAddress)}, "blocked address"},
		{Response{Err: fmt.Errorf("%w: ftp", ErrSchemeNotAllowed)}, "url scheme not allowed"},
		{Response{Err: fmt.Errorf("%w: token=abc in it", ErrInvalidURL)}, "invalid url"},
		{Response{Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, "tls error: certificate signed by unknown authority"},
		{Response{Err: &tls.CertificateVerificationError{Err: x509.HostnameError{Host: "a"}}}, "tls error: certificate not valid for host"},
		{Response{Err: &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.Expired}}}, "tls error: certificate expired or not yet valid"},
		{Response{Err: &tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Reason: x509.NotAuthorizedToSign}}}, "tls error: invalid certificate"},
		{Response{Err: tls.AlertError(40)}, "tls error"},
		{Response{Err: tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}}, "tls error"},
		{Response{Err: io.EOF}, "connection closed"},
		{Response{Err: io.ErrUnexpectedEOF}, "connection closed"},
		{Response{Err: errors.New("https://user:secret@x/?token=t something odd")}, "connection error"},
	}
	for _, tt := range tests {
		if got := ErrorText(tt.r); got != tt.want {
			t.Errorf("ErrorText(%d, %v) = %q, want %q", tt.r.StatusCode, tt.r.Err, got, tt.want)
		}
	}
}

func TestVerdictString(t *testing.T) {
	t.Parallel()
	for v, want := range map[Verdict]string{VerdictSuccess: "success", VerdictRetry: "retry", VerdictGone: "gone", Verdict(9): "verdict(9)"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}

func TestErrorTextDNS(t *testing.T) {
	t.Parallel()
	// .invalid never resolves (RFC 6761); without network it fails too.
	s := NewSender(SenderConfig{})
	t.Cleanup(s.Close)
	res := s.Send(context.Background(), Request{URL: "https://no-such-host.invalid/", Timeout: 10 * time.Second})
	if got := ErrorText(res); !strings.HasPrefix(got, "dns error") {
		t.Fatalf("ErrorText = %q (err %v), want a dns error", got, res.Err)
	}
}
