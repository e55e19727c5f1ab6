// Package durable writes files so that a reader sees each one whole, old or
// new, and so that they survive a crash once written, at the cost of one
// sync per file system for a whole batch of files instead of an fsync per
// file and folder. A batch of messages, attachments and tracking files
// shares that cost.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Sync flushes to stable storage everything written so far to the file
// systems that hold dirs: file contents, new files, renames and removals.
// When it returns nil, a crash or power loss after it loses none of that.
func Sync(dirs ...string) error {
	seen := map[uint64]bool{}
	for _, dir := range dirs {
		dev, err := device(dir)
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
		if seen[dev] {
			continue
		}
		seen[dev] = true
		if err := syncFS(dir); err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
	}
	return nil
}

// WriteFile writes data to path atomically and durably: a batch of one.
// perm is set on the new file as given (the umask does not apply). When
// path is a symlink the link itself is replaced. On error the old file is
// left as it was and the temp file is removed; only a crash can leave a
// ".<name>.*.tmp" file behind.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	var b Batch
	if err := b.Write(path, data, perm); err != nil {
		return err
	}
	return b.Commit()
}

// Batch is a group of files written together: Write puts each in a temp
// file beside its target, Commit makes them all durable with one Sync,
// renames each over its target and syncs again, so the renames are durable
// too. Until Commit the targets are untouched. The zero Batch is ready.
type Batch struct {
	files []pending
	dirs  []string
}

type pending struct{ tmp, path string }

// Write writes data with perm to a temp file ".<base>.*.tmp" beside path.
func (b *Batch) Write(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if len(base) > 100 {
		base = strings.ToValidUTF8(base[:100], "") // keep the temp name within NAME_MAX
	}
	f, err := os.CreateTemp(dir, "."+base+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	b.files = append(b.files, pending{tmp: f.Name(), path: path})
	if !slices.Contains(b.dirs, dir) {
		b.dirs = append(b.dirs, dir)
	}
	return nil
}

// Len is how many files are written and not yet committed.
func (b *Batch) Len() int { return len(b.files) }

// Commit makes every written file durable and puts it in place. A failed
// sync leaves every target as it was; a failed rename stops at that file
// (the ones before it are in place). Either way the temp files left are
// removed. The batch is empty afterwards.
func (b *Batch) Commit() (err error) {
	files, dirs := b.files, b.dirs
	b.files, b.dirs = nil, nil
	defer func() {
		if err != nil {
			for _, f := range files {
				os.Remove(f.tmp) // gone already where the rename succeeded
			}
		}
	}()
	if len(files) == 0 {
		return nil
	}
	if err := Sync(dirs...); err != nil {
		return fmt.Errorf("write %s: %w", files[0].path, err)
	}
	for _, f := range files {
		if err := os.Rename(f.tmp, f.path); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	if err := Sync(dirs...); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", files[0].path, err)
	}
	return nil
}

// Abort removes the temp files of a batch that is not to be committed.
func (b *Batch) Abort() {
	for _, f := range b.files {
		os.Remove(f.tmp) // best effort, as after a crash
	}
	b.files, b.dirs = nil, nil
}
