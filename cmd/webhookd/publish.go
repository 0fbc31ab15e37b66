package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scailabs/webhookd/bus"
)

// publish sends one event envelope to JetStream the way a platform service
// does: subject <prefix>.<type>, Nats-Msg-Id set to the event id.
func publish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("publish", stderr)
	typ := fs.String("type", "", "event type, e.g. user.created (required)")
	tenant := fs.String("tenant-id", "", "tenant_id of the event")
	partner := fs.String("partner-id", "", "partner_id of the event")
	source := fs.String("source", "webhookd-cli", "source of the event")
	data := fs.String("data", "{}", "the event's data, JSON")
	eventID := fs.String("event-id", "", "event id (default: generated)")
	url := fs.String("nats-url", "nats://127.0.0.1:4222", "NATS server(s)")
	prefix := fs.String("event-prefix", "events", "subject prefix of events")
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the server")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !bus.ValidEventType(*typ) {
		return fmt.Errorf("--type: %q is not an event type (dot-separated lowercase tokens)", *typ)
	}
	if !json.Valid([]byte(*data)) {
		return errors.New("--data: not valid JSON")
	}
	if *eventID == "" {
		*eventID = bus.NewEventID()
	}
	body, err := json.Marshal(struct {
		EventID   string          `json:"event_id"`
		EventType string          `json:"event_type"`
		Timestamp string          `json:"timestamp"`
		Source    string          `json:"source,omitempty"`
		TenantID  string          `json:"tenant_id,omitempty"`
		PartnerID string          `json:"partner_id,omitempty"`
		Data      json.RawMessage `json:"data"`
	}{*eventID, *typ, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), *source, *tenant, *partner, json.RawMessage(*data)})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	nc, err := nats.Connect(*url, nats.Name("webhookd-publish"), nats.Timeout(*timeout))
	if err != nil {
		return fmt.Errorf("connect %s: %w", *url, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	msg := nats.NewMsg(*prefix + "." + *typ)
	msg.Header.Set(jetstream.MsgIDHeader, *eventID)
	msg.Data = body
	ack, err := js.PublishMsg(ctx, msg)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	dup := ""
	if ack.Duplicate {
		dup = " (duplicate: already stored)"
	}
	fmt.Fprintf(stdout, "published %s to %s (stream %s, seq %d)%s\n", *eventID, msg.Subject, ack.Stream, ack.Sequence, dup)
	return nil
}
