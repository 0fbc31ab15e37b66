package fanout

import "errors"

// Sentinel errors of the pure parts (sending, SSRF policy, retry schedule).
// The engine's own sentinels live in engine_errors.go.
var (
	// ErrBlockedAddress is wrapped when a target address is refused by the
	// SSRF policy (loopback, private, link-local, ...); the message names
	// the address.
	ErrBlockedAddress = errors.New("blocked address")
	// ErrSchemeNotAllowed is wrapped when a URL's scheme is not https (or
	// http when the operator allows it).
	ErrSchemeNotAllowed = errors.New("url scheme not allowed")
	// ErrInvalidURL is wrapped when a URL cannot be parsed, has no host or
	// carries userinfo.
	ErrInvalidURL = errors.New("invalid url")
	// ErrInvalidSchedule is wrapped by ParseSchedule's errors.
	ErrInvalidSchedule = errors.New("invalid retry schedule")
)
