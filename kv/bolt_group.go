package kv

import bolt "go.etcd.io/bbolt"

// groupTx is the open transaction as one group of journal operations
// meets it. A webhook's stats record is decoded at its first operation of
// the group, changed in place by the others and stored once when the
// group ends (flush): under load a group holds dozens of operations of
// one webhook, and decoding and encoding its record for each was about
// 3 % of the daemon's CPU.
type groupTx struct {
	*bolt.Tx
	stats map[string]*groupStats
	spare []*groupStats // records of earlier groups, to decode into again
}

type groupStats struct {
	hb hookBuckets
	s  statCounters
}

// reuse makes g the next group's, on tx, keeping what it allocated; the
// records it held are dropped, stored or not.
func (g *groupTx) reuse(tx *bolt.Tx) *groupTx {
	for id, gs := range g.stats {
		g.spare = append(g.spare, gs)
		delete(g.stats, id)
	}
	if g.stats == nil {
		g.stats = make(map[string]*groupStats)
	}
	g.Tx = tx
	return g
}

// statsOf returns hb's stats record for this group to change in place.
func (g *groupTx) statsOf(hb hookBuckets) (*statCounters, error) {
	if gs, ok := g.stats[hb.webhookID]; ok {
		return &gs.s, nil
	}
	var gs *groupStats
	if n := len(g.spare); n > 0 {
		gs, g.spare = g.spare[n-1], g.spare[:n-1]
	} else {
		gs = &groupStats{}
	}
	gs.hb = hb
	if err := hb.loadStats(&gs.s); err != nil {
		g.spare = append(g.spare, gs)
		return nil, err
	}
	g.stats[hb.webhookID] = gs
	return &gs.s, nil
}

// flush stores the stats records the group read. The group's operations
// are not complete in the transaction before it: call it before they are
// journaled or answered.
func (g *groupTx) flush() error {
	for id, gs := range g.stats {
		if err := gs.hb.putStats(&gs.s); err != nil {
			return err
		}
		delete(g.stats, id)
		g.spare = append(g.spare, gs)
	}
	return nil
}
