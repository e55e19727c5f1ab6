package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// withUmask sets the process umask for the length of a test. Not parallel:
// the umask belongs to the whole process.
func withUmask(t *testing.T, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// TestFileModes runs the demo mailbox under umask 022 and 077 and checks
// the mode of everything the daemon made (§11 Files): tracking files,
// attachments, raw messages and the lock file 0640, folders 0750, the
// attachment spool 0700 and the store with its -wal and -shm 0600, each
// narrowed by the umask, never widened; and no symlink anywhere. Tests run
// as root, so the modes are read, not tried.
func TestFileModes(t *testing.T) {
	for _, umask := range []int{0o022, 0o077} {
		t.Run(fs.FileMode(umask).String(), func(t *testing.T) {
			withUmask(t, umask)
			h := newHarness(t, nil)
			h.seed(demoMessages(t0))
			if code := h.once(fixed(t0)); code != exitOK {
				t.Fatalf("once exit %d", code)
			}
			d := h.inspect() // the store open: its -wal and -shm exist
			if _, err := d.engine.List(context.Background()); err != nil {
				t.Fatal(err)
			}
			narrow := func(m fs.FileMode) fs.FileMode { return m &^ fs.FileMode(umask) }
			seen := map[string]bool{}
			for _, root := range []string{h.cfg.Escalation.Dir, h.cfg.Escalation.DataDir} {
				filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
					if err != nil {
						t.Fatal(err)
					}
					fi, err := os.Lstat(path)
					if err != nil {
						t.Fatal(err)
					}
					name := e.Name()
					var want fs.FileMode
					switch {
					case fi.Mode()&fs.ModeSymlink != 0:
						t.Errorf("%s is a symlink", path)
						return nil
					case name == "spool":
						want = fs.ModeDir | narrow(0o700)
					case fi.IsDir():
						want = fs.ModeDir | narrow(0o750)
					case strings.HasPrefix(name, "escalationd.db"):
						want = narrow(0o600)
					default:
						want = narrow(0o640)
					}
					if fi.Mode() != want {
						t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
					}
					kind := name
					switch {
					case strings.HasSuffix(name, "-tracking.md"):
						kind = "tracking file"
					case strings.HasSuffix(name, ".eml"):
						kind = "raw message"
					case filepath.Dir(filepath.Dir(path)) == h.cfg.Escalation.Dir:
						kind = "attachment"
					}
					seen[kind] = true
					return nil
				})
			}
			for _, kind := range []string{"tracking file", "attachment", "raw message", "escalationd.db", "escalationd.db-wal", "escalationd.db-shm", "escalationd.lock", "spool", "raw"} {
				if !seen[kind] {
					t.Errorf("no %s made: the test checks nothing of it (saw %v)", kind, seen)
				}
			}
		})
	}
}

// outsideFile is a file outside the daemon's folders that a planted symlink
// points at; the returned func checks it never changed.
func outsideFile(t *testing.T, content string) (string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != content {
			t.Errorf("the symlink's target %s changed: %d bytes, %v", path, len(got), err)
		}
	}
}

// TestRawArchiveSymlinks plants symlinks in the raw archive: at the very
// name a message will be archived under, and as the archive's folder.
// Neither is written through; each is moved aside, and the message is
// archived in a real file with its own bytes.
func TestRawArchiveSymlinks(t *testing.T) {
	seeds := demoMessages(t0)[:1]
	sum := sha256.Sum256(seeds[0].raw)
	hexSum := hex.EncodeToString(sum[:])

	t.Run("message", func(t *testing.T) {
		h := newHarness(t, nil)
		target, unchanged := outsideFile(t, "root:secret\n")
		sub := filepath.Join(h.cfg.Escalation.DataDir, "raw", hexSum[:2])
		if err := os.MkdirAll(sub, 0o750); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, hexSum+".eml")
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		h.seed(seeds)
		if code := h.once(fixed(t0)); code != exitOK {
			t.Fatalf("once exit %d", code)
		}
		unchanged()
		if fi, err := os.Lstat(path); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("%s: %v, %v; want a regular file", path, fi, err)
		}
		if got, _ := os.ReadFile(path); string(got) != string(seeds[0].raw) {
			t.Errorf("archived %d bytes, want the message's %d", len(got), len(seeds[0].raw))
		}
		if aside, _ := filepath.Glob(path + ".foreign-*"); len(aside) != 1 {
			t.Errorf("symlink moved aside as %v, want one", aside)
		}
	})

	t.Run("folder", func(t *testing.T) {
		h := newHarness(t, nil)
		elsewhere := t.TempDir()
		if err := os.MkdirAll(h.cfg.Escalation.DataDir, 0o750); err != nil {
			t.Fatal(err)
		}
		raw := filepath.Join(h.cfg.Escalation.DataDir, "raw")
		if err := os.Symlink(elsewhere, raw); err != nil {
			t.Fatal(err)
		}
		h.seed(seeds)
		if code := h.once(fixed(t0)); code != exitOK {
			t.Fatalf("once exit %d", code)
		}
		if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
			t.Errorf("wrote through the symlinked raw folder: %v", entries)
		}
		if _, err := os.Lstat(filepath.Join(raw, hexSum[:2], hexSum+".eml")); err != nil {
			t.Errorf("message not archived in a real raw folder: %v", err)
		}
	})
}

// TestStoreAndLockSymlinksRefused plants symlinks at the store's and the
// lock's names: the daemon refuses to start, and writes nothing through
// them.
func TestStoreAndLockSymlinksRefused(t *testing.T) {
	for _, name := range []string{"escalationd.db", "escalationd.db-wal", "escalationd.lock"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			target, unchanged := outsideFile(t, "")
			if err := os.MkdirAll(h.cfg.Escalation.DataDir, 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(h.cfg.Escalation.DataDir, name)); err != nil {
				t.Fatal(err)
			}
			h.seed(demoMessages(t0)[:1])
			if code := h.once(fixed(t0)); code == exitOK {
				t.Errorf("once exit 0 with a symlink at %s", name)
			}
			unchanged()
			if got := h.smtp.Received(); len(got) != 0 {
				t.Errorf("%d mails sent", len(got))
			}
		})
	}
}
