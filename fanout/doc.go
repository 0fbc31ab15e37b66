// Package fanout is webhookd's delivery engine: it matches events to
// webhooks and delivers them as signed HTTP POSTs with retries.
//
// The pure parts: Index (webhooks bucketed by scope and pattern), the
// signatures (SignStandard, SignLegacy), the SSRF-safe Sender, outcome
// classification (Classify), the retry Schedule and the header set
// (BuildHeader).
//
// The engine, Fanout, runs two stages joined by the bus:
//
//   - match: pulls events (bus.MatchConsumer), dead-letters invalid ones,
//     finds the matching webhooks in the Index, stores one delivery per
//     (event, webhook) (idempotent, so a redelivered event makes no second
//     one), publishes one task per delivery (bus.PublishTasks) and only then
//     acks the event.
//   - deliver: pulls tasks (bus.DeliverConsumer) into a bounded worker pool
//     with a per-webhook cap and a per-webhook queue sized by the webhook's
//     pace, makes one attempt per task, records it in the store (where
//     attempt numbers live, so they survive restarts) and acks, or
//     NakWithDelay's the task for a retry due soon. A retry due later
//     (DeferRetriesAfter) waits in the store's due list instead, which
//     dueLoop turns back into a task when due: a long backlog costs disk,
//     not the server's memory. A webhook's 410 disables it; too many
//     consecutive failures auto-disable it and publish a
//     webhook.auto_disabled event, kept in the store (written with the
//     disable) until it is published.
//
// Test makes one synchronous attempt of a test event for the admin API.
//
// Goroutines: Start starts MatchWorkers match loops, one deliver loop that
// pulls tasks while fewer than heldMax are held and no fast webhook's
// queue is over its size, runners for the webhooks with work (at most
// PerWebhookConcurrency per webhook; each runs its webhook's queued tasks
// one after another, each holding one of Workers slots, and when the
// queue is empty waits two seconds for a new job of any webhook before it
// ends, at most Workers of them waiting, none once Stop begins), the due
// loop (which also publishes the auto-disabled
// events left unpublished and fails test deliveries whose synchronous
// attempt a crash interrupted), and one keep-alive goroutine per
// stage that calls InProgress on every held message well
// inside AckWait. The store's webhook watch runs on a context Stop
// cancels. Stop ends the pulls (each finishes its current pull, at most
// about a second, and hands back what arrives), naks queued tasks at once,
// waits for in-flight attempts until its ctx ends, then cancels them and
// naks their messages without delay; it returns after every goroutine has
// ended. A stopped Fanout cannot be started again: build a new one.
package fanout
