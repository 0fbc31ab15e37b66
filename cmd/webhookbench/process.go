package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child process whose output lines can be waited for. Its
// output also goes to logPath, kept for a failed run.
type process struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	err   error

	mu    sync.Mutex
	lines []string // the first maxKeptLines of output
	added chan struct{}
}

const maxKeptLines = 2000

// startProcess runs bin with args; stdout and stderr are scanned line by
// line and appended to logPath.
func startProcess(name, bin string, args []string, logPath string) (*process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	p := &process{name: name, done: make(chan struct{}), added: make(chan struct{}, 1)}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = cleanEnv()
	// Should the bench die without stopping it, the child goes too.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		w := bufio.NewWriter(logf)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(w, line)
			p.mu.Lock()
			if len(p.lines) < maxKeptLines {
				p.lines = append(p.lines, line)
			}
			p.mu.Unlock()
			select {
			case p.added <- struct{}{}:
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
		w.Flush()
		logf.Close()
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		<-scanned
		close(p.done)
	}()
	return p, nil
}

// waitLine returns the first output line containing substr.
func (p *process) waitLine(substr string, timeout time.Duration) (string, error) {
	deadline := time.After(timeout)
	for {
		p.mu.Lock()
		for _, l := range p.lines {
			if strings.Contains(l, substr) {
				p.mu.Unlock()
				return l, nil
			}
		}
		p.mu.Unlock()
		select {
		case <-p.added:
		case <-p.done:
			return "", fmt.Errorf("%s exited (%v) before printing %q", p.name, p.err, substr)
		case <-deadline:
			return "", fmt.Errorf("%s printed no %q within %s", p.name, substr, timeout)
		}
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop asks the process to end (SIGTERM, and EOF on stdin) and kills it
// after grace.
func (p *process) stop(grace time.Duration) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.stdin.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s still running %s after SIGTERM: killed", p.name, grace)
	}
}

// cleanEnv drops WEBHOOKD_* and OTEL_* so the caller's shell cannot change
// what is measured.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "WEBHOOKD_") && !strings.HasPrefix(kv, "OTEL_") {
			env = append(env, kv)
		}
	}
	return env
}

// procUsage is a process's CPU time and memory from /proc.
type procUsage struct {
	CPU   time.Duration // user + system
	RSS   int64         // bytes, now (VmRSS)
	PeakR int64         // bytes, peak since start (VmHWM)
	Anon  int64         // bytes of RSS that are anonymous memory (RssAnon: heap, stacks)
	File  int64         // bytes of RSS that are mapped files (RssFile: bbolt's mmap, the binary)
}

// userHZ is the unit of /proc/<pid>/stat times: USER_HZ, 100 on every
// Linux architecture Go supports.
const userHZ = 100

func readProcUsage(pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procUsage{}, err
	}
	cpu, err := parseProcStat(string(stat))
	if err != nil {
		return procUsage{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procUsage{}, err
	}
	m, err := parseProcStatus(string(status))
	return procUsage{CPU: cpu, RSS: m["VmRSS"], PeakR: m["VmHWM"], Anon: m["RssAnon"], File: m["RssFile"]}, err
}

// parseProcStat returns utime+stime from a /proc/<pid>/stat line. The
// command name in parentheses may hold spaces: fields count from the last
// ')'.
func parseProcStat(s string) (time.Duration, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("proc stat: no ')'")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("proc stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("proc stat: bad utime or stime")
	}
	return time.Duration(ut+st) * time.Second / userHZ, nil
}

// procStatusKeys are the /proc/<pid>/status lines read, all in kB.
var procStatusKeys = []string{"VmRSS", "VmHWM", "RssAnon", "RssFile"}

// parseProcStatus returns the procStatusKeys in bytes.
func parseProcStatus(s string) (map[string]int64, error) {
	out := make(map[string]int64, len(procStatusKeys))
	for line := range strings.SplitSeq(s, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(procStatusKeys, k) {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return nil, fmt.Errorf("proc status: bad %s line %q", k, line)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("proc status: bad %s line %q", k, line)
		}
		out[k] = n << 10
	}
	if len(out) != len(procStatusKeys) {
		return nil, fmt.Errorf("proc status: want %s", strings.Join(procStatusKeys, ", "))
	}
	return out, nil
}

// loadAverage is the machine's 1-minute load average (0 when unknown).
func loadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
