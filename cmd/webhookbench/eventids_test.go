package main

import (
	"io"
	"strings"
	"testing"
)

func TestEventIDs(t *testing.T) {
	if got := newEventIDs(idsSequential).id("t1", 42); got != "evt_t1_42" {
		t.Errorf("sequential id = %q, want evt_t1_42", got)
	}
	ids := newEventIDs(idsRandom)
	seen := map[string]bool{}
	for i := range 1000 {
		id := ids.id("t1", i)
		rest, ok := strings.CutPrefix(id, "evt_")
		if !ok || len(rest) != 16 || strings.Trim(rest, base62) != "" {
			t.Fatalf("random id %q: want evt_ and 16 base62 characters", id)
		}
		if seen[id] {
			t.Fatalf("random id %q made twice", id)
		}
		seen[id] = true
	}
	c, err := parseConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.EventIDs != idsRandom {
		t.Errorf("default -event-ids = %q, want %s", c.EventIDs, idsRandom)
	}
}
