package kv

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// A file of layout 1 (JSON deliveries and attempts) opens, reads as it was
// written, takes new attempts, and is marked layout 3; a file of an
// unknown layout is refused.
func TestBoltUpgradesLayout1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	d := &Delivery{WebhookID: "wh_1", EventID: "evt_1", EventType: "user.created", TenantID: "tnt_1", EventSeq: 7}
	s := openWithDelivery(t, path, d)
	next := time.Now().Add(time.Minute).UTC()
	if _, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: d.ID,
		Attempt: Attempt{StartedAt: time.Now().UTC(), DurationMS: 3, StatusCode: 500, Error: "http 500"}, NextAttemptAt: &next}); err != nil {
		t.Fatal(err)
	}
	want, err := s.GetDelivery(ctx, "wh_1", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rewriteAsLayout1(t, path)

	s, err = OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetDelivery(ctx, "wh_1", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("delivery of layout 1:\n got %+v\nwant %+v", got, want)
	}
	res, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: d.ID,
		Attempt: Attempt{StartedAt: time.Now().UTC(), DurationMS: 2, StatusCode: 200}, Success: true})
	if err != nil || res.Stale {
		t.Fatalf("attempt on a layout-1 delivery: %+v, %v", res, err)
	}
	got, err = s.GetDelivery(ctx, "wh_1", d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != DeliverySuccess || len(got.Attempts) != 2 || got.Attempts[0].Error != "http 500" {
		t.Fatalf("after the upgrade: status %s, attempts %+v", got.Status, got.Attempts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v := layoutOf(t, path); v != layoutVersion {
		t.Fatalf("layout after opening = %q, want %q", v, layoutVersion)
	}

	setLayout(t, path, "4")
	if _, err := OpenBolt(BoltOptions{Path: path}); err == nil || !strings.Contains(err.Error(), `unsupported layout version "4"`) {
		t.Fatalf("opening layout 4: %v, want unsupported layout version", err)
	}
}

// rewriteAsLayout1 turns the file's deliveries and attempts into JSON and
// its version into 1, as webhookd wrote them before layout 2.
func rewriteAsLayout1(t *testing.T, path string) {
	t.Helper()
	editFile(t, path, func(tx *bolt.Tx) error {
		hb, _ := hook(tx, "wh_1")
		if err := rewrite(hb.deliveries, func(v []byte) (any, error) { return decodeDelivery(v, "wh_1") }); err != nil {
			return err
		}
		if err := rewrite(hb.attempts, func(v []byte) (any, error) { a, err := decodeAttempt(v); return &a, err }); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte("1"))
	})
}

func rewrite(b *bolt.Bucket, decode func([]byte) (any, error)) error {
	next := map[string][]byte{}
	err := b.ForEach(func(k, v []byte) error {
		rec, err := decode(v)
		if err != nil {
			return err
		}
		js, err := json.Marshal(rec)
		next[string(k)] = js
		return err
	})
	if err != nil {
		return err
	}
	for k, v := range next {
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	return nil
}

func layoutOf(t *testing.T, path string) (v string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_ = db.View(func(tx *bolt.Tx) error {
		v = string(tx.Bucket(bucketMeta).Get(keyVersion))
		return nil
	})
	return v
}

func setLayout(t *testing.T, path, v string) {
	t.Helper()
	editFile(t, path, func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keyVersion, []byte(v)) })
}

// editFile changes the closed store's file directly, as another binary
// would have written it.
func editFile(t *testing.T, path string, fn func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
}

