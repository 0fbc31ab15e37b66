package main

import (
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestEnvName(t *testing.T) {
	t.Parallel()
	for flag, want := range map[string]string{
		"data-dir":           "WEBHOOKD_DATA_DIR",
		"jwt-hs256-key-file": "WEBHOOKD_JWT_HS256_KEY_FILE",
		"fsync":              "WEBHOOKD_FSYNC",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// Not parallel: it sets environment variables.
func TestServeConfigReadsEnvAndFlagsWin(t *testing.T) {
	t.Setenv("WEBHOOKD_DATA_DIR", "/from/env")
	t.Setenv("WEBHOOKD_FSYNC", "interval")
	t.Setenv("WEBHOOKD_ALLOW_HTTP", "true")
	t.Setenv("WEBHOOKD_RETRY_SCHEDULE", "1s,2s")
	c, err := parseServeConfig([]string{"--fsync", "always"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/from/env" || !c.AllowHTTP {
		t.Errorf("env not applied: data dir %q, allow http %v", c.DataDir, c.AllowHTTP)
	}
	if c.Fsync != "always" {
		t.Errorf("fsync %q: the command-line flag must win over the environment", c.Fsync)
	}
	if len(c.RetrySchedule) != 2 || c.RetrySchedule[1] != 2*time.Second {
		t.Errorf("retry schedule %v", c.RetrySchedule)
	}
}

func TestServeConfigDefaults(t *testing.T) {
	t.Parallel()
	c, err := parseServeConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./data" || c.HTTPAddr != "127.0.0.1:8080" || c.NATSListen != "127.0.0.1:4222" ||
		c.Store != "bbolt" || c.Fsync != "always" || c.Replicas != 1 || c.AllowHTTP ||
		len(c.RetrySchedule) != 6 || c.RetrySchedule[5] != 5*time.Hour || c.MemoryLimit != "auto" {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestServeConfigRefusesBadValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--fsync", "sometimes"}, "--fsync"},
		{[]string{"--store", "postgres"}, "--store"},
		{[]string{"--store", "jetstream"}, "not implemented"},
		{[]string{"--replicas", "3"}, "--replicas needs --nats-url"},
		{[]string{"--replicas", "0"}, "--replicas"},
		{[]string{"--retry-schedule", "soon"}, "--retry-schedule"},
		{[]string{"--allow-targets", "10.0.0.0/33"}, "--allow-targets"},
		{[]string{"--master-key-file", "k"}, "--master-key-file"},
		{[]string{"--workers", "0"}, "--workers"},
		{[]string{"--defer-retries-after", "-1s"}, "--defer-retries-after"},
		{[]string{"--memory-limit", "lots"}, "--memory-limit"},
		{[]string{"--memory-limit", "-5MiB"}, "--memory-limit"},
		{[]string{"--jwt-hs256-key-file", "a", "--jwks-url", "http://x"}, "choose one"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		_, err := parseServeConfig(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := parsePrefixes(" 127.0.0.1/32, 10.1.2.3 ,::1/128,")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.1.2.3/32"),
		netip.MustParsePrefix("::1/128"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("prefix %d = %v, want %v", i, got[i], want[i])
		}
	}
	if _, err := parsePrefixes("localhost"); err == nil {
		t.Error("a host name was accepted as a CIDR")
	}
}

func TestLockDataDirRefusesASecondHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unlock, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use by another webhookd") {
		t.Fatalf("second lock: %v, want in use", err)
	}
	unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

func TestTokenClaimsValidation(t *testing.T) {
	t.Parallel()
	ok := func(role, tenant, partner, scope string, platform bool) error {
		return validateTokenClaims(tokenClaims(role, tenant, partner, scope, platform), time.Hour)
	}
	if err := ok("super_admin", "", "", "", false); err != nil {
		t.Error(err)
	}
	if err := ok("tenant_admin", "", "", "", false); err == nil {
		t.Error("tenant_admin without --tenant-id accepted")
	}
	if err := ok("partner_admin", "", "", "", false); err == nil {
		t.Error("partner_admin without --partner-id accepted")
	}
	if err := ok("", "", "", "", true); err == nil {
		t.Error("--platform without --scope accepted")
	}
	if err := ok("", "", "", "admin:read", true); err != nil {
		t.Error(err)
	}
	if err := ok("root", "", "", "", false); err == nil {
		t.Error("unknown role accepted")
	}
}
