// Package kvtest is the behavioural suite every kv.Store backend must pass:
//
//	func TestStore(t *testing.T) {
//		kvtest.Run(t, func(t *testing.T) kv.Store {
//			s, err := kv.OpenBolt(kv.BoltOptions{Path: filepath.Join(t.TempDir(), "kv.db")})
//			...
//			t.Cleanup(func() { _ = s.Close() })
//			return s
//		})
//	}
//
// Every subtest calls open for a store of its own and runs in parallel.
// The cleanup open registers must tolerate a store the test already closed.
//
// Besides what kv.Store documents, the suite holds every backend to these
// choices:
//   - CreateDelivery for a webhook that does not exist returns
//     kv.ErrNotFound; delivery ids are positive and grow with creation.
//   - A watcher sees a change made through the same Store before the write
//     call returns, changes of one webhook in commit order, and no call
//     once its context is cancelled.
//   - WebhookStats follow the definitions in kv/stats.go: p95 must be within
//     20 % of the exact nearest-rank value for the distributions used here,
//     and last_24h must count what was created (attempted) within the last
//     23 hours and nothing older than 25 hours.
//
// The package starts no goroutines beyond those of the subtests it runs,
// which all end before Run returns.
package kvtest
