package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// GetEvent reads an envelope back from the events stream by sequence (for
// a manual retry); ErrEventGone when it is no longer retained (expired,
// deleted, purged, or never existed).
func (b *Bus) GetEvent(ctx context.Context, seq uint64) ([]byte, error) {
	m, err := b.getEvent(ctx, seq)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// GetEventTrace is GetEvent with the trace headers the event was
// published with (nil when it had none): an attempt made long after the
// event, from the due list, then stays in the publisher's trace.
func (b *Bus) GetEventTrace(ctx context.Context, seq uint64) ([]byte, nats.Header, error) {
	m, err := b.getEvent(ctx, seq)
	if err != nil {
		return nil, nil, err
	}
	trace := nats.Header{}
	if !copyTrace(trace, m.Header) {
		trace = nil
	}
	return m.Data, trace, nil
}

func (b *Bus) getEvent(ctx context.Context, seq uint64) (*jetstream.RawStreamMsg, error) {
	if seq == 0 {
		return nil, ErrEventGone
	}
	s, err := b.js.Stream(ctx, EventsStream)
	if err != nil {
		return nil, fmt.Errorf("get event seq %d: %w", seq, err)
	}
	m, err := s.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, ErrEventGone
	}
	if err != nil {
		return nil, fmt.Errorf("get event seq %d: %w", seq, err)
	}
	return m, nil
}
