package admin

import (
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"
	"time"
)

const (
	webhookIDPrefix = "wh_"
	ulidLen         = 26
	crockford       = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)

// idSource makes webhook ids: "wh_" + a ULID (48-bit millisecond time, 80
// random bits, Crockford base32). Ids made in the same millisecond
// increment the random part, so ids sort in creation order.
type idSource struct {
	mu      sync.Mutex
	lastMS  uint64
	lastRnd [10]byte
}

func newIDSource() *idSource { return &idSource{} }

func (s *idSource) webhookID(now time.Time) (string, error) {
	ms := uint64(now.UnixMilli())
	s.mu.Lock()
	defer s.mu.Unlock()
	if ms <= s.lastMS {
		// Same millisecond (or a clock step back): keep the order.
		ms = s.lastMS
		if !increment(&s.lastRnd) {
			ms++
			if _, err := rand.Read(s.lastRnd[:]); err != nil {
				return "", fmt.Errorf("admin: webhook id: %w", err)
			}
		}
	} else if _, err := rand.Read(s.lastRnd[:]); err != nil {
		return "", fmt.Errorf("admin: webhook id: %w", err)
	}
	s.lastMS = ms
	return webhookIDPrefix + encodeULID(ms, s.lastRnd), nil
}

// increment adds one to the big-endian b; false on overflow.
func increment(b *[10]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

func encodeULID(ms uint64, rnd [10]byte) string {
	var raw [16]byte
	for i := 0; i < 6; i++ {
		raw[i] = byte(ms >> (8 * (5 - i)))
	}
	copy(raw[6:], rnd[:])
	// 128 bits as 26 base32 digits: the first digit holds the top 3 bits.
	var out [ulidLen]byte
	var acc uint64
	var bits uint
	pos := ulidLen - 1
	for i := len(raw) - 1; i >= 0; i-- {
		acc |= uint64(raw[i]) << bits
		bits += 8
		for bits >= 5 {
			out[pos] = crockford[acc&31]
			pos--
			acc >>= 5
			bits -= 5
		}
	}
	out[0] = crockford[acc&31]
	return string(out[:])
}

// validWebhookID reports whether s has the shape of a webhook id; other
// strings are answered 404 without reaching the store.
func validWebhookID(s string) bool {
	if len(s) != len(webhookIDPrefix)+ulidLen || s[:len(webhookIDPrefix)] != webhookIDPrefix {
		return false
	}
	u := s[len(webhookIDPrefix):]
	if u[0] > '7' { // 128 bits: the first digit is at most 7
		return false
	}
	for i := 0; i < len(u); i++ {
		if !isCrockford(u[i]) {
			return false
		}
	}
	return true
}

func isCrockford(c byte) bool {
	for i := 0; i < len(crockford); i++ {
		if crockford[i] == c {
			return true
		}
	}
	return false
}

// parseDeliveryID parses a delivery_id path segment.
func parseDeliveryID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		v := &validationError{}
		v.add(typeIntParsing, "Input should be a valid integer, unable to parse string as an integer", "path", "delivery_id")
		return 0, v
	}
	return n, nil
}
