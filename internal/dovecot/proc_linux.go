package dovecot

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel stop Dovecot if the test binary
// dies without running its cleanups.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
