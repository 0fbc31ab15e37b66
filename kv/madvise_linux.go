package kv

import "syscall"

// dontNeed advises the kernel that the mapped pages at [addr, addr+n)
// are not needed (madvise MADV_DONTNEED). For a shared file mapping the
// data stays in the file and the page cache: nothing is lost, the next
// read maps the page again.
func dontNeed(addr, n uintptr) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, addr, n, syscall.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
