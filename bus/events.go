package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// GetEvent reads an envelope back from the events stream by sequence (for
// a manual retry); ErrEventGone when it is no longer retained (expired,
// deleted, purged, or never existed).
func (b *Bus) GetEvent(ctx context.Context, seq uint64) ([]byte, error) {
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
	return m.Data, nil
}
