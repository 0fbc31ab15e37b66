package bus

import (
	"fmt"
	"testing"
)

// With sync always, a group of tasks is stored as one atomic batch (one
// fsync); tasks already in the duplicate window make the server refuse
// the batch, and its tasks then go one by one, so nothing is lost and
// nothing stored twice.
func TestPublishTasksAtomicBatchesUnderSyncAlways(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.SyncAlways = true
	b := startBus(t, cfg)
	ctx := testCtx(t)

	n := maxAtomicBatch + 5 // two batches
	tasks := make([]Task, n)
	for i := range tasks {
		tasks[i] = testTask(int64(i+1), fmt.Sprintf("wh_%d", i%3), 0)
	}
	if err := b.PublishTasks(ctx, tasks); err != nil {
		t.Fatalf("PublishTasks: %v", err)
	}
	if got := streamMsgs(t, b, TasksStream); got != uint64(n) {
		t.Fatalf("tasks stored = %d, want %d", got, n)
	}
	batches := batchIDs(t, b, 1, n)
	if len(batches) != 2 || batches[""] != 0 {
		t.Fatalf("stored in batches %v, want 2 atomic batches", batches)
	}

	// A redelivered event's tasks beside a new one: the batch is refused
	// for the duplicates, the new task is stored once, alone.
	again := append(append([]Task(nil), tasks[:10]...), testTask(int64(n+1), "wh_1", 0))
	if err := b.PublishTasks(ctx, again); err != nil {
		t.Fatalf("PublishTasks again: %v", err)
	}
	if got := streamMsgs(t, b, TasksStream); got != uint64(n+1) {
		t.Fatalf("tasks stored = %d, want %d", got, n+1)
	}
	if last := batchIDs(t, b, uint64(n+1), 1); last[""] != 1 {
		t.Errorf("the new task after a refused batch: %v, want published on its own", last)
	}
}

// Without sync always there is no fsync to share, and a batch costs the
// server a scratch store: tasks go one message each.
func TestPublishTasksNoBatchesUnderSyncInterval(t *testing.T) {
	t.Parallel()
	b := startBus(t, testConfig(t))
	ctx := testCtx(t)
	tasks := []Task{testTask(1, "wh_1", 0), testTask(2, "wh_1", 0), testTask(3, "wh_2", 0)}
	if err := b.PublishTasks(ctx, tasks); err != nil {
		t.Fatalf("PublishTasks: %v", err)
	}
	if got := batchIDs(t, b, 1, len(tasks)); got[""] != len(tasks) {
		t.Errorf("stored in batches %v, want none", got)
	}
}

// batchIDs counts the TASKS messages from stream sequence first on by
// their Nats-Batch-Id ("" for none).
func batchIDs(t *testing.T, b *Bus, first uint64, count int) map[string]int {
	t.Helper()
	s, err := b.JetStream().Stream(testCtx(t), TasksStream)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for seq := first; seq < first+uint64(count); seq++ {
		m, err := s.GetMsg(testCtx(t), seq)
		if err != nil {
			t.Fatalf("GetMsg %d: %v", seq, err)
		}
		ids[m.Header.Get(headerBatchID)]++
	}
	return ids
}

func TestNextAtomicBatch(t *testing.T) {
	t.Parallel()
	tasks := func(n, size int) []Task {
		out := make([]Task, n)
		for i := range out {
			out[i].Body = make([]byte, size)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		tasks []Task
		want  int
	}{
		{"none", nil, 0},
		{"small ones up to the count limit", tasks(maxAtomicBatch+3, 100), maxAtomicBatch},
		{"fewer than the limits", tasks(7, 100), 7},
		{"large ones up to the byte limit", tasks(10, maxAtomicBatchBytes/4), 4},
		{"one larger than the byte limit goes alone", tasks(3, maxAtomicBatchBytes+1), 1},
	} {
		if got := nextAtomicBatch(tc.tasks); got != tc.want {
			t.Errorf("%s: nextAtomicBatch = %d, want %d", tc.name, got, tc.want)
		}
	}
}
