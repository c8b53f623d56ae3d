//go:build !linux

package dovecot

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}
