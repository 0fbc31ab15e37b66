package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"
)

// defaultModule is webhookd's module path, used when the build info does
// not name it (a test binary).
const defaultModule = "github.com/scailabs/webhookd"

// buildWebhookd builds cmd/webhookd of this module into dir with the go
// command, so a fresh checkout needs nothing built by hand.
func buildWebhookd(ctx context.Context, dir string) (string, error) {
	mod := defaultModule
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path != "" && bi.Main.Path != "command-line-arguments" {
		mod = bi.Main.Path
	}
	bin := filepath.Join(dir, "webhookd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, mod+"/cmd/webhookd")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build %s/cmd/webhookd (run webhookbench from inside the module): %w\n%s", mod, err, out.String())
	}
	return bin, nil
}

// daemonOptions are the flags of one webhookd run beyond the fixed ones.
type daemonOptions struct {
	Fsync            string   // always or interval
	RetrySchedule    string   // empty: webhookd's default
	AutoDisableAfter int      // 0: never; -1: webhookd's default
	Extra            []string // passed through (-webhookd-flags)
}

// daemon is one running webhookd with a fresh data dir.
type daemon struct {
	proc    *process
	bin     string
	dataDir string
	HTTPURL string
	NATSURL string
	token   string
	client  *http.Client
}

// startDaemon runs `webhookd serve` on fresh ports and data dir (under
// workDir) and waits for its "webhookd started" line.
func startDaemon(ctx context.Context, bin, workDir string, o daemonOptions) (*daemon, error) {
	dataDir, err := os.MkdirTemp(workDir, "webhookd-data-")
	if err != nil {
		return nil, err
	}
	args := []string{"serve",
		"--data-dir", dataDir,
		"--http-addr", "127.0.0.1:0",
		"--nats-listen", "127.0.0.1:0",
		"--allow-http",
		"--allow-targets", "127.0.0.1/32",
		"--fsync", o.Fsync,
		"--log-level", "info",
	}
	if o.RetrySchedule != "" {
		args = append(args, "--retry-schedule", o.RetrySchedule)
	}
	if o.AutoDisableAfter >= 0 {
		args = append(args, "--auto-disable-after", fmt.Sprint(o.AutoDisableAfter))
	}
	args = append(args, o.Extra...)
	p, err := startProcess("webhookd", bin, args, dataDir+".log")
	if err != nil {
		return nil, err
	}
	line, err := p.waitLine(`"msg":"webhookd started"`, 60*time.Second)
	if err != nil {
		_ = p.stop(5 * time.Second)
		return nil, fmt.Errorf("%w (log: %s.log)", err, dataDir)
	}
	var started struct {
		HTTPAddr string `json:"http_addr"`
		NATSURL  string `json:"nats_url"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		_ = p.stop(5 * time.Second)
		return nil, fmt.Errorf("webhookd start line %q: %w", line, err)
	}
	d := &daemon{proc: p, bin: bin, dataDir: dataDir, HTTPURL: "http://" + started.HTTPAddr,
		NATSURL: started.NATSURL, client: &http.Client{Timeout: 30 * time.Second}}
	tok, err := exec.CommandContext(ctx, bin, "token", "--data-dir", dataDir, "--role", "super_admin", "--ttl", "24h").Output()
	if err != nil {
		_ = d.stop()
		return nil, fmt.Errorf("webhookd token: %w", err)
	}
	d.token = strings.TrimSpace(string(tok))
	return d, nil
}

func (d *daemon) pid() int { return d.proc.pid() }

// stop ends webhookd with SIGTERM (killed after 30 s) and removes its
// data dir unless keep.
func (d *daemon) stop() error { return d.proc.stop(30 * time.Second) }

func (d *daemon) cleanup(keep bool) {
	if !keep {
		os.RemoveAll(d.dataDir)
		os.Remove(d.dataDir + ".log")
	}
}

// api calls the admin API; out receives a 2xx JSON answer.
func (d *daemon) api(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, d.HTTPURL+"/api/v1/admin/webhooks"+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// createWebhook registers a platform-wide webhook for user.created at url
// with the most retries allowed (a backlog must not exhaust them).
func (d *daemon) createWebhook(ctx context.Context, url string) (string, error) {
	var w struct {
		ID string `json:"id"`
	}
	err := d.api(ctx, http.MethodPost, "", map[string]any{
		"url": url, "events": []string{benchEventType}, "description": "webhookbench",
		"max_retries": 20, "timeout_seconds": 10,
	}, &w)
	return w.ID, err
}

// webhookStats is the part of GET /{id}/stats the bench reads.
type webhookStats struct {
	Total   int64 `json:"total"`
	Success int64 `json:"success"`
	Failed  int64 `json:"failed"`
	Pending int64 `json:"pending"`
}

func (d *daemon) stats(ctx context.Context, id string) (webhookStats, error) {
	var s webhookStats
	err := d.api(ctx, http.MethodGet, "/"+id+"/stats", nil, &s)
	return s, err
}
