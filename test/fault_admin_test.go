package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookState is what an admin write decides about a webhook, as GET shows it.
type hookState struct {
	URL            string            `json:"url"`
	Description    string            `json:"description"`
	Events         []string          `json:"events"`
	Status         string            `json:"status"`
	MaxRetries     int               `json:"max_retries"`
	TimeoutSeconds int               `json:"timeout_seconds"`
	Headers        map[string]string `json:"headers"`
	SecretHint     string            `json:"secret_hint"`
}

type hookAnswer struct {
	ID     string `json:"id"`
	Secret string `json:"secret"`
	hookState
}

// hintOf is the secret_hint of a secret ("whsec_ab…yz"), computed here
// independently of admin's code.
func hintOf(secret string) string {
	enc := strings.TrimPrefix(secret, "whsec_")
	return "whsec_" + enc[:2] + "…" + enc[len(enc)-2:]
}

// adminWrite is one write whose answer never came (the process died): after
// the restart the webhook is either as before or as this write makes it.
type adminWrite struct {
	op    string     // create, patch, rotate, delete
	id    string     // empty for create
	after *hookState // nil: deleted; for rotate the hint is unknown
}

// adminWriter owns some webhooks and writes to them one request at a time.
type adminWriter struct {
	n      int
	base   string
	tok    string
	rng    *rand.Rand
	client *http.Client

	acked   map[string]*hookState // nil: deleted (204 seen)
	pending *adminWrite
	writes  int
}

// call makes one request; err is a transport error (no answer at all).
func (w *adminWriter) call(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, w.base+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+w.tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if out != nil && resp.StatusCode < 300 && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode %q: %w", raw, err)
		}
	}
	return resp.StatusCode, nil
}

// run writes until a request gets no answer (the kill), or stop closes.
// A write answered with a non-2xx status is a bug here: every write is
// valid and every webhook it touches exists.
func (w *adminWriter) run(stop <-chan struct{}) error {
	for {
		select {
		case <-stop:
			return nil
		default:
		}
		if err := w.step(); err != nil {
			return err
		}
		if w.pending != nil {
			return nil
		}
	}
}

