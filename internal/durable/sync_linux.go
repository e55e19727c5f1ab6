package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS is syncfs(2) on the file system that holds the open file f: one
// call makes the whole file system durable, and reports a write-back error
// of any of its files (Linux 5.8 and later).
func syncFS(f *os.File) error {
	return unix.Syncfs(int(f.Fd()))
}
