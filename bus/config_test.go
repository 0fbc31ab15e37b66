package bus

import (
	"errors"
	"net"
	"testing"
)

func TestParseListen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		host string
		port int
		off  bool
		err  bool
	}{
		{"off", "", 0, true, false},
		{"127.0.0.1:4222", "127.0.0.1", 4222, false, false},
		{"127.0.0.1:0", "127.0.0.1", -1, false, false},
		{"127.0.0.1:-1", "127.0.0.1", -1, false, false},
		{":4222", "", 4222, false, false},
		{"[::1]:4222", "::1", 4222, false, false},
		{"localhost", "", 0, false, true},
		{"127.0.0.1:x", "", 0, false, true},
		{"127.0.0.1:65536", "", 0, false, true},
		{"127.0.0.1:-2", "", 0, false, true},
		{"OFF", "", 0, false, true},
	}
	for _, tt := range tests {
		host, port, off, err := parseListen(tt.in)
		if (err != nil) != tt.err || err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("parseListen(%q) err = %v", tt.in, err)
			continue
		}
		if host != tt.host || port != tt.port || off != tt.off {
			t.Errorf("parseListen(%q) = %q, %d, %v", tt.in, host, port, off)
		}
	}
}

func TestClientURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 4222}, "nats://127.0.0.1:4222"},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 5000}, "nats://127.0.0.1:5000"},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 5000}, "nats://[::1]:5000"},
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 1}, "nats://10.1.2.3:1"},
		{&net.TCPAddr{Port: 7}, "nats://127.0.0.1:7"},
		{nil, ""},
		{&net.UnixAddr{Name: "/x"}, ""},
	}
	for _, tt := range tests {
		if got := clientURL(tt.addr); got != tt.want {
			t.Errorf("clientURL(%v) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestValidPrefix(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"events": true, "prod.events": true, "EVENTS": true, "ev-1_x": true,
		"": false, "a..b": false, ".a": false, "a.": false, "a.*": false, "a.>": false, "a b": false,
		"webhookd": false, "webhookd.events": false, "$JS": false, "a\tb": false,
	}
	for in, want := range tests {
		if err := validPrefix(in); (err == nil) != want {
			t.Errorf("validPrefix(%q) = %v, want ok %v", in, err, want)
		}
	}
}
