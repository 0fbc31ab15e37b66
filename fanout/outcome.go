package fanout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
)

// Verdict is what one attempt's outcome means for the delivery.
type Verdict int

const (
	// VerdictSuccess: a 2xx answer; the delivery is done.
	VerdictSuccess Verdict = iota
	// VerdictRetry: any other failure; retried per the schedule.
	VerdictRetry
	// VerdictGone: 410 Gone; no more retries and the webhook is disabled.
	VerdictGone
)

func (v Verdict) String() string {
	switch v {
	case VerdictSuccess:
		return "success"
	case VerdictRetry:
		return "retry"
	case VerdictGone:
		return "gone"
	}
	return "verdict(" + strconv.Itoa(int(v)) + ")"
}

// Classify: 2xx success; 410 gone; everything else (3xx, 4xx, 5xx,
// transport error) retry.
func Classify(r Response) Verdict {
	switch {
	case r.Err != nil:
		return VerdictRetry
	case r.StatusCode >= 200 && r.StatusCode <= 299:
		return VerdictSuccess
	case r.StatusCode == 410:
		return VerdictGone
	}
	return VerdictRetry
}

// ErrorText gives the short, secret-free error string stored in history
// ("http 500", "timeout", ...); "" for a success. It never includes the
// URL, headers or bodies; a blocked address names the IP.
func ErrorText(r Response) string {
	if r.Err == nil {
		switch {
		case r.StatusCode >= 200 && r.StatusCode <= 299:
			return ""
		case r.StatusCode == 0:
			return "no response"
		}
		return "http " + strconv.Itoa(r.StatusCode)
	}
	return errorText(r.Err)
}

func errorText(err error) string {
	var (
		blocked  *blockedAddrError
		dnsErr   *net.DNSError
		netErr   net.Error
		certErr  *tls.CertificateVerificationError
		uaErr    x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invErr   x509.CertificateInvalidError
		alertErr tls.AlertError
		recErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &blocked):
		return blocked.Error()
	case errors.Is(err, ErrBlockedAddress):
		return ErrBlockedAddress.Error()
	case errors.Is(err, ErrSchemeNotAllowed):
		return ErrSchemeNotAllowed.Error()
	case errors.Is(err, ErrInvalidURL):
		return ErrInvalidURL.Error()
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "dns error: no such host"
		}
		if dnsErr.IsTimeout {
			return "dns error: timeout"
		}
		return "dns error"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &hostErr):
		return "tls error: certificate not valid for host"
	case errors.As(err, &uaErr):
		return "tls error: certificate signed by unknown authority"
	case errors.As(err, &invErr):
		if invErr.Reason == x509.Expired {
			return "tls error: certificate expired or not yet valid"
		}
		return "tls error: invalid certificate"
	case errors.As(err, &certErr), errors.As(err, &alertErr), errors.As(err, &recErr):
		return "tls error"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	}
	return "connection error"
}
