//go:build !linux

package kv

// dontNeed does nothing where madvise is not used: the kernel reclaims
// the mapped pages under memory pressure.
func dontNeed(addr, n uintptr) error { return nil }
