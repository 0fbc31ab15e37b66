package kv

import (
	"context"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// publisher hands written webhook changes to watchers in write order.
//
// Every write that changes a webhook takes the next number of the meta
// bucket's sequence (the change's ticket, also the webhook's Revision) and,
// once the write is durable (committed, or journaled: bolt_commit.go), its
// writer calls publish. Answered tickets are dense (a write that fails is
// rolled back with its sequence, and the journal's groups are applied again
// in order), so publish waits for ticket-1 to be published first: writers
// answered together by one group still publish in order.
type publisher struct {
	mu        sync.Mutex
	turn      *sync.Cond
	published uint64
	watchers  map[*watcher]struct{}
}

type watcher struct {
	ctx context.Context
	fn  func(WebhookChange)
	// from is the first ticket this watcher is owed; older ones are in its
	// snapshot.
	from uint64
}

func newPublisher(seq uint64) *publisher {
	p := &publisher{published: seq, watchers: map[*watcher]struct{}{}}
	p.turn = sync.NewCond(&p.mu)
	return p
}

// nextTicket numbers a webhook change inside its write transaction.
func nextTicket(tx *bolt.Tx) (uint64, error) {
	return tx.Bucket(bucketMeta).NextSequence()
}

// publish calls every watcher with the change committed under ticket,
// after every earlier ticket. w is not retained: each watcher gets a clone.
func (p *publisher) publish(ticket uint64, id string, w *Webhook) {
	p.mu.Lock()
	for p.published+1 < ticket {
		p.turn.Wait()
	}
	defer func() {
		p.published = ticket
		p.turn.Broadcast()
		p.mu.Unlock()
	}()
	for wt := range p.watchers {
		if ticket < wt.from || wt.ctx.Err() != nil {
			continue
		}
		c := WebhookChange{ID: id}
		if w != nil {
			c.Webhook = w.Clone()
		}
		wt.fn(c)
	}
}

// WatchWebhooks calls fn with every stored webhook, then registers it for
// every later committed change until ctx ends (see Store). fn runs in the
// writer's goroutine, serialised with every other watcher call; it must be
// quick and must not write to the store (that write would wait for fn).
func (b *Bolt) WatchWebhooks(ctx context.Context, fn func(WebhookChange)) error {
	if err := b.enter(ctx); err != nil {
		return err
	}
	p := b.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	// Writers publish under p.mu, so nothing is published between this
	// snapshot and the registration below. A change committed but not yet
	// published is in the snapshot; from skips it.
	var (
		snap []*Webhook
		seq  uint64
	)
	err := b.commit.read(func(tx *bolt.Tx) error {
		seq = tx.Bucket(bucketMeta).Sequence()
		return tx.Bucket(bucketWebhooks).ForEach(func(_, v []byte) error {
			w, err := loadWebhook(tx, v)
			if err != nil {
				return err
			}
			snap = append(snap, w)
			return nil
		})
	})
	if err != nil {
		return b.wrap("watch webhooks", err)
	}
	for _, w := range snap {
		fn(WebhookChange{ID: w.ID, Webhook: w})
	}
	wt := &watcher{ctx: ctx, fn: fn, from: seq + 1}
	p.watchers[wt] = struct{}{}
	context.AfterFunc(ctx, func() {
		p.mu.Lock()
		delete(p.watchers, wt)
		p.mu.Unlock()
	})
	return nil
}
