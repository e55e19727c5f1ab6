package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// syncFS is syncfs(2): one call makes the whole file system durable, and
// reports a write-back error of any of its files (Linux 5.8 and later).
func syncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return unix.Syncfs(int(d.Fd()))
}
