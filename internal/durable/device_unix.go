//go:build unix

package durable

import (
	"os"
	"syscall"
)

// device is the ID of the file system that holds the open file f.
func device(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Dev), nil
	}
	return 0, nil
}
