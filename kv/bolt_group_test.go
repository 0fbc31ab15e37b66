package kv

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// openWithWebhooks opens a store in a temporary directory (closed when
// the test ends) holding webhooks of these ids.
func openWithWebhooks(t *testing.T, ids ...string) *Bolt {
	t.Helper()
	s, err := OpenBolt(BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, id := range ids {
		if err := s.CreateWebhook(context.Background(), &Webhook{ID: id, TenantID: "tnt_a", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// statsBumpOp changes a webhook's stats record in its group and then
// fails: what it changed must not reach the file.
type statsBumpOp struct{ webhookID string }

var errStatsBump = errors.New("stats bump told to fail")

func (op *statsBumpOp) apply(g *groupTx) error {
	hb, ok := hook(g.Tx, op.webhookID)
	if !ok {
		return ErrNotFound
	}
	s, err := g.statsOf(hb)
	if err != nil {
		return err
	}
	s.Pending += 100
	return errStatsBump
}

func (op *statsBumpOp) encode(buf []byte) ([]byte, error) { return append(buf, opTestPut), nil }

// A group's operations on one webhook share its stats record and store
// it once; an operation that fails half-way takes its change of the
// record with it, and the others of the group still count once each.
func TestBoltGroupSharesStatsAndDropsAFailedOpsChange(t *testing.T) {
	t.Parallel()
	s := openWithWebhooks(t, "wh_1", "wh_2")
	ctx := context.Background()
	now := time.Now().UTC()
	create := func(webhookID, eventID string) *createOp {
		return &createOp{in: newPending(&Delivery{WebhookID: webhookID, EventID: eventID}, now)}
	}
	ops := []journalOp{
		create("wh_1", "evt_1"),
		create("wh_2", "evt_1"),
		&statsBumpOp{webhookID: "wh_1"},
		create("wh_1", "evt_2"),
		create("wh_1", "evt_3"),
	}
	errs := s.commit.applyAll(ops)
	for i, err := range errs {
		if want := error(nil); i == 2 {
			if !errors.Is(err, errStatsBump) {
				t.Errorf("op %d: %v, want its own error", i, err)
			}
		} else if err != want {
			t.Errorf("op %d: %v", i, err)
		}
	}
	check := func(when string) {
		t.Helper()
		for id, want := range map[string]int64{"wh_1": 3, "wh_2": 1} {
			st, err := s.WebhookStats(ctx, id, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if st.Pending != want {
				t.Errorf("%s: %s pending = %d, want %d", when, id, st.Pending, want)
			}
		}
		if err := s.Check(); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
	check("answered")
	if err := s.commit.flush(); err != nil {
		t.Fatal(err)
	}
	check("checkpointed")
}

// CreateDeliveries writes its deliveries as one group of the committer
// (kvtest checks what it answers).
func TestBoltCreateDeliveriesIsOneGroup(t *testing.T) {
	t.Parallel()
	s := openWithWebhooks(t, "wh_1")
	ctx := context.Background()
	before := s.commit.seq
	var ds []*Delivery
	for i := range 100 {
		ds = append(ds, &Delivery{WebhookID: "wh_1", EventID: fmt.Sprintf("evt_%d", i)})
	}
	for i, out := range s.CreateDeliveries(ctx, ds) {
		if !out.Created || out.Err != nil {
			t.Fatalf("delivery %d: %+v", i, out)
		}
	}
	if groups := s.commit.seq - before; groups != 1 {
		t.Errorf("journal groups written for 100 deliveries = %d, want 1", groups)
	}
}
