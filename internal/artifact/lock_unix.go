//go:build unix

package artifact

import (
	"errors"
	"syscall"
)

// processAlive reports whether pid exists on this host (signal 0; EPERM means
// it exists but belongs to another user).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
