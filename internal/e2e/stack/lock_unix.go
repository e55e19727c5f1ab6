//go:build unix

package stack

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Lock gives the calling test the stack to itself until it ends: other tests
// in this process, and other test binaries (go test runs packages in
// parallel), that call Lock wait for it. Use it in tests that look at what a
// shared mailbox holds, or that provoke mail (bounces) into one.
//
// Take it before Require in a test package that runs beside the e2e suite:
// that suite stops and starts the servers (while holding the lock). Without
// a state folder there is no stack to share, and Lock does nothing.
func Lock(t testing.TB) {
	t.Helper()
	release, err := Acquire()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
}

// Acquire is Lock for a program that is not a test (escbench): it waits for
// the stack and returns the function that gives it back.
func Acquire() (release func(), err error) {
	if _, err := os.Stat(StateDir()); err != nil {
		return func() {}, nil
	}
	processLock.Lock()
	path := filepath.Join(StateDir(), "test.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		processLock.Unlock()
		return nil, fmt.Errorf("e2e lock: %w", err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK && err != syscall.EINTR || time.Now().After(deadline) {
			f.Close()
			processLock.Unlock()
			return nil, fmt.Errorf("e2e lock %s: %w", path, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		processLock.Unlock()
	}, nil
}
