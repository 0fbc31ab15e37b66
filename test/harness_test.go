package test

import (
	"bufio"
	"bytes"

	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the webhookd binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "webhookd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "webhookd")
	build := exec.Command("go", "build", "-o", binPath, "../cmd/webhookd")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build webhookd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is one running webhookd process.
type daemon struct {
	t       *testing.T
	dataDir string
	args    []string
	cmd     *exec.Cmd
	done    chan struct{}
	exitErr error
	logs    *logBuffer

	HTTPURL string // http://127.0.0.1:port
	NATSURL string // nats://127.0.0.1:port
}

// daemonOptions are extra flags; the harness always sets data dir, ports,
// http targets on 127.0.0.1 and a fast retry schedule.
type daemonOptions struct {
	DataDir       string
	RetrySchedule string
	Extra         []string
}

func startDaemon(t *testing.T, o daemonOptions) *daemon {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.RetrySchedule == "" {
		o.RetrySchedule = "100ms,200ms,400ms"
	}
	args := []string{"serve",
		"--data-dir", o.DataDir,
		"--http-addr", "127.0.0.1:0",
		"--nats-listen", "127.0.0.1:0",
		"--allow-http",
		"--allow-targets", "127.0.0.1/32",
		"--retry-schedule", o.RetrySchedule,
		"--log-level", "debug",
		"--drain-timeout", "10s",
	}
	args = append(args, o.Extra...)
	d := &daemon{t: t, dataDir: o.DataDir, args: args}
	d.start()
	t.Cleanup(func() { d.kill() })
	return d
}

// start runs the process and waits for its "webhookd started" log line,
// which carries the OS-picked addresses.
func (d *daemon) start() {
	d.t.Helper()
	d.logs = newLogBuffer()
	d.cmd = exec.Command(binPath, d.args...)
	d.cmd.SysProcAttr = childAttr()
	d.cmd.Env = cleanEnv()
	d.cmd.Stdout = io.Discard
	d.cmd.Stderr = d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start webhookd: %v", err)
	}
	d.done = make(chan struct{})
	go func() {
		d.exitErr = d.cmd.Wait()
		close(d.done)
	}()
	line, err := d.logs.waitFor(`"msg":"webhookd started"`, 60*time.Second, d.done)
	if err != nil {
		d.t.Fatalf("webhookd did not start: %v\nlogs:\n%s", err, d.logs.String())
	}
	var started struct {
		HTTPAddr string `json:"http_addr"`
		NATSURL  string `json:"nats_url"`
	}
	if err := json.Unmarshal([]byte(line), &started); err != nil {
		d.t.Fatalf("parse start line %q: %v", line, err)
	}
	d.HTTPURL = "http://" + started.HTTPAddr
	d.NATSURL = started.NATSURL
}

// restart stops nothing: it starts the same command again on the same data
// dir after the previous process has exited.
func (d *daemon) restart() {
	d.t.Helper()
	select {
	case <-d.done:
	default:
		d.t.Fatal("restart while the process still runs")
	}
	d.start()
}

// terminate sends SIGTERM and returns the exit error (nil for exit 0).
func (d *daemon) terminate(timeout time.Duration) error {
	d.t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.exitErr
	case <-time.After(timeout):
		d.kill()
		return fmt.Errorf("still running %s after SIGTERM", timeout)
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.done
}

// cleanEnv keeps the environment but drops WEBHOOKD_* so a developer's
// shell cannot change what a test runs.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// runCLI runs the binary with args and returns its stdout.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("webhookd %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return strings.TrimSpace(out.String())
}

// token mints a token for the daemon's generated key.
func (d *daemon) token(t *testing.T, args ...string) string {
	t.Helper()
	return runCLI(t, append([]string{"token", "--data-dir", d.dataDir}, args...)...)
}

func (d *daemon) superToken(t *testing.T) string {
	return d.token(t, "--role", "super_admin")
}

// api calls the admin API and decodes a JSON answer into out (when not nil).
func (d *daemon) api(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, d.HTTPURL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d, decode %q: %v", method, path, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// logBuffer collects a process's stderr and lets tests wait for a line.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	added chan struct{}
}

func newLogBuffer() *logBuffer { return &logBuffer{added: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	select {
	case l.added <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// lines returns the log lines containing substr.
func (l *logBuffer) lines(substr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// waitFor returns the first line containing substr, or an error at the
// deadline or when exited closes.
func (l *logBuffer) waitFor(substr string, timeout time.Duration, exited <-chan struct{}) (string, error) {
	deadline := time.After(timeout)
	for {
		if ls := l.lines(substr); len(ls) > 0 {
			return ls[0], nil
		}
		select {
		case <-l.added:
		case <-exited:
			if ls := l.lines(substr); len(ls) > 0 {
				return ls[0], nil
			}
			return "", fmt.Errorf("process exited")
		case <-deadline:
			return "", fmt.Errorf("no %q within %s", substr, timeout)
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
