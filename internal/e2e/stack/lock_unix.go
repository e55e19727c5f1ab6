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

// lockPatience bounds the wait for the lock: a safety net against a holder
// that hangs. A binary may wait for a whole test of another one (the crash
// test holds it for minutes on a busy machine), so it is well beyond any
// test and no shorter than the go test -timeout of CI.
const lockPatience = 30 * time.Minute

// Acquire is Lock for a program that is not a test (escbench): it waits for
// the stack and returns the function that gives it back.
//
// It waits in the kernel (a blocking flock), not by polling: a binary
// polling every 50 ms would almost never catch the lock in the moment
// between two tests of another binary, which takes it again at once, and
// would so wait for that binary's whole suite. A blocked waiter is woken
// when the lock is let go.
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
	got := make(chan error, 1)
	go func() {
		for {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if err != syscall.EINTR {
				got <- err
				return
			}
		}
	}()
	timeout := time.NewTimer(lockPatience)
	defer timeout.Stop()
	select {
	case err = <-got:
	case <-timeout.C:
		// The flock still waits; the file is closed (which lets the lock go)
		// only once it returns, so that no other file takes its descriptor.
		go func() {
			<-got
			f.Close()
		}()
		processLock.Unlock()
		return nil, fmt.Errorf("e2e lock %s: still held by another test after %s", path, lockPatience)
	}
	if err != nil {
		f.Close()
		processLock.Unlock()
		return nil, fmt.Errorf("e2e lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		processLock.Unlock()
	}, nil
}
