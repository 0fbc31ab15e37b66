// Package kv owns webhookd's records (webhooks, deliveries with their attempts,
// per-webhook stats) and the one Store seam every other package persists through.
//
// Backends: Bolt (a single bbolt file, the embedded default). A JetStream KV
// backend for several processes sharing one cluster fits behind the same
// interface: every mutation is expressed as a semantic operation (create, update
// with a function, record an attempt) so that a backend can implement it with a
// transaction or a compare-and-swap loop.
//
// kv imports no other webhookd package. kv/kvtest is the conformance suite every
// backend must pass.
//
// Bolt keeps the hot writes (deliveries, attempts) in a write-ahead journal
// and one open bbolt transaction, committed about ten times a second
// (bolt_commit.go, journal.go).
//
// Goroutines: Bolt owns one background goroutine that queues the timed
// checkpoints, drops the mapping of the file's pages every second
// (bolt_release.go) and, with NoSync, syncs the journal; Close stops it and
// checkpoints once more. Watchers registered with WatchWebhooks are called
// synchronously by the writer after each change of a webhook (not after
// each attempt: see RecordAttempt) and are dropped when their context
// ends.
package kv
