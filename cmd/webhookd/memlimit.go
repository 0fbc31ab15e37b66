package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// The Go runtime lets its heap grow to twice what is live before it
// collects. In a container that limit is invisible to it: a burst (a
// million events published flat out holds 180 MB live, most of it
// JetStream's duplicate window) then grows the heap past the container's
// memory and the kernel kills the process. With --memory-limit auto (the
// default) webhookd gives the runtime a soft limit of 90 % of its
// cgroup's memory limit, so it collects harder as it nears it; GOMEMLIMIT,
// when set, is the runtime's own and auto leaves it alone. A size given
// to --memory-limit replaces either.

// applyMemoryLimit sets the runtime's soft memory limit as --memory-limit
// says, and logs it.
func applyMemoryLimit(flag string, log *slog.Logger) error {
	limit, source, err := memoryLimit(flag, os.Getenv, "/")
	if err != nil {
		return err
	}
	if limit == 0 {
		log.Info("go memory limit left to the runtime", "because", source)
		return nil
	}
	debug.SetMemoryLimit(limit)
	log.Info("go memory limit set", "bytes", limit, "from", source)
	return nil
}

// memoryLimitShare is the part of the cgroup's limit given to the Go
// runtime: the rest is for what the runtime does not count (mapped file
// pages, which the kernel can reclaim; thread stacks outside Go).
const memoryLimitShare = 0.9

// memoryLimit resolves --memory-limit: the soft limit to set (0: leave
// the runtime's alone) and where it came from, for the log.
func memoryLimit(flag string, getenv func(string) string, cgroupRoot string) (int64, string, error) {
	switch flag {
	case "off":
		return 0, "off", nil
	case "auto":
		if getenv("GOMEMLIMIT") != "" {
			return 0, "GOMEMLIMIT", nil
		}
		limit, ok := cgroupMemoryLimit(cgroupRoot)
		if !ok {
			return 0, "no cgroup memory limit", nil
		}
		return int64(float64(limit) * memoryLimitShare), "cgroup", nil
	}
	n, err := parseSize(flag)
	if err != nil {
		return 0, "", fmt.Errorf("--memory-limit: %w", err)
	}
	return n, "flag", nil
}

// sizeUnits are the suffixes parseSize accepts, longest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// parseSize reads a byte count: a whole number with an optional unit
// (B, KB, MB, GB, KiB, MiB, GiB).
func parseSize(s string) (int64, error) {
	num, mult := s, int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf(`want "auto", "off" or a size such as 200MiB, got %q`, s)
	}
	if n > (1<<63-1)/mult {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return n * mult, nil
}

// cgroupMemoryLimit returns the memory limit of the process's cgroup: the
// smallest set on it or on any ancestor, in cgroup v2 (memory.max) or the
// v1 memory controller (memory.limit_in_bytes). root is "/" but for tests.
// Ancestors are tried too because inside a container the cgroup path in
// /proc/self/cgroup may be the host's while the container sees its own
// cgroup mounted as the root.
func cgroupMemoryLimit(root string) (int64, bool) {
	data, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, false
	}
	best, found := int64(0), false
	for _, line := range strings.Split(string(data), "\n") {
		cg, ok := cgroupMemoryFile(line)
		if !ok {
			continue
		}
		for p := cg.dir; ; p = path.Dir(p) {
			if limit, err := readCgroupLimit(filepath.Join(root, cg.limitFile(p))); err == nil && (!found || limit < best) {
				best, found = limit, true
			}
			if p == "/" {
				break
			}
		}
	}
	return best, found
}

// cgroupMemory is where one line of /proc/self/cgroup keeps a memory
// limit: the cgroup's path, its hierarchy's mount and the limit's file.
type cgroupMemory struct{ dir, mount, file string }

// limitFile is the limit's file of the cgroup at p in that hierarchy.
func (c cgroupMemory) limitFile(p string) string { return path.Join(c.mount, p, c.file) }

// cgroupMemoryFile reads one line of /proc/self/cgroup, when it is the v2
// hierarchy or the v1 memory controller.
func cgroupMemoryFile(line string) (cgroupMemory, bool) {
	parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
		return cgroupMemory{}, false
	}
	dir := path.Clean(parts[2])
	switch {
	case parts[0] == "0" && parts[1] == "":
		return cgroupMemory{dir, "sys/fs/cgroup", "memory.max"}, true
	case slices.Contains(strings.Split(parts[1], ","), "memory"):
		return cgroupMemory{dir, "sys/fs/cgroup/memory", "memory.limit_in_bytes"}, true
	}
	return cgroupMemory{}, false
}

// errNoLimit: the file says there is no limit.
var errNoLimit = errors.New("no limit")

// readCgroupLimit reads a memory.max or memory.limit_in_bytes file. "max"
// (v2) and v1's near-2^63 "unlimited" mean no limit.
func readCgroupLimit(file string) (int64, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0, errNoLimit
	}
	n, err := strconv.ParseInt(s, 10, 64)
	switch {
	case err != nil:
		return 0, err
	case n <= 0 || n >= 1<<62:
		return 0, errNoLimit
	}
	return n, nil
}
