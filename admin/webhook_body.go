package admin

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/scailabs/webhookd/bus"
	"github.com/scailabs/webhookd/kv"
)

// createInput is a validated create body.
type createInput struct {
	url            string
	description    string
	events         []string
	status         kv.WebhookStatus
	maxRetries     int
	timeoutSeconds int
	headers        map[string]string
	tenant         ownerField
	partner        ownerField
	secret         string // empty: generate one
}

// patchInput is a validated update body; nil fields are left unchanged.
type patchInput struct {
	url            *string
	description    *string
	events         []string // nil: unchanged (an empty list is refused)
	status         *kv.WebhookStatus
	maxRetries     *int
	timeoutSeconds *int
	headers        map[string]string // nil: unchanged; empty: cleared
}

var (
	createFields = map[string]bool{
		"url": true, "description": true, "events": true, "status": true, "max_retries": true,
		"timeout_seconds": true, "headers": true, "tenant_id": true, "partner_id": true, "secret": true,
	}
	patchFields = map[string]bool{
		"url": true, "description": true, "events": true, "status": true, "max_retries": true,
		"timeout_seconds": true, "headers": true,
	}
	patchRefused = map[string]string{
		"tenant_id":  "Ownership cannot be changed; create a new webhook instead",
		"partner_id": "Ownership cannot be changed; create a new webhook instead",
		"secret":     "The secret cannot be set; use POST /api/v1/admin/webhooks/{webhook_id}/rotate-secret",
	}
)

