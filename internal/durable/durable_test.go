package durable

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ESC-00042-tracking.md")

	if err := WriteFile(path, []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("two\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil || string(got) != "two\n" {
		t.Fatalf("read %q, %v; want \"two\\n\"", got, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, %v; want 0640", fi.Mode(), err)
	}
	onlyFiles(t, dir, "ESC-00042-tracking.md")

	// A folder that does not exist: an error, nothing created.
	if err := WriteFile(filepath.Join(dir, "missing", "x.md"), []byte("x"), 0o644); err == nil {
		t.Error("write into a missing folder: no error")
	}
	onlyFiles(t, dir, "ESC-00042-tracking.md")

	// The rename fails (the target is a folder that is not empty): an error,
	// the folder as it was, no temp file left.
	busy := filepath.Join(dir, "busy")
	if err := os.MkdirAll(filepath.Join(busy, "inner"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(busy, []byte("x"), 0o644); err == nil {
		t.Error("write over a folder: no error")
	}
	if fi, err := os.Stat(busy); err != nil || !fi.IsDir() {
		t.Errorf("folder replaced: %v, %v", fi, err)
	}
	onlyFiles(t, dir, "ESC-00042-tracking.md", "busy")

	// A folder that cannot be written: an error, the old file intact.
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
		f.Close()
		os.Remove(f.Name())
		t.Log("folder permissions do not apply (root?): skipping the read-only case")
	} else {
		if err := WriteFile(path, []byte("three\n"), 0o644); err == nil {
			t.Error("write into a read-only folder: no error")
		}
		if got, _ := os.ReadFile(path); string(got) != "two\n" {
			t.Errorf("old file changed to %q", got)
		}
		onlyFiles(t, dir, "ESC-00042-tracking.md", "busy")
	}
}

// TestWriteFileAtomicReaders checks that a concurrent reader sees the old or
// the new content, never a mix or an empty file.
func TestWriteFileAtomicReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.md")
	a := bytes.Repeat([]byte("a"), 1<<16)
	b := bytes.Repeat([]byte("b"), 1<<17)
	if err := WriteFile(path, a, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		var err error
		for i := range 50 {
			data := a
			if i%2 == 0 {
				data = b
			}
			if err = WriteFile(path, data, 0o644); err != nil {
				break
			}
		}
		done <- err
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		got, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !bytes.Equal(got, a) && !bytes.Equal(got, b)) {
			t.Fatalf("reader saw %d bytes, %v", len(got), err)
		}
	}
}

func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("folder holds %q, want %q", names, want)
	}
}

// TestBatch checks that nothing of a batch shows before Commit, everything
// after it, and that Abort leaves no temp file.
func TestBatch(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.md"), filepath.Join(dir, "b.md")
	if err := os.WriteFile(a, []byte("old a"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := OpenRoot(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var batch Batch
	if err := batch.Write(d, "a.md", []byte("new a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := batch.Write(d, "b.md", []byte("new b"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(a); string(got) != "old a" {
		t.Errorf("a before Commit: %q", got)
	}
	if _, err := os.Stat(b); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("b exists before Commit: %v", err)
	}
	if batch.Len() != 2 {
		t.Errorf("Len %d, want 2", batch.Len())
	}
	if err := batch.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(a); string(got) != "new a" {
		t.Errorf("a after Commit: %q", got)
	}
	if fi, err := os.Stat(b); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("b after Commit: %v %v", fi, err)
	}
	onlyFiles(t, dir, "a.md", "b.md")

	if err := batch.Write(d, "a.md", []byte("aborted"), 0o644); err != nil {
		t.Fatal(err)
	}
	batch.Abort()
	if got, _ := os.ReadFile(a); string(got) != "new a" {
		t.Errorf("a after Abort: %q", got)
	}
	onlyFiles(t, dir, "a.md", "b.md")
	if err := batch.Commit(); err != nil || batch.Len() != 0 {
		t.Errorf("empty Commit: %v, Len %d", err, batch.Len())
	}
}

func TestSyncMissingFolder(t *testing.T) {
	if err := Sync(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Sync of a missing folder: %v", err)
	}
}
