package mailin

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/escalationd/escalationd/internal/durable"
)

// rawFile is a message in the raw archive.
type rawFile struct {
	path string
	sha  string
	data []byte // the message, when it was small enough to keep for parsing
}

// archive copies r into the raw archive dir (DataDir/raw) under its SHA-256
// and returns where: dir/ab/<sha256>.eml, created with durable.FileMode
// (O_EXCL, never through a symlink). The same message archived before (a
// regular file with the same bytes) is replaced by the new copy. Anything
// else at that name (a symlink, other bytes) was not written by the daemon:
// it is moved aside (durable.Dir.MoveAside), never overwritten or followed.
func archive(dir *durable.Dir, r io.Reader) (rawFile, error) {
	tmp, err := dir.CreateTemp("incoming-", "", durable.FileMode)
	if err != nil {
		return rawFile{}, fmt.Errorf("raw archive: %w", err)
	}
	tmpName := filepath.Base(tmp.Name())
	h := sha256.New()
	// No fsync here: the engine syncs the archive once for the whole
	// group of messages, before the commit that refers to them.
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dir.Remove(tmpName)
		return rawFile{}, fmt.Errorf("raw archive: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	path, err := placeRaw(dir, tmpName, sum)
	if err != nil {
		dir.Remove(tmpName)
		return rawFile{}, fmt.Errorf("raw archive: %w", err)
	}
	return rawFile{path: path, sha: sum}, nil
}

// placeRaw moves the archived message tmpName in dir to ab/<sum>.eml and
// returns its path.
func placeRaw(dir *durable.Dir, tmpName, sum string) (string, error) {
	sub, err := dir.Sub(sum[:2], durable.DirMode)
	if err != nil {
		return "", err
	}
	defer sub.Close()
	name := sum + ".eml"
	for range 3 { // each turn moves one foreign file aside
		err := durable.Move(dir, tmpName, sub, name)
		if errors.Is(err, fs.ErrExist) && durable.Same(dir, tmpName, sub, name) {
			err = durable.MoveOver(dir, tmpName, sub, name)
		}
		if !errors.Is(err, fs.ErrExist) {
			return sub.Path(name), err
		}
		if _, err := sub.MoveAside(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: something keeps replacing it", sub.Path(name))
}

// dataSub opens the folder name in DataDir (absolute), creating it with
// perm; a symlink or a file at its name is moved aside, never followed.
func (p *Poller) dataSub(name string, perm os.FileMode) (*durable.Dir, error) {
	dataDir, err := filepath.Abs(p.opts.DataDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, durable.DirMode); err != nil {
		return nil, err
	}
	root, err := durable.OpenRoot(dataDir, p.log)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Sub(name, perm)
}

// sweepPartial removes the raw-archive temp files ("raw/incoming-*") and
// attachment spool files ("spool/att-*") that a crash in the middle of a fetch
// or a parse leaves behind: nothing refers to them, and their message is
// still unhandled on the server, so it is fetched and parsed again. It runs
// before this process fetches anything (and again after a failed batch,
// when no fetch is in flight either). Best effort.
func (p *Poller) sweepPartial() {
	removed := 0
	for _, s := range []struct {
		folder, pattern string
		perm            os.FileMode
	}{{"raw", "incoming-*", durable.DirMode}, {"spool", "att-*", spoolMode}} {
		dir, err := p.dataSub(s.folder, s.perm)
		if err != nil {
			continue
		}
		removed += dir.RemoveMatching(s.pattern)
		dir.Close()
	}
	if removed > 0 {
		p.log.Info("removed partly fetched or parsed files left by a crash", "count", removed, "data_dir", p.opts.DataDir)
	}
}