// parseCreate decodes and validates a create body, collecting every
// violation into one validationError.
func (a *API) parseCreate(b []byte) (*createInput, error) {
	v := &validationError{}
	obj, ok := decodeObject(b, v)
	if !ok {
		return nil, v
	}
	obj.rejectUnknown(v, createFields, nil)
	in := &createInput{status: kv.WebhookActive, maxRetries: defaultMaxRetries, timeoutSeconds: defaultTimeout}

	switch s, p := obj.str(v, "url", false); p {
	case absent:
		v.add(typeMissing, "Field required", "body", "url")
	case given:
		in.url = s
		checkURL(v, s, a.cfg.AllowHTTP, "body", "url")
	}
	if s, p := obj.str(v, "description", true); p == given {
		in.description = s
		checkText(v, s, maxDescription, "body", "description")
	}
	if list, present, ok := obj.strList(v, "events", maxEvents); !present {
		v.add(typeMissing, "Field required", "body", "events")
	} else if ok {
		in.events = a.checkEvents(v, list)
	}
	if s, p := obj.str(v, "status", false); p == given {
		in.status = checkStatus(v, s)
	}
	if n, present, ok := obj.integer(v, "max_retries"); present && ok {
		checkRange(v, n, minMaxRetries, maxMaxRetries, "body", "max_retries")
		in.maxRetries = int(n)
	}
	if n, present, ok := obj.integer(v, "timeout_seconds"); present && ok {
		checkRange(v, n, minTimeout, maxTimeout, "body", "timeout_seconds")
		in.timeoutSeconds = int(n)
	}
	if h, present, ok := obj.strMap(v, "headers", true, maxHeaders); present && ok {
		in.headers = h
		a.checkHeaders(v, h)
	}
	for _, f := range []struct {
		name string
		dst  *ownerField
	}{{"tenant_id", &in.tenant}, {"partner_id", &in.partner}} {
		if s, p := obj.str(v, f.name, true); p == given || p == explicitNull {
			*f.dst = ownerField{present: true, value: s}
			checkOwnerID(v, s, "body", f.name)
		}
	}
	if s, p := obj.str(v, "secret", true); p == given {
		if !validSecret(s) {
			v.add(typeValueError, secretFormatHint, "body", "secret")
		}
		in.secret = s
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return in, nil
}

// parsePatch decodes and validates an update body. null clears description
// and headers; null anywhere else is a type error.
func (a *API) parsePatch(b []byte) (*patchInput, error) {
	v := &validationError{}
	obj, ok := decodeObject(b, v)
	if !ok {
		return nil, v
	}
	obj.rejectUnknown(v, patchFields, patchRefused)
	in := &patchInput{}
	if s, p := obj.str(v, "url", false); p == given {
		in.url = &s
		checkURL(v, s, a.cfg.AllowHTTP, "body", "url")
	}
	if s, p := obj.str(v, "description", true); p == given || p == explicitNull {
		in.description = &s
		checkText(v, s, maxDescription, "body", "description")
	}
	if list, present, ok := obj.strList(v, "events", maxEvents); present && ok {
		in.events = a.checkEvents(v, list)
	}
	if s, p := obj.str(v, "status", false); p == given {
		st := checkStatus(v, s)
		in.status = &st
	}
	if n, present, ok := obj.integer(v, "max_retries"); present && ok {
		checkRange(v, n, minMaxRetries, maxMaxRetries, "body", "max_retries")
		m := int(n)
		in.maxRetries = &m
	}
	if n, present, ok := obj.integer(v, "timeout_seconds"); present && ok {
		checkRange(v, n, minTimeout, maxTimeout, "body", "timeout_seconds")
		t := int(n)
		in.timeoutSeconds = &t
	}
	if h, present, ok := obj.strMap(v, "headers", true, maxHeaders); present && ok {
		in.headers = h
		a.checkHeaders(v, h)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return in, nil
}

func checkStatus(v *validationError, s string) kv.WebhookStatus {
	switch st := kv.WebhookStatus(s); st {
	case kv.WebhookActive, kv.WebhookInactive:
		return st
	}
	v.add(typeEnum, "Input should be 'active' or 'inactive'", "body", "status")
	return ""
}

// checkEvents validates event patterns (a non-empty list, each a valid
// pattern, exact types in the catalogue; strList bounds the length) and
// returns them without duplicates, in order.
func (a *API) checkEvents(v *validationError, events []string) []string {
	if len(events) == 0 {
		v.add(typeTooShort, "List should have at least 1 item after validation, not 0", "body", "events")
		return nil
	}
	out := make([]string, 0, len(events))
	for i, e := range events {
		p, err := bus.ParsePattern(e)
		if err != nil {
			v.add(typeValueError, "Value error, "+err.Error(), "body", "events", i)
			continue
		}
		if t, exact := p.Exact(); exact && !a.catalog.Has(t) {
			v.add(typeValueError, fmt.Sprintf("Value error, unknown event type %q (GET /api/v1/admin/webhooks/events lists the known ones)", clip(t)), "body", "events", i)
			continue
		}
		if !slices.Contains(out, p.String()) {
			out = append(out, p.String())
		}
	}
	return out
}

// checkHeaders validates custom headers (strMap bounds their number): token names
// not reserved for webhookd's own headers and distinct regardless of case,
// values without CR, LF, NUL or other control characters.
func (a *API) checkHeaders(v *validationError, h map[string]string) {
	seen := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		value := h[name]
		lower := strings.ToLower(name)
		switch {
		case !validHeaderName(name):
			v.add(typeValueError, "Value error, header name must be an HTTP token", "body", "headers", name)
		case bus.ReservedHeader(name, a.cfg.LegacyPrefix):
			v.add(typeValueError, fmt.Sprintf("Value error, header %q is reserved", clip(name)), "body", "headers", name)
		case seen[lower]:
			v.add(typeValueError, fmt.Sprintf("Value error, header %q is given twice", clip(name)), "body", "headers", name)
		case !validHeaderValue(value):
			v.add(typeValueError, "Value error, header value must not contain CR, LF, NUL or other control characters", "body", "headers", name)
		case len(value) > maxHeaderValueLen:
			v.add(typeStringTooLong, fmt.Sprintf("String should have at most %d characters", maxHeaderValueLen), "body", "headers", name)
		}
		seen[lower] = true
	}
}

// validHeaderValue refuses control characters other than tab: CR and LF
// would split the header, the rest are refused by HTTP clients.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
