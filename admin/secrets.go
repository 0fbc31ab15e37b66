package admin

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/scailabs/webhookd/kv"
)

const (
	secretPrefix     = "whsec_"
	secretBytes      = 32
	minSecretBytes   = 24
	maxSecretBytes   = 64
	secretFormatHint = "Value error, secret must be 'whsec_' followed by the standard base64 of 24 to 64 bytes"
)

// newSecret returns "whsec_" + base64 of 32 random bytes.
func newSecret() (string, error) {
	var b [secretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("admin: new secret: %w", err)
	}
	return secretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// validSecret reports whether s is "whsec_" + standard (padded) base64 of
// 24 to 64 bytes.
func validSecret(s string) bool {
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok || strings.ContainsAny(enc, "\r\n") { // the decoder skips newlines
		return false
	}
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	return err == nil && len(b) >= minSecretBytes && len(b) <= maxSecretBytes
}

// secretHint shows enough of a secret to tell two apart: "whsec_ab…yz".
func secretHint(s string) string {
	enc := strings.TrimPrefix(s, secretPrefix)
	if len(enc) < 8 {
		return secretPrefix + "…"
	}
	return secretPrefix + enc[:2] + "…" + enc[len(enc)-2:]
}

// rotateSecretView is the rotate-secret answer.
type rotateSecretView struct {
	ID                      string   `json:"id"`
	Secret                  string   `json:"secret"`
	PreviousSecretExpiresAt *apiTime `json:"previous_secret_expires_at"`
}

// parseGrace reads the optional rotate-secret body.
func parseGrace(b []byte) (time.Duration, error) {
	if emptyBody(b) || isNull(b) {
		return defaultGrace * time.Second, nil
	}
	v := &validationError{}
	obj, ok := decodeObject(b, v)
	if !ok {
		return 0, v
	}
	obj.rejectUnknown(v, map[string]bool{"grace_period_seconds": true}, nil)
	grace := int64(defaultGrace)
	if n, present, ok := obj.integer(v, "grace_period_seconds"); present && ok {
		checkRange(v, n, 0, maxGracePeriod, "body", "grace_period_seconds")
		grace = n
	}
	if err := v.err(); err != nil {
		return 0, err
	}
	return time.Duration(grace) * time.Second, nil
}

// rotateSecret makes a new secret; the old one keeps signing beside it for
// the grace period (none when 0). A rotation during a grace period drops
// the older previous secret.
func (a *API) rotateSecret(w http.ResponseWriter, r *http.Request) error {
	b, err := readBody(w, r, a.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	grace, err := parseGrace(b)
	if err != nil {
		return err
	}
	id, err := webhookIDParam(r)
	if err != nil {
		return err
	}
	secret, err := newSecret()
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	now := a.now()
	wh, err := a.store.UpdateWebhook(r.Context(), id, func(w *kv.Webhook) error {
		if !p.sees(w) {
			return kv.ErrNotFound
		}
		w.PreviousSecret, w.PreviousSecretExpiresAt = "", nil
		if grace > 0 {
			exp := now.Add(grace)
			w.PreviousSecret, w.PreviousSecretExpiresAt = w.Secret, &exp
		}
		w.Secret = secret
		w.UpdatedAt = now
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rotateSecretView{ID: wh.ID, Secret: wh.Secret, PreviousSecretExpiresAt: timePtr(wh.PreviousSecretExpiresAt)})
	return nil
}
