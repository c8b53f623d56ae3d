//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tokenstore

import (
	"errors"
	"os"
	"syscall"
)

// flock takes an exclusive flock(2) on f, waiting for it. Closing f
// releases it.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
