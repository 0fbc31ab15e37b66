package fanout

import (
	"fmt"
	"net/netip"
	"syscall"
)

// AddrPolicy refuses loopback, private, link-local, CGNAT (100.64/10),
// multicast, unspecified, and IPv4-mapped/IPv4-compatible forms of those,
// plus other non-public ranges, unless Allow covers it.
//
// IPv6 is allowed only inside global unicast (2000::/3), minus its special
// ranges; NAT64 (64:ff9b::/96) and 6to4 (2002::/16) addresses are judged by
// the IPv4 address they embed. The zero value blocks every non-public
// address.
type AddrPolicy struct {
	// Allow lists ranges exempt from the block (e.g. 127.0.0.1/32). A range
	// covers an address in its plain or IPv4-mapped form.
	Allow []netip.Prefix
}

// blockedV4 are the IPv4 ranges that are not public unicast.
var blockedV4 = mustPrefixes(
	"0.0.0.0/8",          // "this network", unspecified
	"10.0.0.0/8",         // private
	"100.64.0.0/10",      // CGNAT
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local (cloud metadata)
	"172.16.0.0/12",      // private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation
	"192.88.99.0/24",     // 6to4 relay anycast
	"192.168.0.0/16",     // private
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation
	"203.0.113.0/24",     // documentation
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved, broadcast
	"255.255.255.255/32", // broadcast (inside 240/4; named for clarity)
)

// blockedV6 are the special ranges inside 2000::/3.
var blockedV6 = mustPrefixes(
	"2001::/32",     // Teredo (embeds an obfuscated IPv4 address)
	"2001:2::/48",   // benchmarking
	"2001:10::/28",  // ORCHID
	"2001:20::/28",  // ORCHIDv2
	"2001:db8::/32", // documentation
	"3fff::/20",     // documentation
)

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	nat64V6         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourV6     = netip.MustParsePrefix("2002::/16")
)

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// blockedAddrError carries the refused address; it is ErrBlockedAddress.
type blockedAddrError struct{ ip netip.Addr }

func (e *blockedAddrError) Error() string {
	return ErrBlockedAddress.Error() + ": " + e.ip.String()
}

func (e *blockedAddrError) Unwrap() error { return ErrBlockedAddress }

// Check returns nil when ip may be connected to, else an error wrapping
// ErrBlockedAddress that names ip.
func (p AddrPolicy) Check(ip netip.Addr) error {
	if !ip.IsValid() {
		return &blockedAddrError{ip}
	}
	bare := ip.WithZone("") // Prefix.Contains never matches a zoned address
	plain := bare.Unmap()
	for _, a := range p.Allow {
		if a.Contains(bare) || a.Contains(plain) {
			return nil
		}
	}
	if blockedAddr(plain) {
		return &blockedAddrError{ip}
	}
	return nil
}

// blockedAddr reports whether an unmapped address is non-public.
func blockedAddr(ip netip.Addr) bool {
	if ip.Is4() {
		return inAny(blockedV4, ip)
	}
	switch {
	case nat64V6.Contains(ip):
		return blockedAddr(embeddedV4(ip, 12))
	case sixToFourV6.Contains(ip):
		return blockedAddr(embeddedV4(ip, 2))
	case !globalUnicastV6.Contains(ip):
		// ::, ::1, IPv4-compatible ::/96, fc00::/7, fe80::/10, fec0::/10,
		// ff00::/8, 100::/64, 64:ff9b:1::/48 and the rest of the
		// unassigned space.
		return true
	}
	return inAny(blockedV6, ip)
}

// embeddedV4 reads the IPv4 address stored at byte offset off of ip.
func embeddedV4(ip netip.Addr, off int) netip.Addr {
	b := ip.As16()
	return netip.AddrFrom4([4]byte{b[off], b[off+1], b[off+2], b[off+3]})
}

func inAny(ps []netip.Prefix, ip netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// control is a net.Dialer Control: it runs for every address the dialer
// tries, after DNS resolution, so a name that resolves (or re-resolves) to
// a blocked address is refused at connect time.
func (p AddrPolicy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable dial address %q", ErrBlockedAddress, address)
	}
	return p.Check(ap.Addr())
}
