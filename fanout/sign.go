package fanout

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strconv"
	"strings"
	"sync"
)

// secretPrefix starts every webhook secret (Standard Webhooks).
const secretPrefix = "whsec_"

// SignStandard returns the `webhook-signature` value: "v1,<base64>" per
// secret, space-separated (Standard Webhooks v1): HMAC-SHA256 keyed by the
// base64-decoded part of the secret after "whsec_", over
// "{msgID}.{ts}.{body}". Empty secrets are skipped; with none it returns "".
//
// Secrets are validated when a webhook is created (whsec_ + base64 of 24-64
// bytes), so decoding does not fail in practice. Should one still fail to
// decode (padded or unpadded standard base64 both accepted), the raw bytes
// after the prefix are used as the key: the attempt is still signed
// deterministically rather than sent unsigned or dropped.
func SignStandard(secrets []string, msgID string, ts int64, body []byte) string {
	var sb strings.Builder
	var tsBuf [20]byte
	tsb := strconv.AppendInt(tsBuf[:0], ts, 10)
	var sum [sha256.Size]byte
	for _, s := range secrets {
		if s == "" {
			continue
		}
		mac, pool := standardMACs.get(s)
		mac.Write([]byte(msgID))
		mac.Write([]byte{'.'})
		mac.Write(tsb)
		mac.Write([]byte{'.'})
		mac.Write(body)
		if sb.Len() == 0 {
			sb.Grow(len(secrets) * (4 + base64.StdEncoding.EncodedLen(sha256.Size)))
		} else {
			sb.WriteByte(' ')
		}
		sb.WriteString("v1,")
		var enc [44]byte // base64 of 32 bytes
		base64.StdEncoding.Encode(enc[:], mac.Sum(sum[:0]))
		pool.Put(mac)
		sb.Write(enc[:])
	}
	return sb.String()
}

// SignLegacy returns the legacy (`X-ScaiKey-Signature`) value:
// "t=<ts>,v1=<hex>[,v1=<hex>...]", HMAC-SHA256 keyed by the whole secret
// string's bytes over "{ts}.{body}", lowercase hex. Empty secrets are
// skipped; with none it returns "".
func SignLegacy(secrets []string, ts int64, body []byte) string {
	var sb strings.Builder
	var tsBuf [20]byte
	tsb := strconv.AppendInt(tsBuf[:0], ts, 10)
	var sum [sha256.Size]byte
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if sb.Len() == 0 {
			sb.Grow(2 + len(tsb) + len(secrets)*(4+hex.EncodedLen(sha256.Size)))
			sb.WriteString("t=")
			sb.Write(tsb)
		}
		mac, pool := legacyMACs.get(s)
		mac.Write(tsb)
		mac.Write([]byte{'.'})
		mac.Write(body)
		sb.WriteString(",v1=")
		var enc [2 * sha256.Size]byte
		hex.Encode(enc[:], mac.Sum(sum[:0]))
		pool.Put(mac)
		sb.Write(enc[:])
	}
	return sb.String()
}

// standardKey returns the HMAC key of a Standard Webhooks secret.
func standardKey(secret string) []byte {
	s := strings.TrimPrefix(secret, secretPrefix)
	if k, err := base64.StdEncoding.DecodeString(s); err == nil {
		return k
	}
	if k, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return k
	}
	return []byte(s)
}

// macPool keeps keyed HMAC-SHA256 states per secret for reuse: making one
// (hmac.New: two SHA-256 states, the padded keys, the key decoded) cost
// more allocations than the rest of an attempt's headers together.
type macPool struct {
	key func(secret string) []byte
	mu  sync.Mutex
	m   map[string]*sync.Pool
}

// macPoolMax bounds how many secrets keep pooled states; past it one
// makes room for the next (one secret's states are a few hundred bytes).
// The index drops a secret's pools when its webhook is deleted or the
// secret is rotated out (forgetSecrets).
const macPoolMax = 4096

var (
	standardMACs = &macPool{key: standardKey}
	legacyMACs   = &macPool{key: func(s string) []byte { return []byte(s) }}
)

// get returns an HMAC keyed by secret, reset, and the pool to put it
// back in.
func (p *macPool) get(secret string) (hash.Hash, *sync.Pool) {
	p.mu.Lock()
	pool := p.m[secret]
	if pool == nil {
		if p.m == nil {
			p.m = make(map[string]*sync.Pool)
		}
		if len(p.m) >= macPoolMax {
			for other := range p.m { // any one: map order is random
				delete(p.m, other)
				break
			}
		}
		key := p.key(secret)
		pool = &sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}
		p.m[secret] = pool
	}
	p.mu.Unlock()
	mac := pool.Get().(hash.Hash)
	mac.Reset()
	return mac, pool
}

// forgetSecrets drops the pooled states keyed by these secrets: the keyed
// states are as good as the secret, and a deleted webhook's or a rotated
// out secret has no business staying in memory.
func forgetSecrets(secrets ...string) {
	for _, p := range []*macPool{standardMACs, legacyMACs} {
		p.mu.Lock()
		for _, s := range secrets {
			delete(p.m, s)
		}
		p.mu.Unlock()
	}
}
