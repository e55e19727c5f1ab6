package durable

import (
	"errors"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames like renameat(2) but fails with EEXIST when
// newname exists (a symlink included) instead of replacing it. A file
// system without RENAME_NOREPLACE gets link + unlink, which fails the same
// way.
func renameNoReplace(olddirfd int, oldname string, newdirfd int, newname string) error {
	err := unix.Renameat2(olddirfd, oldname, newdirfd, newname, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		return linkUnlink(olddirfd, oldname, newdirfd, newname)
	}
	return err
}
