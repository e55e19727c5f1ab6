package workflow

import (
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/escalationd/escalationd/internal/durable"
)

// maxNameBytes bounds a saved file name; most file systems allow 255.
const maxNameBytes = 120

// SafeFileName turns an untrusted attachment name into one that is safe to
// create inside an escalation's folder: the base name only (no separators, no
// traversal), no control or bidi characters, no leading dots or spaces,
// bounded length with the extension kept. An empty result becomes
// "attachment".
func SafeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	// Take the last element of either kind of path.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r < 0x20 || r == 0x7f || unicode.Is(unicode.Cc, r):
			continue
		case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200b, r == 0x200c, r == 0x200d, r == 0x200e, r == 0x200f, r == 0xfeff:
			continue
		case strings.ContainsRune(`:*?"<>|`, r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ". ")
	name = strings.TrimRight(name, ". ")
	if len(name) > maxNameBytes {
		ext := path.Ext(name)
		if len(ext) > 16 || !utf8.ValidString(ext) {
			ext = ""
		}
		stem := name[:len(name)-len(ext)]
		cut := maxNameBytes - len(ext)
		for cut > 0 && !utf8.RuneStart(stem[cut]) {
			cut--
		}
		name = stem[:cut] + ext
	}
	if name == "" {
		return "attachment"
	}
	return name
}

// numbered returns "report (2).pdf" for n=2.
func numbered(name string, n int) string {
	ext := path.Ext(name)
	if ext == name {
		ext = ""
	}
	return fmt.Sprintf("%s (%d)%s", strings.TrimSuffix(name, ext), n, ext)
}

// openDir opens escalation.dir, creating it (with durable.DirMode) when it
// is missing: New made it, but it may have been removed since.
func (e *Engine) openDir() (*durable.Dir, error) {
	if err := os.MkdirAll(e.cfg.Escalation.Dir, durable.DirMode); err != nil {
		return nil, fmt.Errorf("create escalation.dir %s: %w", e.cfg.Escalation.Dir, err)
	}
	return durable.OpenRoot(e.cfg.Escalation.Dir, e.log)
}

// trackingName is the name of escalation id's tracking file in
// escalation.dir.
func (e *Engine) trackingName(id int64) string { return e.Tag(id) + "-tracking.md" }

// placeAttachment moves a spooled attachment into dir/tag/ under a safe name
// and returns that name. A name already recorded for this escalation gets a
// number; a file on disk that the store does not know (left by a crash before
// a commit) is overwritten, so a retried message does not pile up copies.
func placeAttachment(tx *Tx, dir, tag string, taken map[string]bool, a Attachment) (string, error) {
	folder := filepath.Join(dir, tag)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return "", fmt.Errorf("create attachment folder %s: %w", folder, err)
	}
	base := SafeFileName(a.Name)
	name := base
	for n := 2; ; n++ {
		rel := tag + "/" + name
		known := taken[rel]
		if !known {
			var one int
			err := tx.QueryRow(`SELECT 1 FROM attachments WHERE rel_path = ?`, rel).Scan(&one)
			switch {
			case err == nil:
				known = true
			case !errors.Is(err, sql.ErrNoRows):
				return "", fmt.Errorf("store: look up attachment %s: %w", rel, err)
			}
		}
		if !known {
			taken[rel] = true
			break
		}
		name = numbered(base, n)
	}
	target := filepath.Join(folder, name)
	if err := moveFile(a.Path, target); err != nil {
		return "", fmt.Errorf("save attachment %s: %w", target, err)
	}
	return name, nil
}

// moveFile renames src to dst, copying when they are on different file
// systems. dst is fsynced before src is removed.
func moveFile(src, dst string) error {
	if err := os.Rename(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".part"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(src)
}
