package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeCgroups writes files under a temporary root: path relative to the
// root → content.
func fakeCgroups(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupMemoryLimit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  int64 // 0: none found
	}{
		{"v2, limit on the process's cgroup", map[string]string{
			"proc/self/cgroup": "0::/app.slice/webhookd.service\n",
			"sys/fs/cgroup/app.slice/webhookd.service/memory.max": "268435456\n",
			"sys/fs/cgroup/app.slice/memory.max":                  "max\n",
		}, 256 << 20},
		{"v2, a smaller limit on an ancestor applies", map[string]string{
			"proc/self/cgroup": "0::/app.slice/webhookd.service\n",
			"sys/fs/cgroup/app.slice/webhookd.service/memory.max": "max\n",
			"sys/fs/cgroup/app.slice/memory.max":                  "104857600\n",
		}, 100 << 20},
		{"v2 in a container: the host's path, the container's cgroup at the root", map[string]string{
			"proc/self/cgroup":         "0::/kubepods/pod1/abc\n",
			"sys/fs/cgroup/memory.max": "536870912\n",
		}, 512 << 20},
		{"v2, no limit anywhere", map[string]string{
			"proc/self/cgroup":         "0::/user.slice\n",
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0},
		{"v1 memory controller among others on the line", map[string]string{
			"proc/self/cgroup": "5:cpuacct,cpu:/\n4:memory:/docker/abc\n0::/\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "268435456\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
		}, 256 << 20},
		{"v1 in a container: the host's path, the container's cgroup at the root", map[string]string{
			"proc/self/cgroup":                           "11:memory:/docker/0123abcd\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728\n",
		}, 128 << 20},
		{"v1 unlimited (the near-2^63 value)", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0},
		{"hybrid: the v1 limit wins over an unlimited v2 root", map[string]string{
			"proc/self/cgroup": "4:memory:/job\n0::/\n",
			"sys/fs/cgroup/memory/job/memory.limit_in_bytes": "1073741824",
		}, 1 << 30},
		{"garbage in the files", map[string]string{
			"proc/self/cgroup":           "nonsense\n0::relative\n0::/x\n",
			"sys/fs/cgroup/x/memory.max": "lots\n",
		}, 0},
		{"no /proc/self/cgroup", map[string]string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupMemoryLimit(fakeCgroups(t, tc.files))
			if ok != (tc.want != 0) || got != tc.want {
				t.Fatalf("cgroupMemoryLimit = %d, %t; want %d", got, ok, tc.want)
			}
		})
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	limited := fakeCgroups(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "1000000000\n",
	})
	unlimited := fakeCgroups(t, map[string]string{"proc/self/cgroup": "0::/\n"})
	noEnv := func(string) string { return "" }
	withEnv := func(k string) string {
		if k == "GOMEMLIMIT" {
			return "300MiB"
		}
		return ""
	}
	for _, tc := range []struct {
		flag   string
		getenv func(string) string
		root   string
		want   int64
		source string
	}{
		{"auto", noEnv, limited, 900000000, "cgroup"},
		{"auto", withEnv, limited, 0, "GOMEMLIMIT"},
		{"auto", noEnv, unlimited, 0, "no cgroup memory limit"},
		{"off", noEnv, limited, 0, "off"},
		{"200MiB", withEnv, limited, 200 << 20, "flag"},
		{"1GB", noEnv, unlimited, 1e9, "flag"},
		{"123456", noEnv, unlimited, 123456, "flag"},
	} {
		got, source, err := memoryLimit(tc.flag, tc.getenv, tc.root)
		if err != nil || got != tc.want || source != tc.source {
			t.Errorf("memoryLimit(%q) = %d, %q, %v; want %d, %q", tc.flag, got, source, err, tc.want, tc.source)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "2TiB", "1.5GiB", "MiB", "99999999999GiB"} {
		if _, _, err := memoryLimit(bad, noEnv, unlimited); err == nil || !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("memoryLimit(%q): error %v, want one naming --memory-limit", bad, err)
		}
	}
}

// FuzzCgroupMemoryFile: any line of /proc/self/cgroup is read without a
// panic, and a path it yields is absolute and clean, its file inside the
// cgroup tree.
func FuzzCgroupMemoryFile(f *testing.F) {
	for _, s := range []string{"0::/", "4:memory:/docker/abc", "5:cpu,memory:/a/../b", "::", "0::x", "1:name=systemd:/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cg, ok := cgroupMemoryFile(line)
		if !ok {
			return
		}
		if !strings.HasPrefix(cg.dir, "/") || filepath.Clean(cg.dir) != cg.dir {
			t.Fatalf("%q: path %q", line, cg.dir)
		}
		for _, elem := range strings.Split(cg.limitFile(cg.dir), "/") {
			if elem == ".." {
				t.Fatalf("%q: file %q leaves the cgroup tree", line, cg.limitFile(cg.dir))
			}
		}
	})
}

// FuzzParseSize: a size is accepted only as a positive byte count, and a
// number written without a unit is itself.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"200MiB", "1GB", "5", "0", "-1KiB", "9223372036854775807B", "1e3MB", " 7 MiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n <= 0 {
			t.Fatalf("%q: %d", s, n)
		}
		if v, perr := strconv.ParseInt(s, 10, 64); perr == nil && v != n {
			t.Fatalf("%q: %d", s, n)
		}
	})
}
