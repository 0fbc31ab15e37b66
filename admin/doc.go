// Package admin owns webhookd's admin REST API: the chi router under
// /api/v1/admin/webhooks, bearer JWT verification (HS256 shared key, RS256 /
// ES256 public keys from PEM or a JWKS URL), the mapping of token claims to a
// principal and of a principal to the webhooks it may see, strict request
// validation with FastAPI-style 422 answers, the mapping of every error to
// HTTP (errors.go, one function), the OpenAPI 3.1 document served at
// /openapi.json, the event-type catalogue, and the helpers the `webhookd
// token` command uses to mint tokens for the local HS256 key.
//
// admin persists through kv.Store and publishes manual retries through a
// TaskPublisher (a *bus.Bus); test deliveries go through a Tester (a
// *fanout.Fanout wired by cmd/webhookd). admin never imports fanout.
//
// Where the contract is silent:
//   - A request is checked in this order: token (401), role and platform
//     scope for the method (403), body / query / path (422, every
//     violation at once, at most 100 listed), then the object (404 for
//     unknown and out-of-scope ids alike), then ownership at create (403).
//   - Every object key is always present; unset values are null.
//     Timestamps are UTC RFC 3339 with milliseconds.
//   - PATCH: null clears description and headers; null elsewhere is a type
//     error; tenant_id, partner_id and secret are refused (extra_forbidden).
//     status may be active or inactive; leaving disabled clears
//     disabled_reason, and active also clears consecutive_failures.
//   - Duplicate event patterns are dropped; header names must be distinct
//     regardless of case; a rotation during a grace period drops the older
//     previous secret.
//
// Goroutines: when AuthConfig.JWKSURL is set, New starts the JWKS cache's
// refresh goroutine (hourly); an unknown kid refreshes the set at most once
// a minute, on the request's goroutine. Close cancels the refresh
// goroutine's context. Request handling runs on the caller's http.Server
// goroutines; admin starts no other.
package admin
