//go:build unix && !linux

package testservers

import "syscall"

// sysProcAttr runs a server as cred's user. Only Linux can tie a server's
// life to the test binary's; elsewhere a crashed test run may leave one
// behind.
func sysProcAttr(cred *syscall.Credential, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred}
}
