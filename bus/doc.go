// Package bus owns webhookd's NATS side: the embedded nats-server (or the
// connection to an external cluster), the stream and consumer definitions,
// the event envelope, the delivery task message, the dead-letter stream and
// W3C trace-context propagation in NATS headers.
//
// Streams (declared idempotently at every start):
//   - EVENTS on "<prefix>.>": what platform services publish; a duplicate
//     window makes ingest idempotent on Nats-Msg-Id.
//   - WEBHOOKD_TASKS on "webhookd.tasks.<webhook_id>": one message per
//     (event, webhook) delivery, work-queue retention.
//   - WEBHOOKD_DLQ on "webhookd.dlq.>": envelopes that could not be
//     processed, with the reason in a header.
//
// bus imports no other webhookd package.
//
// Goroutines: the embedded server's and the NATS connection's own; Close
// drains the connection and shuts the server down, waiting for both.
package bus
