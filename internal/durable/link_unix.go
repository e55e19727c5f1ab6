//go:build unix

package durable

import "golang.org/x/sys/unix"

// linkUnlink renames by a hard link (which never replaces an existing
// name, and links a symlink itself) and the removal of the old name.
func linkUnlink(olddirfd int, oldname string, newdirfd int, newname string) error {
	if err := unix.Linkat(olddirfd, oldname, newdirfd, newname, 0); err != nil {
		return err
	}
	return unix.Unlinkat(olddirfd, oldname, 0)
}
