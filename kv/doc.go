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
// Goroutines: Bolt with NoSync owns one goroutine that syncs the file
// periodically; Close stops it and syncs once more. Otherwise a Store owns
// none; watchers
// registered with WatchWebhooks are called synchronously by the writer after
// each commit and are dropped when their context ends.
package kv
