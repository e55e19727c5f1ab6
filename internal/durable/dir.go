package durable

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The modes of what escalationd creates, before the umask narrows them
// (§11). Nothing is ever chmod-ed past the umask.
const (
	FileMode os.FileMode = 0o640 // tracking files, attachments, raw messages
	DirMode  os.FileMode = 0o750 // escalation folders, the raw archive
)

// Dir is an open folder in which files are created, renamed and removed by
// name relative to the folder itself (openat, renameat): a symlink at a name
// is never followed, and a folder replaced by a symlink after it was opened
// does not redirect what is written. The folder OpenRoot opens is
// configuration and may be reached through symlinks; the folders Sub opens
// below it may not. A Dir is safe for concurrent use; Close it when done.
type Dir struct {
	f    *os.File
	path string
	log  *slog.Logger
}

// OpenRoot opens the folder path, which must exist. Symlinks on the way to
// it are followed: it is configuration, not a name the daemon chose. log
// (nil means slog.Default()) gets a warning for each foreign file moved
// aside in it or below it.
func OpenRoot(path string, log *slog.Logger) (*Dir, error) {
	if log == nil {
		log = slog.Default()
	}
	fd, err := openat(unix.AT_FDCWD, path, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open folder", Path: path, Err: err}
	}
	return &Dir{f: os.NewFile(uintptr(fd), path), path: path, log: log}, nil
}

// Close closes the folder; files created in it stay open.
func (d *Dir) Close() error { return d.f.Close() }

// Path is name inside d, for messages and for callers that need a path.
func (d *Dir) Path(name string) string { return filepath.Join(d.path, name) }

func (d *Dir) fd() int { return int(d.f.Fd()) }

// Sub opens the folder name inside d, creating it with perm (narrowed by
// the umask) when it is missing. What is at name and is not a folder (a
// symlink, even to a folder; a file) is foreign: it is moved aside
// (MoveAside) and a new folder made in its place.
func (d *Dir) Sub(name string, perm os.FileMode) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	path := d.Path(name)
	for range 5 { // a symlink takes three turns: moved aside, made, opened
		fd, err := openat(d.fd(), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		switch {
		case err == nil:
			return &Dir{f: os.NewFile(uintptr(fd), path), path: path, log: d.log}, nil
		case errors.Is(err, unix.ENOENT):
			if err := unix.Mkdirat(d.fd(), name, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, &os.PathError{Op: "create folder", Path: path, Err: err}
			}
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			if _, err := d.MoveAside(name); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, err
			}
		default:
			return nil, &os.PathError{Op: "open folder", Path: path, Err: err}
		}
	}
	return nil, fmt.Errorf("open folder %s: something keeps replacing it", path)
}

// CreateTemp creates a new file prefix+RANDOM+suffix in d with perm
// (narrowed by the umask), open for reading and writing. It never opens
// an existing file or follows a symlink (O_CREAT|O_EXCL|O_NOFOLLOW). The
// file's Name is its path; filepath.Base of it is its name in d.
func (d *Dir) CreateTemp(prefix, suffix string, perm os.FileMode) (*os.File, error) {
	var err error
	for range 100 {
		name := prefix + randomName() + suffix
		var fd int
		fd, err = openat(d.fd(), name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW, uint32(perm.Perm()))
		if err == nil {
			return os.NewFile(uintptr(fd), d.Path(name)), nil
		}
		if !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	return nil, &os.PathError{Op: "create", Path: d.Path(prefix + "*" + suffix), Err: err}
}

// Remove removes name from d (a symlink itself, never its target).
func (d *Dir) Remove(name string) error {
	if err := unix.Unlinkat(d.fd(), name, 0); err != nil {
		return &os.PathError{Op: "remove", Path: d.Path(name), Err: err}
	}
	return nil
}

// RemoveMatching removes the files of d whose names match pattern
// (filepath.Match) and returns how many it removed. Best effort: a file
// that cannot be removed is left.
func (d *Dir) RemoveMatching(pattern string) int {
	fd, err := openat(d.fd(), ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0
	}
	list := os.NewFile(uintptr(fd), d.path)
	defer list.Close()
	names, _ := list.Readdirnames(-1)
	removed := 0
	for _, name := range names {
		if ok, _ := filepath.Match(pattern, name); ok && unix.Unlinkat(d.fd(), name, 0) == nil {
			removed++
		}
	}
	return removed
}

// MoveAside renames what is at name in d (a file, a symlink, a folder) to
// "NAME.foreign-YYYYMMDDTHHMMSSZ" (with "-2", "-3"… when that is taken),
// logs a warning naming both, and returns the new name. It is for a file
// escalationd did not write, at a name it is about to use: the file is kept,
// never overwritten or followed. An error wraps os.ErrNotExist when there is
// nothing at name.
func (d *Dir) MoveAside(name string) (string, error) {
	// Looked at first: on a read-only file system a rename fails even
	// when there is nothing to move.
	kind, err := d.kind(name)
	if err != nil {
		return "", &os.PathError{Op: "move aside", Path: d.Path(name), Err: err}
	}
	stamp := time.Now().UTC().Format("20060102T150405Z")
	aside := name + ".foreign-" + stamp
	for n := 2; ; n++ {
		err := renameNoReplace(d.fd(), name, d.fd(), aside)
		if err == nil {
			d.log.Warn("found a "+kind+" escalationd did not write where it writes; moved it aside, unchanged",
				"path", d.Path(name), "moved_to", d.Path(aside))
			return aside, nil
		}
		if !errors.Is(err, unix.EEXIST) || n > 100 {
			return "", &os.LinkError{Op: "move aside", Old: d.Path(name), New: d.Path(aside), Err: err}
		}
		aside = fmt.Sprintf("%s.foreign-%s-%d", name, stamp, n)
	}
}

// kind names what is at name (not following a symlink), for messages.
func (d *Dir) kind(name string) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd(), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		return "symlink", nil
	case unix.S_IFDIR:
		return "folder", nil
	case unix.S_IFREG:
		return "file", nil
	}
	return "special file", nil
}

