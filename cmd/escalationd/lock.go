package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// errLocked means another run or once works on the same data_dir.
var errLocked = errors.New("another escalationd is working on this escalation.data_dir")

// lockDataDir takes an exclusive lock on data_dir/escalationd.lock, so that a
// second run or once on the same store refuses to start instead of handling
// the same mailbox twice. The kernel drops the lock when the process dies,
// so a crash leaves nothing to clean up. list and show take no lock: they
// only read.
func lockDataDir(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create escalation.data_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "escalationd.lock")
	// O_NOFOLLOW: the pid is written into this file, never through a
	// symlink planted at its name.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o640)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("lock %s: it is a symlink; escalationd does not follow symlinks in escalation.data_dir: remove it", path)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (pid %s)", errLocked, dir, orNone(strings.TrimSpace(string(pid))))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}
