// Command webhookbench is webhookd's end-to-end benchmark: how many
// deliveries per second, at what latency, at what CPU and memory cost, on
// the machine it runs on.
//
//	go run ./cmd/webhookbench          # about two minutes
//	go run ./cmd/webhookbench -full    # the sizes of issue 5, three runs each
//
// It builds cmd/webhookd with the go command (or takes -webhookd), and for
// every measured run starts a fresh webhookd (embedded NATS, new data dir,
// --allow-http --allow-targets 127.0.0.1/32) and a receiver, each in its
// own process: the receiver is this binary re-executed with the hidden
// "receiver" command. Webhooks are created over the admin API with a token
// from `webhookd token --data-dir`; events are published to the embedded
// NATS with async JetStream publishes and Nats-Msg-Id, each carrying its
// publish time, from which the receiver computes publish → receipt latency
// and counts duplicates and losses per (webhook, event).
//
// In the same run it measures the machine's ceilings, so that the results
// are ratios that hold elsewhere: the raw HTTP ceiling (the receiver driven
// directly by fanout.BuildHeader and fanout.Sender at the concurrency
// webhookd has for that fan-out) and the raw JetStream ceiling (synchronous
// publishes to a file stream of a nats-server in this process, with the
// fsync setting of each --fsync mode).
//
// Scenarios (-scenarios): ceilings; throughput (flat out, or -rate, for
// each -fanout and -fsync); latency (a fixed rate at -latency-load of the
// measured 1→1 maximum); backlog (receiver down until -backlog deliveries
// are pending and webhookd has made as many attempts, then up: how fast
// the backlog drains, with a -backlog-retry schedule so every delivery is
// due soon after); rss (receiver down until -rss-pending deliveries are
// pending, with a 1 h retry delay: webhookd's RSS then, and the largest
// it holds over -rss-window once left alone for -rss-settle). CPU is webhookd's
// utime+stime from /proc/<pid>/stat, RSS its VmRSS and VmHWM; both include
// the embedded nats-server.
//
// Goroutines and processes: run drives everything from one goroutine; the
// publisher has one goroutine that waits for acks, the raw HTTP ceiling
// one per concurrent sender, each child process one that copies its output
// to a log (kept with -keep). Every child is stopped (SIGTERM, then kill)
// before the scenario that started it returns; the receiver also exits when
// its stdin closes, so it never outlives the bench.
package main