func (w *adminWriter) live() []string {
	var ids []string
	for id, s := range w.acked {
		if s != nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

func (w *adminWriter) step() error {
	w.writes++
	n := w.writes
	live := w.live()
	op := "create"
	if len(live) > 0 {
		op = []string{"create", "patch", "patch", "patch", "rotate", "rotate", "delete"}[w.rng.IntN(7)]
	}
	if op == "create" {
		body := map[string]any{
			"url": fmt.Sprintf("http://127.0.0.1:9/w%d/%d", w.n, n), "events": []string{"user.*"},
			"description": fmt.Sprintf("created %d", n),
		}
		var a hookAnswer
		code, err := w.call("POST", "/api/v1/admin/webhooks", body, &a)
		if err != nil {
			w.pending = &adminWrite{op: op, after: &hookState{URL: body["url"].(string)}}
			return nil
		}
		if code != 201 {
			return fmt.Errorf("create: status %d", code)
		}
		a.hookState.SecretHint = hintOf(a.Secret)
		w.acked[a.ID] = &a.hookState
		return nil
	}
	id := live[w.rng.IntN(len(live))]
	before := w.acked[id]
	path := "/api/v1/admin/webhooks/" + id
	switch op {
	case "patch":
		after := *before
		after.Description = fmt.Sprintf("patched %d", n)
		after.Events = [][]string{{"user.*"}, {"*"}, {"request.completed", "user.created"}}[w.rng.IntN(3)]
		after.Status = []string{"active", "inactive"}[w.rng.IntN(2)]
		after.MaxRetries, after.TimeoutSeconds = w.rng.IntN(21), 1+w.rng.IntN(30)
		after.Headers = map[string]string{"X-Write": fmt.Sprint(n)}
		body := map[string]any{"description": after.Description, "events": after.Events, "status": after.Status,
			"max_retries": after.MaxRetries, "timeout_seconds": after.TimeoutSeconds, "headers": after.Headers}
		var a hookAnswer
		code, err := w.call("PATCH", path, body, &a)
		if err != nil {
			w.pending = &adminWrite{op: op, id: id, after: &after}
			return nil
		}
		if code != 200 {
			return fmt.Errorf("patch %s: status %d", id, code)
		}
		w.acked[id] = &a.hookState
	case "rotate":
		var a hookAnswer
		code, err := w.call("POST", path+"/rotate-secret", map[string]any{"grace_period_seconds": 0}, &a)
		if err != nil {
			after := *before
			after.SecretHint = "" // unknown: the answer with the secret never came
			w.pending = &adminWrite{op: op, id: id, after: &after}
			return nil
		}
		if code != 200 || a.Secret == "" {
			return fmt.Errorf("rotate %s: status %d", id, code)
		}
		after := *before
		after.SecretHint = hintOf(a.Secret)
		w.acked[id] = &after
	case "delete":
		code, err := w.call("DELETE", path, nil, nil)
		if err != nil {
			w.pending = &adminWrite{op: op, id: id}
			return nil
		}
		if code != 204 {
			return fmt.Errorf("delete %s: status %d", id, code)
		}
		w.acked[id] = nil
	}
	return nil
}

// same compares a webhook's state; an empty want hint matches any.
func same(got hookState, want *hookState) bool {
	g, w := got, *want
	if w.SecretHint == "" {
		g.SecretHint = ""
	}
	if len(g.Headers) == 0 && len(w.Headers) == 0 {
		g.Headers, w.Headers = nil, nil
	}
	return reflect.DeepEqual(g, w)
}

// verify checks every acknowledged write against the restarted daemon; it
// counts the webhooks checked and whether the write in flight took effect.
func (w *adminWriter) verify(t *testing.T) (checked int, applied bool) {
	t.Helper()
	for id, want := range w.acked {
		var got hookAnswer
		code, err := w.call("GET", "/api/v1/admin/webhooks/"+id, nil, &got)
		if err != nil {
			t.Fatalf("GET %s: %v", id, err)
		}
		checked++
		p := w.pending
		inFlight := p != nil && p.id == id
		switch {
		case want == nil && code == 404:
		case want == nil:
			t.Errorf("webhook %s was deleted (204) but is back after the kill: status %d", id, code)
		case code == 404 && inFlight && p.op == "delete":
			w.acked[id], applied = nil, true
		case code != 200:
			t.Errorf("webhook %s (acknowledged) is gone after the kill: status %d", id, code)
		case same(got.hookState, want):
		case inFlight && p.after != nil && same(got.hookState, p.after):
			w.acked[id], applied = &got.hookState, true
		default:
			t.Errorf("webhook %s after the kill:\n got %+v\nwant %+v (acknowledged)", id, got.hookState, *want)
		}
	}
	return checked, applied
}

func TestFaultAdminWritesSurviveKill9(t *testing.T) {
	t.Parallel()
	rng := faultRand(t)
	rounds, writers := 3, 4
	if soak() {
		rounds = 25
	}
	d := startDaemon(t, daemonOptions{Extra: append(fixedPorts(t), "--log-level", "info")})
	tok := d.superToken(t)
	ws := make([]*adminWriter, writers)
	for i := range ws {
		ws[i] = &adminWriter{n: i, tok: tok, acked: make(map[string]*hookState),
			rng:    rand.New(rand.NewPCG(rng.Uint64(), uint64(i))),
			client: &http.Client{Timeout: 10 * time.Second}}
	}
	total, inFlight, applied := 0, 0, 0
	for round := range rounds {
		stop := make(chan struct{})
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i, w := range ws {
			w.base, w.pending = d.HTTPURL, nil
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = w.run(stop)
			}()
		}
		wait := 300*time.Millisecond + time.Duration(rng.Int64N(int64(1200*time.Millisecond)))
		time.Sleep(wait)
		d.kill()
		close(stop)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		d.checkStore(t)
		d.restart()
		for _, w := range ws {
			w.base = d.HTTPURL
			if w.pending != nil {
				inFlight++
			}
			checked, done := w.verify(t)
			total += checked
			if done {
				applied++
			}
		}
		applied += checkNoStrangers(t, d, tok, ws)
		t.Logf("round %d: kill -9 after %s", round+1, wait.Round(time.Millisecond))
	}
	writes := 0
	for _, w := range ws {
		writes += w.writes
	}
	t.Logf("%d kills, %d admin writes, %d webhook checks after restarts; of %d writes in flight at a kill, %d took effect",
		rounds, writes, total, inFlight, applied)
}

// checkNoStrangers lists every webhook: each one is acknowledged, or the
// create that was in flight at the kill. It returns how many of those
// creates took effect.
func checkNoStrangers(t *testing.T, d *daemon, tok string, ws []*adminWriter) (created int) {
	t.Helper()
	known := make(map[string]bool)
	creates := make(map[string]*adminWriter)
	for _, w := range ws {
		for id, s := range w.acked {
			known[id] = s != nil
		}
		if w.pending != nil && w.pending.op == "create" {
			creates[w.pending.after.URL] = w
		}
	}
	for page := 1; ; page++ {
		var p struct {
			Items []hookAnswer `json:"items"`
			Pages int          `json:"pages"`
		}
		if code := d.api(t, "GET", fmt.Sprintf("/api/v1/admin/webhooks?per_page=100&page=%d", page), tok, nil, &p); code != 200 {
			t.Fatalf("list: status %d", code)
		}
		for _, h := range p.Items {
			switch live, ok := known[h.ID]; {
			case ok && !live:
				t.Errorf("deleted webhook %s is listed", h.ID)
			case ok:
			case creates[h.URL] != nil:
				// The create in flight happened: it is acknowledged now.
				creates[h.URL].acked[h.ID] = &h.hookState
				delete(creates, h.URL)
				created++
			default:
				t.Errorf("webhook %s (%s) was never created by an acknowledged write", h.ID, h.URL)
			}
		}
		if page >= p.Pages {
			return created
		}
	}
}
