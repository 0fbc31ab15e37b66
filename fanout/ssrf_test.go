package fanout

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestAddrPolicyCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		addr    string
		blocked bool
	}{
		// public
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"2001:4860::8888", false},
		{"2001:4860:4860::8888", false},
		{"2606:4700:4700::1111", false},
		{"::ffff:8.8.8.8", false},
		{"64:ff9b::808:808", false}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", false},  // 6to4 of 8.8.8.8
		{"100.63.255.255", false},
		{"100.128.0.0", false},
		{"172.15.255.255", false},
		{"172.32.0.0", false},
		{"198.17.255.255", false},
		{"223.255.255.255", false},
		// loopback
		{"127.0.0.1", true},
		{"127.255.255.254", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		// private
		{"10.0.0.1", true},
		{"::ffff:10.0.0.1", true},
		{"172.16.0.1", true},
		{"172.31.255.255", true},
		{"192.168.1.1", true},
		{"fc00::1", true},
		{"fd12:3456::1", true},
		// link-local, cloud metadata
		{"169.254.169.254", true},
		{"::ffff:169.254.169.254", true},
		{"fe80::1", true},
		{"fe80::1%eth0", true},
		{"fd00:ec2::254", true},
		// CGNAT
		{"100.64.0.1", true},
		{"100.127.255.255", true},
		// unspecified, "this network", broadcast, reserved
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		{"255.255.255.255", true},
		{"240.0.0.1", true},
		// multicast
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"ff0e::1", true},
		// special purpose
		{"192.0.0.8", true},
		{"192.0.2.1", true},
		{"198.18.0.1", true},
		{"198.19.255.255", true},
		{"198.51.100.7", true},
		{"203.0.113.9", true},
		{"2001:db8::1", true},
		{"3fff::1", true},
		{"100::1", true},
		{"fec0::1", true},
		{"2001::1", true}, // Teredo
		{"2001:2::1", true},
		// IPv4 embedded in IPv6
		{"::127.0.0.1", true}, // IPv4-compatible
		{"::8.8.8.8", true},   // IPv4-compatible is deprecated: never public
		{"64:ff9b::7f00:1", true},
		{"64:ff9b::a00:1", true},
		{"64:ff9b::a9fe:a9fe", true},
		{"64:ff9b:1::a00:1", true},
		{"2002:7f00:1::1", true},
		{"2002:a9fe:a9fe::", true},
		{"::ffff:0:7f00:1", true}, // SIIT IPv4-translated
	}
	var p AddrPolicy
	for _, tt := range tests {
		ip := netip.MustParseAddr(tt.addr)
		err := p.Check(ip)
		if got := err != nil; got != tt.blocked {
			t.Errorf("Check(%s) = %v, want blocked=%v", tt.addr, err, tt.blocked)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrBlockedAddress) {
				t.Errorf("Check(%s) = %v, not ErrBlockedAddress", tt.addr, err)
			}
			if !strings.Contains(err.Error(), ip.String()) {
				t.Errorf("Check(%s) = %q does not name the address", tt.addr, err)
			}
		}
	}
	if err := p.Check(netip.Addr{}); !errors.Is(err, ErrBlockedAddress) {
		t.Errorf("Check(zero Addr) = %v, want blocked", err)
	}
}

func TestAddrPolicyAllow(t *testing.T) {
	t.Parallel()
	p := AddrPolicy{Allow: []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("fd00::/64"),
	}}
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", false},
		{"::ffff:127.0.0.1", false}, // an allowed range covers the mapped form
		{"127.0.0.2", true},
		{"10.1.2.3", false},
		{"10.2.0.1", true},
		{"fd00::5", false},
		{"fd00:0:0:1::5", true},
		{"::1", true},
		{"8.8.8.8", false},
	}
	for _, tt := range tests {
		err := p.Check(netip.MustParseAddr(tt.addr))
		if got := err != nil; got != tt.blocked {
			t.Errorf("Check(%s) = %v, want blocked=%v", tt.addr, err, tt.blocked)
		}
	}
}

func TestAddrPolicyControl(t *testing.T) {
	t.Parallel()
	p := AddrPolicy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	tests := []struct {
		address string
		blocked bool
	}{
		{"127.0.0.1:443", false},
		{"[::1]:443", true},
		{"[::ffff:10.0.0.1]:80", true},
		{"[fe80::1%eth0]:80", true},
		{"8.8.8.8:443", false},
		{"not-an-address", true},
		{"example.com:443", true}, // the dialer passes resolved IPs only
	}
	for _, tt := range tests {
		err := p.control("tcp", tt.address, nil)
		if got := err != nil; got != tt.blocked {
			t.Errorf("control(%q) = %v, want blocked=%v", tt.address, err, tt.blocked)
		}
		if err != nil && !errors.Is(err, ErrBlockedAddress) {
			t.Errorf("control(%q) = %v, not ErrBlockedAddress", tt.address, err)
		}
	}
}
