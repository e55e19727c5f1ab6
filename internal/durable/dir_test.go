package durable

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withUmask sets the process umask for the length of a test (not parallel:
// the umask belongs to the process).
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func openRoot(t *testing.T, path string) *Dir {
	t.Helper()
	d, err := OpenRoot(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func wantMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != want {
		t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
	}
}

// outside is a file outside the folder under test, which a symlink points
// at: it must never change.
func outside(t *testing.T) (path string, check func()) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(path, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != "secret" {
			t.Errorf("the symlink's target changed: %q, %v", got, err)
		}
	}
}

func TestModesFollowTheUmask(t *testing.T) {
	for _, c := range []struct {
		umask         int
		file, folder  fs.FileMode
		written, temp fs.FileMode
	}{
		{0o022, 0o640, 0o750, 0o640, 0o640},
		{0o077, 0o600, 0o700, 0o600, 0o600},
	} {
		withUmask(t, c.umask)
		dir := t.TempDir()
		root := openRoot(t, dir)
		sub, err := root.Sub("ESC-00001", DirMode)
		if err != nil {
			t.Fatal(err)
		}
		f, err := sub.CreateTemp("att-", "", FileMode)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := WriteFile(filepath.Join(dir, "t.md"), []byte("x"), FileMode); err != nil {
			t.Fatal(err)
		}
		sub.Close()
		wantMode(t, filepath.Join(dir, "ESC-00001"), fs.ModeDir|c.folder)
		wantMode(t, f.Name(), c.temp)
		wantMode(t, filepath.Join(dir, "t.md"), c.written)
	}
}

func TestSubDoesNotFollowSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := t.TempDir()
	if err := os.Symlink(target, filepath.Join(dir, "ESC-00001")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ESC-00002"), []byte("a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := openRoot(t, dir)
	for _, name := range []string{"ESC-00001", "ESC-00002"} {
		sub, err := root.Sub(name, DirMode)
		if err != nil {
			t.Fatal(err)
		}
		f, err := sub.CreateTemp("x", "", FileMode)
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		sub.Close()
		if fi, err := os.Lstat(filepath.Join(dir, name)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v, %v; want a new folder", name, fi, err)
		}
		aside, _ := filepath.Glob(filepath.Join(dir, name+".foreign-*"))
		if len(aside) != 1 {
			t.Errorf("%s: moved aside as %v, want one NAME.foreign-*", name, aside)
		}
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("wrote through the folder symlink: %v", entries)
	}
	if _, err := root.Sub("../x", DirMode); err == nil {
		t.Error("Sub(\"../x\"): no error")
	}
}

// TestWriteReplacesASymlink checks that a write over a symlink replaces the
// link and never writes its target.
func TestWriteReplacesASymlink(t *testing.T) {
	dir := t.TempDir()
	target, unchanged := outside(t)
	path := filepath.Join(dir, "ESC-00001-tracking.md")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("tracking"), FileMode); err != nil {
		t.Fatal(err)
	}
	unchanged()
	if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v, %v; want a regular file", path, fi, err)
	}
	onlyFiles(t, dir, "ESC-00001-tracking.md")
}

func TestMoveNeverReplaces(t *testing.T) {
	for _, across := range []bool{false, true} {
		srcDir := t.TempDir()
		if across {
			d, err := os.MkdirTemp("/dev/shm", "durable-test-")
			if err != nil {
				t.Skipf("no tmpfs at /dev/shm for a move across file systems: %v", err)
			}
			t.Cleanup(func() { os.RemoveAll(d) })
			srcDir = d
		}
		dstDir := t.TempDir()
		src, dst := openRoot(t, srcDir), openRoot(t, dstDir)
		target, unchanged := outside(t)
		os.Symlink(target, filepath.Join(dstDir, "link.pdf"))
		os.WriteFile(filepath.Join(dstDir, "planted.pdf"), []byte("planted"), 0o644)
		os.WriteFile(filepath.Join(srcDir, "att-1"), []byte("new"), 0o640)

		for _, name := range []string{"link.pdf", "planted.pdf"} {
			if err := Move(src, "att-1", dst, name); !errors.Is(err, fs.ErrExist) {
				t.Errorf("across=%v: Move over %s: %v, want ErrExist", across, name, err)
			}
		}
		unchanged()
		if got, _ := os.ReadFile(filepath.Join(dstDir, "planted.pdf")); string(got) != "planted" {
			t.Errorf("across=%v: planted file now %q", across, got)
		}
		if err := Move(src, "att-1", dst, "new.pdf"); err != nil {
			t.Fatalf("across=%v: %v", across, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dstDir, "new.pdf")); string(got) != "new" {
			t.Errorf("across=%v: moved file holds %q", across, got)
		}
		wantMode(t, filepath.Join(dstDir, "new.pdf"), 0o640)
		onlyFiles(t, srcDir)
		onlyFiles(t, dstDir, "link.pdf", "new.pdf", "planted.pdf")

		// MoveOver replaces the link itself.
		os.WriteFile(filepath.Join(srcDir, "att-2"), []byte("over"), 0o640)
		if err := MoveOver(src, "att-2", dst, "link.pdf"); err != nil {
			t.Fatal(err)
		}
		unchanged()
		if fi, err := os.Lstat(filepath.Join(dstDir, "link.pdf")); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("across=%v: link.pdf %v, %v; want a regular file", across, fi, err)
		}
		onlyFiles(t, srcDir)
	}
}

func TestSame(t *testing.T) {
	dir := t.TempDir()
	d := openRoot(t, dir)
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("x", 200<<10)
	write("a", big)
	write("b", big)
	write("c", big[1:]+"y")
	write("short", "x")
	os.Symlink(filepath.Join(dir, "a"), filepath.Join(dir, "link"))
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		other string
		want  bool
	}{{"b", true}, {"c", false}, {"short", false}, {"link", false}, {"fifo", false}, {"missing", false}} {
		if got := Same(d, "a", d, c.other); got != c.want {
			t.Errorf("Same(a, %s) = %v, want %v", c.other, got, c.want)
		}
	}
}

func TestMoveAsideAndRemoveMatching(t *testing.T) {
	dir := t.TempDir()
	d := openRoot(t, dir)
	if _, err := d.MoveAside("missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("MoveAside of nothing: %v, want ErrNotExist", err)
	}
	var names []string
	for range 2 {
		os.WriteFile(filepath.Join(dir, "t.md"), []byte("foreign"), 0o644)
		aside, err := d.MoveAside("t.md")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(aside, "t.md.foreign-") {
			t.Errorf("moved aside as %q", aside)
		}
		names = append(names, aside)
	}
	if names[0] == names[1] {
		t.Errorf("both moved aside as %q", names[0])
	}
	os.WriteFile(filepath.Join(dir, ".t.md.1.tmp"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, ".t.md.2.tmp"), nil, 0o644)
	if n := d.RemoveMatching(".t.md.*.tmp"); n != 2 {
		t.Errorf("removed %d, want 2", n)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("left %v", entries)
	}
}
