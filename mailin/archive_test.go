package mailin

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/escalationd/escalationd/internal/durable"
)

// TestArchiveNeverWritesThrough archives a message where a symlink, a file
// with other bytes and a copy of the same message already sit at its name:
// the symlink's target and the foreign file are kept unchanged (moved
// aside), the copy is replaced, and the archived file is 0640 under umask
// 022.
func TestArchiveNeverWritesThrough(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	msg := "From: a@b.test\r\nSubject: x\r\n\r\nbody\r\n"
	sum := sha256.Sum256([]byte(msg))
	hexSum := hex.EncodeToString(sum[:])
	target := filepath.Join(t.TempDir(), "shadow")

	for _, c := range []struct {
		name  string
		plant func(path string) error
		aside bool
	}{
		{"symlink", func(path string) error { return os.Symlink(target, path) }, true},
		{"other bytes", func(path string) error { return os.WriteFile(path, []byte("planted"), 0o644) }, true},
		{"same bytes", func(path string) error { return os.WriteFile(path, []byte(msg), 0o644) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.WriteFile(target, []byte("root:secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			sub := filepath.Join(dir, hexSum[:2])
			if err := os.Mkdir(sub, 0o750); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(sub, hexSum+".eml")
			if err := c.plant(path); err != nil {
				t.Fatal(err)
			}
			root, err := durable.OpenRoot(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			rf, err := archive(root, strings.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			if rf.path != path || rf.sha != hexSum {
				t.Errorf("archived as %s (%s), want %s", rf.path, rf.sha, path)
			}
			if got, _ := os.ReadFile(target); string(got) != "root:secret\n" {
				t.Errorf("the symlink's target changed to %q", got)
			}
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != 0o640 {
				t.Errorf("%s: mode %v, want a regular file -rw-r-----", path, fi.Mode())
			}
			if got, _ := os.ReadFile(path); string(got) != msg {
				t.Errorf("archived %q", got)
			}
			aside, _ := filepath.Glob(path + ".foreign-*")
			if c.aside != (len(aside) == 1) || len(aside) > 1 {
				t.Errorf("moved aside: %v", aside)
			}
			if c.name == "other bytes" && len(aside) == 1 {
				if got, _ := os.ReadFile(aside[0]); string(got) != "planted" {
					t.Errorf("the foreign file now holds %q", got)
				}
			}
			if left, _ := filepath.Glob(filepath.Join(dir, "incoming-*")); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
		})
	}
}

// TestSpoolFileMode checks that a spooled attachment is created 0640
// narrowed by the umask: it becomes the attachment by a rename, mode and
// all.
func TestSpoolFileMode(t *testing.T) {
	raw, err := os.ReadFile("testdata/html-attachment.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		umask int
		want  os.FileMode
	}{{0o022, 0o640}, {0o077, 0o600}} {
		old := syscall.Umask(c.umask)
		in, err := Parse(strings.NewReader(string(raw)), ParseOptions{SpoolDir: t.TempDir()})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		if len(in.Attachments) == 0 {
			t.Fatal("no attachment parsed: the test checks nothing")
		}
		for _, a := range in.Attachments {
			fi, err := os.Lstat(a.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode() != c.want {
				t.Errorf("umask %03o: %s: mode %v, want %v", c.umask, a.Path, fi.Mode(), c.want)
			}
		}
		in.RemoveSpool()
	}
}
