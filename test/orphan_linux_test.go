package test

import "syscall"

// childAttr makes the kernel kill a webhookd the test started when the
// test binary dies (its -timeout, a panic): no orphan keeps ports and data
// dirs busy after a failed run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