// openWithDelivery opens a new store at path with webhook wh_1 and d in it.
func openWithDelivery(t *testing.T, path string, d *Delivery) *Bolt {
	t.Helper()
	ctx := context.Background()
	s, err := OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateWebhook(ctx, &Webhook{ID: "wh_1", URL: "https://example.com", Status: WebhookActive, MaxRetries: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateDelivery(ctx, d); err != nil {
		t.Fatal(err)
	}
	return s
}

// rewriteWebhookJSON changes webhook id's JSON record as fn says.
func rewriteWebhookJSON(tx *bolt.Tx, id string, fn func(*Webhook)) error {
	w, err := decodeWebhook(tx.Bucket(bucketWebhooks).Get([]byte(id)))
	if err != nil {
		return err
	}
	fn(w)
	v, err := json.Marshal(w)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketWebhooks).Put([]byte(id), v)
}

// A webhook written before its health moved to the stats record (the
// record ends before the health fields, the JSON has the health) reads
// its health from the JSON, and the next attempt carries it on.
func TestBoltHealthFromOlderRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	d := &Delivery{WebhookID: "wh_1", EventID: "evt_1", EventType: "user.created"}
	s := openWithDelivery(t, path, d)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	failedAt := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	editFile(t, path, func(tx *bolt.Tx) error {
		err := rewriteWebhookJSON(tx, "wh_1", func(w *Webhook) { w.ConsecutiveFailures, w.LastFailureAt = 4, &failedAt })
		if err != nil {
			return err
		}
		hb, _ := hook(tx, "wh_1")
		var st statCounters
		if err := hb.loadStats(&st); err != nil {
			return err
		}
		st.ConsecutiveFailures = 9 // ignored: no health bit
		old := st.encode()
		for range healthFields { // each field is a one-byte varint here
			old = old[:len(old)-1]
		}
		return hb.root.Put(keyStats, old)
	})

	s, err := OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.GetWebhook(ctx, "wh_1")
	if err != nil {
		t.Fatal(err)
	}
	if w.ConsecutiveFailures != 4 || w.LastFailureAt == nil || !w.LastFailureAt.Equal(failedAt) {
		t.Fatalf("health of an older record: %d failures, last failure %v; want 4, %v", w.ConsecutiveFailures, w.LastFailureAt, failedAt)
	}
	res, err := s.RecordAttempt(ctx, AttemptOutcome{WebhookID: "wh_1", DeliveryID: d.ID,
		Attempt: Attempt{StartedAt: time.Now().UTC(), DurationMS: 2, StatusCode: 500, Error: "http 500"}, Final: true})
	if err != nil || res.Webhook.ConsecutiveFailures != 5 {
		t.Fatalf("attempt after an older record: %+v, %v; want 5 consecutive failures", res, err)
	}
	if w, err := s.GetWebhook(ctx, "wh_1"); err != nil || w.ConsecutiveFailures != 5 || w.Revision != res.Webhook.Revision {
		t.Fatalf("stored health after the attempt: %+v, %v", w, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// An older binary re-enables the webhook: it writes the JSON (new
	// revision, streak reset) and leaves the stats record's health as it
	// was. The health kept for the older revision is not used.
	editFile(t, path, func(tx *bolt.Tx) error {
		return rewriteWebhookJSON(tx, "wh_1", func(w *Webhook) { w.ConsecutiveFailures, w.Revision = 0, w.Revision+1 })
	})
	s, err = OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if w, err := s.GetWebhook(ctx, "wh_1"); err != nil || w.ConsecutiveFailures != 0 {
		t.Fatalf("after an older binary's update: %+v, %v; want the JSON's 0 consecutive failures", w, err)
	}
}

// A file of layout 2 (events keyed by id alone, records without event
// times) opens as layout 3: its events are still found by id, new ones
// are keyed by their time, and the counters agree.
func TestBoltUpgradesLayout2(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kv.db")
	at := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	newDelivery := func(eventID string, eventTime time.Time) *Delivery {
		return &Delivery{WebhookID: "wh_1", EventID: eventID, EventType: "user.created", EventSeq: 1, EventTime: eventTime}
	}
	old := newDelivery("evt_old", at)
	if err := openWithDelivery(t, path, old).Close(); err != nil {
		t.Fatal(err)
	}
	rewriteAsLayout2(t, path)

	s, err := OpenBolt(BoltOptions{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		d       *Delivery
		created bool
		id      int64
	}{
		{newDelivery("evt_old", at), false, old.ID},
		{newDelivery("evt_new", at.Add(time.Second)), true, 0},
		{newDelivery("evt_new", at.Add(time.Second)), false, old.ID + 1},
	} {
		created, err := s.CreateDelivery(ctx, c.d)
		if err != nil || created != c.created || c.id != 0 && c.d.ID != c.id {
			t.Fatalf("CreateDelivery(%s) = %v, %v, id %d; want %v, id %d", c.d.EventID, created, err, c.d.ID, c.created, c.id)
		}
	}
	if got, err := s.GetDelivery(ctx, "wh_1", old.ID); err != nil || !got.EventTime.IsZero() {
		t.Fatalf("delivery of layout 2 = %+v, %v; want it without an event time", got, err)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	err = s.commit.read(func(tx *bolt.Tx) error {
		hb, _ := hook(tx, "wh_1")
		if n, m := hb.events.Stats().KeyN, hb.eventTimes.Stats().KeyN; n != 1 || m != 1 {
			t.Errorf("%d events keyed by id, %d by time; want 1 and 1", n, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v := layoutOf(t, path); v != layoutVersion {
		t.Fatalf("layout after opening = %q, want %q", v, layoutVersion)
	}
}

// rewriteAsLayout2 keys wh_1's events by id alone, drops the event times
// from its deliveries and sets the version to 2, as webhookd wrote them
// before layout 3.
func rewriteAsLayout2(t *testing.T, path string) {
	t.Helper()
	editFile(t, path, func(tx *bolt.Tx) error {
		hb, _ := hook(tx, "wh_1")
		events, err := hb.root.CreateBucket(subEvents)
		if err != nil {
			return err
		}
		if err := hb.eventTimes.ForEach(func(k, v []byte) error { return events.Put(k[timeKeyLen:], v) }); err != nil {
			return err
		}
		if err := hb.root.DeleteBucket(subEventTimes); err != nil {
			return err
		}
		untimed := map[string][]byte{}
		if err := hb.deliveries.ForEach(func(k, v []byte) error {
			d, err := decodeDelivery(v, "wh_1")
			if err != nil {
				return err
			}
			d.EventTime = time.Time{}
			untimed[string(k)], err = encodeDelivery(nil, d)
			return err
		}); err != nil {
			return err
		}
		for k, v := range untimed {
			if err := hb.deliveries.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyVersion, []byte("2"))
	})
}
