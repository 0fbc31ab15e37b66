package fanout

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// deliveredMsg is a message that only knows how often it was delivered.
type deliveredMsg struct {
	jetstream.Msg
	n   uint64
	err error
}

func (m deliveredMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{NumDelivered: m.n}, m.err
}

func TestBusyDelayGrowsWithEachHandBackUpToItsBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  deliveredMsg
		want time.Duration
	}{
		{deliveredMsg{n: 1}, time.Second},
		{deliveredMsg{n: 2}, 2 * time.Second},
		{deliveredMsg{n: 3}, 4 * time.Second},
		{deliveredMsg{n: 5}, 16 * time.Second},
		{deliveredMsg{n: 6}, maxBusyDelay},
		{deliveredMsg{n: 1 << 40}, maxBusyDelay},
		{deliveredMsg{n: 0}, time.Second},
		{deliveredMsg{n: 9, err: errors.New("no metadata")}, time.Second},
	} {
		if got := busyDelay(tc.msg); got != tc.want {
			t.Errorf("busyDelay after %d deliveries (err %v) = %s, want %s", tc.msg.n, tc.msg.err, got, tc.want)
		}
	}
}

func TestLimiterMarksAWebhookSlowByItsLatestJob(t *testing.T) {
	t.Parallel()
	l := newLimiter(1, 1)
	if l.slow("a") {
		t.Fatal("a webhook without work is slow")
	}
	l.admit("a", &job{})
	l.took("a", slowJob)
	if !l.slow("a") || l.slow("b") {
		t.Fatalf("after a %s job: a slow %v, b slow %v; want a only", slowJob, l.slow("a"), l.slow("b"))
	}
	l.took("a", time.Millisecond)
	if l.slow("a") {
		t.Fatal("a webhook whose latest job was quick is still slow")
	}
	l.took("a", time.Minute)
	if l.next("a") != nil || l.slow("a") {
		t.Fatal("a webhook whose work ended is still slow")
	}
}
