// Package bus owns webhookd's NATS side: the embedded nats-server (or the
// connection to an external cluster), the stream and consumer definitions,
// the event envelope, the delivery task message, the dead-letter stream,
// event patterns, reserved delivery headers and W3C trace-context
// propagation in NATS headers.
//
// Streams (declared idempotently at every Start):
//   - EVENTS on "<prefix>.>": what platform services publish; a duplicate
//     window makes ingest idempotent on Nats-Msg-Id. Created with metadata
//     marking it webhookd's, and then updated to the current Config at
//     every start. An EVENTS stream someone else created (an operator
//     sharing it with other consumers) is never modified; Start only checks
//     that it covers "<prefix>.>" and is not a work queue.
//   - WEBHOOKD_TASKS on "webhookd.tasks.<webhook_id>": one message per
//     (event, webhook) delivery, work-queue retention.
//   - WEBHOOKD_DLQ on "webhookd.dlq.events" and "webhookd.dlq.tasks":
//     messages that could not be processed, with the reason in a header.
//
// Consumers: webhookd-match on EVENTS and webhookd-deliver on TASKS, both
// durable pull consumers with explicit acks and unlimited deliveries. A new
// match consumer starts at the first event when EVENTS is new or empty and
// at new events otherwise (no replay of retained history to every
// webhook); an existing one keeps its position.
//
// bus imports no other webhookd package.
//
// Goroutines: only the embedded server's and the NATS client's own. Close
// drains the connection (bounded by Config.DrainTimeout), then shuts the
// embedded server down and waits for it.
package bus
