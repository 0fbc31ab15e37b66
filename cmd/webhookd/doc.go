// Command webhookd runs the webhook delivery service and its helper
// commands: serve (the default), token, publish and version.
//
// It is the only place that reads the environment: every flag also reads
// WEBHOOKD_<FLAG> (upper snake case). serve starts the packages in order
// bus → kv → fanout → admin and stops them in reverse on SIGTERM or SIGINT,
// letting in-flight deliveries finish within --drain-timeout.
package main
