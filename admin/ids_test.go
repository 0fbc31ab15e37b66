package admin

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestEncodeULID(t *testing.T) {
	t.Parallel()
	var zero, ones [10]byte
	for i := range ones {
		ones[i] = 0xff
	}
	cases := []struct {
		ms   uint64
		rnd  [10]byte
		want string
	}{
		{0, zero, "00000000000000000000000000"},
		{1<<48 - 1, ones, "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"},
		{1469918176385, zero, "01ARYZ6S410000000000000000"}, // the ULID spec's example time
		{0, [10]byte{9: 1}, "00000000000000000000000001"},
		{1, zero, "00000000010000000000000000"},
	}
	for _, c := range cases {
		if got := encodeULID(c.ms, c.rnd); got != c.want {
			t.Errorf("encodeULID(%d, %x) = %s, want %s", c.ms, c.rnd, got, c.want)
		}
	}
}

func TestWebhookIDs(t *testing.T) {
	t.Parallel()
	s := newIDSource()
	now := time.Date(2026, 4, 22, 14, 30, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 1000; i++ {
		at := now.Add(time.Duration(i/100) * time.Millisecond)
		if i == 500 {
			at = now // a clock step back keeps the order
		}
		id, err := s.webhookID(at)
		if err != nil {
			t.Fatal(err)
		}
		if !validWebhookID(id) || !idPattern.MatchString(id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		ids = append(ids, id)
	}
	if !slices.IsSorted(ids) {
		t.Error("ids are not in creation order")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Error("duplicate ids")
	}
	if !strings.HasPrefix(ids[0], "wh_"+encodeULID(uint64(now.UnixMilli()), [10]byte{})[:10]) {
		t.Errorf("id %s does not start with the time", ids[0])
	}
}

func TestValidWebhookID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"wh_01ARYZ6S410000000000000000", "wh_7ZZZZZZZZZZZZZZZZZZZZZZZZZ"} {
		if !validWebhookID(s) {
			t.Errorf("validWebhookID(%q) = false", s)
		}
	}
	for _, s := range []string{"", "wh_", "01ARYZ6S410000000000000000", "wh_01ARYZ6S41000000000000000",
		"wh_01ARYZ6S4100000000000000000", "wh_8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "wh_01ARYZ6S41000000000000000I",
		"wh_01aryz6s410000000000000000", "WH_01ARYZ6S410000000000000000", "wh_01ARYZ6S41000000000000000U"} {
		if validWebhookID(s) {
			t.Errorf("validWebhookID(%q) = true", s)
		}
	}
}
