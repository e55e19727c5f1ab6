package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// storeMode is the mode of the store's files before the umask narrows it
// (§11 Files): they hold every message and address, for the daemon alone.
const storeMode = 0o600

// prepareStoreFile returns the path of the store in dataDir after making sure
// SQLite will open the daemon's own files there. SQLite follows symlinks, so
// a symlink at escalationd.db, its -wal or its -shm is refused with an error
// naming it (moving a store aside would start a fresh one that mails every
// customer again). A missing escalationd.db is created empty with storeMode
// (O_EXCL|O_NOFOLLOW), and SQLite gives the -wal and -shm it creates the mode
// of the database file. An existing store keeps its mode.
func prepareStoreFile(dataDir string) (string, error) {
	path := filepath.Join(dataDir, "escalationd.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Lstat(p)
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return "", fmt.Errorf("store: %s is a symlink; escalationd does not follow symlinks in escalation.data_dir: replace it with the file it points to", p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("store: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, storeMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return "", fmt.Errorf("store: create %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return "", fmt.Errorf("store: create %s: %w", path, err)
	}
	return path, nil
}
