// Package durable writes files so that a reader sees each one whole, old or
// new, and so that they survive a crash once written, at the cost of one
// sync per file system for a whole batch of files instead of an fsync per
// file and folder. A batch of messages, attachments and tracking files
// shares that cost. Files are created and renamed relative to an open
// folder (Dir) and never through a symlink.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// Sync flushes to stable storage everything written so far to the file
// systems that hold dirs: file contents, new files, renames and removals.
// When it returns nil, a crash or power loss after it loses none of that.
func Sync(dirs ...string) error {
	var open []*os.File
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	for _, dir := range dirs {
		f, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("sync %s: %w", dir, err)
		}
		open = append(open, f)
	}
	return syncFiles(open)
}

// syncFiles syncs the file systems that hold the open files fs, each once.
func syncFiles(fs []*os.File) error {
	seen := map[uint64]bool{}
	for _, f := range fs {
		dev, err := device(f)
		if err != nil {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
		if seen[dev] {
			continue
		}
		seen[dev] = true
		if err := syncFS(f); err != nil {
			return fmt.Errorf("sync %s: %w", f.Name(), err)
		}
	}
	return nil
}

// WriteFile writes data to path atomically and durably: a batch of one. The
// folder of path must exist. perm is narrowed by the umask. What is at path
// (a file, a symlink) is replaced, never written through: only for a path
// the caller owns. On error the old file is left as it was and the temp file
// is removed; only a crash can leave a ".<name>.*.tmp" file behind.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	d, err := OpenRoot(filepath.Dir(path), nil)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer d.Close()
	var b Batch
	if err := b.Write(d, filepath.Base(path), data, perm); err != nil {
		return err
	}
	return b.Commit()
}

// Batch is a group of files written together: Write puts each in a temp
// file beside its target, Commit makes them all durable with one Sync,
// renames each over its target and syncs again, so the renames are durable
// too. Until Commit the targets are untouched. The zero Batch is ready. The
// Dirs written to must stay open until Commit or Abort returns.
type Batch struct {
	files []pending
	dirs  []*Dir
}

type pending struct {
	dir       *Dir
	tmp, name string
}

// Write writes data to a new temp file ".<name>.*.tmp" in d, created with
// perm narrowed by the umask (O_EXCL, never through a symlink). Commit puts
// it at name, replacing whatever is there (a symlink is replaced itself, its
// target never written): name must be the caller's own.
func (b *Batch) Write(d *Dir, name string, data []byte, perm os.FileMode) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("write %s: %w", d.Path(name), err)
	}
	f, err := d.CreateTemp(tempPrefix(name), ".tmp", perm)
	if err != nil {
		return fmt.Errorf("write %s: %w", d.Path(name), err)
	}
	tmp := filepath.Base(f.Name())
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.Remove(tmp)
		return fmt.Errorf("write %s: %w", d.Path(name), err)
	}
	b.files = append(b.files, pending{dir: d, tmp: tmp, name: name})
	if !slices.Contains(b.dirs, d) {
		b.dirs = append(b.dirs, d)
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
				f.dir.Remove(f.tmp) // gone already where the rename succeeded
			}
		}
	}()
	if len(files) == 0 {
		return nil
	}
	fs := make([]*os.File, len(dirs))
	for i, d := range dirs {
		fs[i] = d.f
	}
	if err := syncFiles(fs); err != nil {
		return fmt.Errorf("write %s: %w", files[0].dir.Path(files[0].name), err)
	}
	for _, f := range files {
		if err := unix.Renameat(f.dir.fd(), f.tmp, f.dir.fd(), f.name); err != nil {
			return fmt.Errorf("write %s: %w", f.dir.Path(f.name), err)
		}
	}
	if err := syncFiles(fs); err != nil {
		return fmt.Errorf("write %s: sync folder: %w", files[0].dir.Path(files[0].name), err)
	}
	return nil
}

// Abort removes the temp files of a batch that is not to be committed.
func (b *Batch) Abort() {
	for _, f := range b.files {
		f.dir.Remove(f.tmp) // best effort, as after a crash
	}
	b.files, b.dirs = nil, nil
}
