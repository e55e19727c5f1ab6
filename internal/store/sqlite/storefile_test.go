package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestStoreFileModes opens a new store under umask 022 and 077: the
// database and its -wal and -shm are 0600 either way (§11 Files).
func TestStoreFileModes(t *testing.T) {
	for _, umask := range []int{0o022, 0o077} {
		old := syscall.Umask(umask)
		dir := filepath.Join(t.TempDir(), "data")
		st, err := Open(dir)
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.SchemaVersion(); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"escalationd.db", "escalationd.db-wal", "escalationd.db-shm"} {
			if m, err := lmode(filepath.Join(dir, name)); err != nil || m != 0o600 {
				t.Errorf("umask %03o: %s: mode %v, %v; want -rw-------", umask, name, m, err)
			}
		}
		if m, err := lmode(dir); err != nil || m != os.ModeDir|0o750&^os.FileMode(umask) {
			t.Errorf("umask %03o: data_dir mode %v, %v", umask, m, err)
		}
		st.Close()
	}
}

// lmode is the mode of path itself (a symlink is not followed).
func lmode(path string) (os.FileMode, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return 0, err
	}
	return fi.Mode(), nil
}

// TestStoreSymlinkRefused plants a symlink at the store's name: OpenStore
// refuses it with an error naming it, and writes nothing through it.
func TestStoreSymlinkRefused(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "elsewhere.db")
	if err := os.WriteFile(target, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "escalationd.db")); err != nil {
		t.Fatal(err)
	}
	st, err := Open(dir)
	if err == nil {
		st.Close()
		t.Fatal("OpenStore over a symlink: no error")
	}
	if !strings.Contains(err.Error(), "escalationd.db is a symlink") {
		t.Errorf("error %q does not say what is wrong", err)
	}
	if fi, err := os.Stat(target); err != nil || fi.Size() != 0 {
		t.Errorf("the symlink's target was written: %v, %v", fi, err)
	}
}