// Move renames srcName in src to dstName in dst, which must not exist: an
// error wraps os.ErrExist when something (a file, a symlink) is there, and
// that is left as it was. Across file systems it copies into a temp file
// beside dstName, syncs it, puts it in place the same way and removes the
// source.
func Move(src *Dir, srcName string, dst *Dir, dstName string) error {
	return move(src, srcName, dst, dstName, false)
}

// MoveOver is Move for a dstName the caller owns: whatever is there is
// replaced. A symlink at dstName is replaced itself; its target is never
// written.
func MoveOver(src *Dir, srcName string, dst *Dir, dstName string) error {
	return move(src, srcName, dst, dstName, true)
}

func move(src *Dir, srcName string, dst *Dir, dstName string, replace bool) error {
	if err := checkName(dstName); err != nil {
		return err
	}
	err := rename(src.fd(), srcName, dst.fd(), dstName, replace)
	if errors.Is(err, unix.EXDEV) {
		err = copyAcross(src, srcName, dst, dstName, replace)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: src.Path(srcName), New: dst.Path(dstName), Err: err}
	}
	return nil
}

func rename(olddirfd int, oldname string, newdirfd int, newname string, replace bool) error {
	if replace {
		return unix.Renameat(olddirfd, oldname, newdirfd, newname)
	}
	return renameNoReplace(olddirfd, oldname, newdirfd, newname)
}

// copyAcross moves a file between file systems: copy to a temp file in
// dst, fsync, rename into place, remove the source.
func copyAcross(src *Dir, srcName string, dst *Dir, dstName string, replace bool) error {
	in, err := src.openRegular(srcName)
	if err != nil {
		return err
	}
	defer in.Close()
	perm := FileMode
	if fi, err := in.Stat(); err == nil {
		perm = fi.Mode().Perm()
	}
	out, err := dst.CreateTemp(tempPrefix(dstName), ".tmp", perm)
	if err != nil {
		return err
	}
	tmp := filepath.Base(out.Name())
	_, err = out.ReadFrom(in)
	if err == nil {
		err = out.Sync() // durable before the source goes
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = rename(dst.fd(), tmp, dst.fd(), dstName, replace)
	}
	if err != nil {
		unix.Unlinkat(dst.fd(), tmp, 0)
		return err
	}
	return unix.Unlinkat(src.fd(), srcName, 0)
}

// Same reports whether aName in a and bName in b are both regular files
// (not symlinks) with the same bytes. Any error reading them is a "no".
func Same(a *Dir, aName string, b *Dir, bName string) bool {
	fa, err := a.openRegular(aName)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := b.openRegular(bName)
	if err != nil {
		return false
	}
	defer fb.Close()
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	if err1 != nil || err2 != nil || sa.Size() != sb.Size() {
		return false
	}
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(fa, bufA)
		nb, errB := io.ReadFull(fb, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return errB == errA
		}
		if errA != nil || errB != nil {
			return false
		}
	}
}

// openRegular opens name in d for reading: a regular file only, never
// through a symlink, and without blocking on a FIFO planted there.
func (d *Dir) openRegular(name string) (*os.File, error) {
	fd, err := openat(d.fd(), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: d.Path(name), Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, &os.PathError{Op: "open", Path: d.Path(name), Err: errors.New("not a regular file")}
	}
	return os.NewFile(uintptr(fd), d.Path(name)), nil
}

// tempPrefix is the prefix of a temp file written for name: ".NAME.",
// hidden, and short enough that the whole name stays within NAME_MAX.
func tempPrefix(name string) string {
	if len(name) > 100 {
		name = strings.ToValidUTF8(name[:100], "")
	}
	return "." + name + "."
}

// checkName rejects what is not one plain name inside a folder.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsRune(name, '/') || strings.ContainsRune(name, 0) {
		return fmt.Errorf("invalid file name %q", name)
	}
	return nil
}

func randomName() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openat is openat(2) with O_CLOEXEC, tried again when a signal cuts it
// short (the os package does this for its own opens).
func openat(dirfd int, name string, flags int, perm uint32) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, perm)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}
