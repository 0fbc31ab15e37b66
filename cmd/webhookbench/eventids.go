package main

import (
	"math/rand/v2"
	"strconv"
)

// Event id schemes (-event-ids).
const (
	idsRandom     = "random"
	idsSequential = "sequential"
)

// eventIDs makes the event ids of the published events. Random ids are
// shaped like the contract's example (evt_ and 16 base62 characters):
// each new one lands at a random place of webhookd's per-webhook event
// index, so a checkpoint writes about a page per new delivery once the
// index is larger than a checkpoint's deliveries. Sequential ids
// (evt_<tag>_<n>) land next to each other, as time-ordered ids (ULID,
// KSUID) do.
type eventIDs struct{ sequential bool }

func newEventIDs(scheme string) eventIDs { return eventIDs{sequential: scheme == idsSequential} }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// id returns the id of event i of the run tagged tag.
func (e eventIDs) id(tag string, i int) string {
	if e.sequential {
		return "evt_" + tag + "_" + strconv.Itoa(i)
	}
	var b [4 + 16]byte
	copy(b[:], "evt_")
	for k := 4; k < len(b); k++ {
		b[k] = base62[rand.IntN(len(base62))]
	}
	return string(b[:])
}
