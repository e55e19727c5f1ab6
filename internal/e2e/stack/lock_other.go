//go:build !unix

package stack

import "testing"

// Lock gives the calling test the stack to itself until it ends (within this
// process only on this platform).
func Lock(t testing.TB) {
	t.Helper()
	processLock.Lock()
	t.Cleanup(processLock.Unlock)
}

// Acquire is Lock for a program that is not a test.
func Acquire() (release func(), err error) {
	processLock.Lock()
	return processLock.Unlock, nil
}
