//go:build unix && !linux

package durable

// renameNoReplace renames oldname to newname, failing with EEXIST when
// newname exists (a symlink included) instead of replacing it.
func renameNoReplace(olddirfd int, oldname string, newdirfd int, newname string) error {
	return linkUnlink(olddirfd, oldname, newdirfd, newname)
}
