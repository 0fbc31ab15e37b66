// Package test holds webhookd's black-box end-to-end tests. They build the
// real binary once (TestMain), run it as a separate process on a temporary
// data dir with OS-picked ports, drive the admin API over HTTP with real
// JWTs minted by `webhookd token`, publish real JetStream messages to its
// embedded NATS server, and receive real HTTP deliveries on httptest
// servers that verify both signature schemes independently of the code
// under test.
//
// Every process a test starts is stopped by t.Cleanup.
package test
