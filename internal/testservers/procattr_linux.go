package testservers

import "syscall"

// sysProcAttr runs a server as cred's user, and has the kernel send it
// dieSig if the test binary dies before stopping it, so that a crashed or
// timed-out test run leaves no server behind.
func sysProcAttr(cred *syscall.Credential, dieSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Pdeathsig: dieSig}
}
