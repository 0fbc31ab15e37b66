package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Headers of a dead-lettered message (its body is the original's).
const (
	HeaderDeadLetterReason   = "Webhookd-Dlq-Reason"
	HeaderDeadLetterCategory = "Webhookd-Dlq-Category"
	HeaderDeadLetterSubject  = "Webhookd-Dlq-Subject"
	HeaderDeadLetterStream   = "Webhookd-Dlq-Stream"
	HeaderDeadLetterSequence = "Webhookd-Dlq-Sequence"
	HeaderDeadLetterMsgID    = "Webhookd-Dlq-Msg-Id"
	// HeaderDeadLetterBodyOmitted is "true" when the original body did not
	// fit beside the dead-letter headers; the original is then only in its
	// stream, at HeaderDeadLetterSequence, while that stream retains it.
	HeaderDeadLetterBodyOmitted = "Webhookd-Dlq-Body-Omitted"
)

// maxReasonLen bounds the reason header.
const maxReasonLen = 512

// DeadLetter moves an unprocessable message to the DLQ stream with the
// reason and counts it; the caller acks the original afterwards. Events go
// to DeadLetterEventsSubject, task messages to DeadLetterTasksSubject. The
// copy's Nats-Msg-Id is derived from the original's stream and sequence, so
// dead-lettering a redelivered message again stores it once.
//
// reason should start with a short category: "<category>: <detail>"
// (e.g. "invalid_json: ..."), optionally behind "invalid envelope: " as
// *EnvelopeError.Error() writes it; the category ([a-z0-9_], at most 32
// bytes, else "other") labels the webhookd_dead_letters_total counter.
// Callers must not put ids in the category.
func (b *Bus) DeadLetter(ctx context.Context, msg jetstream.Msg, reason string) error {
	category := ReasonCategory(reason)
	reason = sanitizeReason(reason)
	subject := msg.Subject()

	h := make(nats.Header, 8)
	h[HeaderDeadLetterReason] = []string{reason}
	h[HeaderDeadLetterCategory] = []string{category}
	h[HeaderDeadLetterSubject] = []string{subject}
	dest := DeadLetterEventsSubject
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
		h[HeaderDeadLetterStream] = []string{md.Stream}
		h[HeaderDeadLetterSequence] = []string{strconv.FormatUint(seq, 10)}
		h[jetstream.MsgIDHeader] = []string{"dlq." + md.Stream + "." + strconv.FormatUint(seq, 10)}
		if md.Stream == TasksStream {
			dest = DeadLetterTasksSubject
		}
	}
	orig := msg.Headers()
	if id := orig.Get(jetstream.MsgIDHeader); id != "" {
		h[HeaderDeadLetterMsgID] = []string{id}
	}
	copyTrace(h, orig)

	ack, err := b.js.PublishMsg(ctx, &nats.Msg{Subject: dest, Header: h, Data: msg.Data()})
	if errors.Is(err, nats.ErrMaxPayload) {
		// A message at the server's size limit cannot carry our headers
		// too; keep the record rather than retry forever.
		h[HeaderDeadLetterBodyOmitted] = []string{"true"}
		ack, err = b.js.PublishMsg(ctx, &nats.Msg{Subject: dest, Header: h})
	}
	if err != nil {
		return fmt.Errorf("dead-letter %s seq %d: %w", subject, seq, err)
	}
	if ack.Duplicate {
		return nil // counted and logged the first time
	}
	b.deadLetters.Add(ctx, 1, metric.WithAttributes(attribute.String("reason", category)))
	b.log.Warn("message dead-lettered", "subject", subject, "stream_seq", seq,
		"reason", reason, "dlq_seq", ack.Sequence)
	return nil
}

// ReasonCategory returns the short category a dead-letter reason starts
// with (see DeadLetter), "other" when it has none.
func ReasonCategory(reason string) string {
	r := strings.TrimPrefix(reason, "invalid envelope: ")
	n := 0
	for n < len(r) && n <= 32 {
		c := r[n]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' {
			n++
			continue
		}
		break
	}
	if n == 0 || n > 32 || (n < len(r) && r[n] != ':') {
		return "other"
	}
	return r[:n]
}

// sanitizeReason makes reason a safe, bounded header value.
func sanitizeReason(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > maxReasonLen {
		reason = strings.ToValidUTF8(reason[:maxReasonLen], "")
	}
	if reason == "" {
		reason = "unspecified"
	}
	return reason
}
