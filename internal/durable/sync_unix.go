//go:build unix && !linux

package durable

import (
	"os"
	"syscall"
)

// syncFS falls back to sync(2) where there is no syncfs(2). On these systems
// sync may return before the data is on disk, and it does not report errors;
// Linux is the platform escalationd is made for.
func syncFS(*os.File) error {
	syscall.Sync()
	return nil
}
