package workflow

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/escalationd/escalationd/internal/durable"
)

// maxNameBytes bounds a saved file name; most file systems allow 255.
const maxNameBytes = 120

// SafeFileName turns an untrusted attachment name into one that is safe to
// create inside an escalation's folder: the base name only (no separators, no
// traversal); no control characters (ControlRune: C0, DEL, C1, line
// separators) or invisible and bidi characters (invisibleRune: the Unicode format
// characters, such as U+202E, which would show "invoice\u202Egpj.exe" as
// "invoiceexe.jpg", or U+200B); in Unicode NFC, so that an "é" sent
// decomposed is the same name as one sent composed; no leading dots or
// spaces; bounded length with the extension kept. An empty result becomes
// "attachment".
func SafeFileName(name string) string {
	name = strings.ToValidUTF8(name, "")
	// Take the last element of either kind of path.
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case ControlRune(r), invisibleRune(r):
			return -1
		case strings.ContainsRune(`:*?"<>|`, r):
			return '_'
		}
		return r
	}, name)
	// After the drop: a combining mark that followed an invisible character
	// composes with the letter before it.
	name = norm.NFC.String(name)
	name = trimName(name)
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
		name = trimName(stem[:cut] + ext) // no space or dot at the end of the cut
	}
	if name == "" {
		return "attachment"
	}
	return name
}

// trimName removes dots and every kind of white space (U+3000 included)
// from both ends of a name: no hidden file, and nothing at the end that a
// file system or a reader would not see.
func trimName(name string) string {
	return strings.TrimFunc(name, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
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

// claimTracking makes way for the tracking file of the escalation id being
// opened (§11 Files). Whatever is at its name already was not written by
// this store: an escalation.dir kept from a store started afresh, a planted
// file or symlink. It is moved aside unchanged (durable.Dir.MoveAside logs
// where to), so that the rename of every later write replaces only the
// daemon's own file. Called within the transaction that opens the
// escalation, before the commit: after a crash the name is free again.
func (e *Engine) claimTracking(id int64) error {
	root, err := e.openDir()
	if err != nil {
		return err
	}
	defer root.Close()
	if _, err := root.MoveAside(e.trackingName(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("make way for the tracking file of %s: %w", e.Tag(id), err)
	}
	return nil
}

// placeAttachment moves a spooled attachment into the folder tag/ of root
// (made with durable.DirMode; a symlink or a file at its name is moved
// aside, never followed) under a safe name, and returns that name. A name
// recorded for this escalation gets a number. So does a name taken on disk
// by a file the store has no record of (a symlink, a planted file, one from
// an earlier store): it is left as it is and a warning names it. Except a
// regular file with the same bytes, which is this very attachment placed
// before a crash or a rolled-back transaction: it is replaced, so that a
// retried message does not pile up copies.
func (e *Engine) placeAttachment(tx Tx, root *durable.Dir, tag string, taken map[string]bool, a Attachment) (string, error) {
	folder, err := root.Sub(tag, durable.DirMode)
	if err != nil {
		return "", fmt.Errorf("create attachment folder: %w", err)
	}
	defer folder.Close()
	spool, err := durable.OpenRoot(filepath.Dir(a.Path), e.log)
	if err != nil {
		return "", fmt.Errorf("save attachment %s: %w", a.Name, err)
	}
	defer spool.Close()
	spooled := filepath.Base(a.Path)
	base := SafeFileName(a.Name)
	var kept []string // names taken by files the store does not know
	name := base
	for n := 2; ; n++ {
		rel := tag + "/" + name
		known, err := attachmentKnown(tx, taken, rel)
		if err != nil {
			return "", err
		}
		if !known {
			err := durable.Move(spool, spooled, folder, name)
			if errors.Is(err, fs.ErrExist) && durable.Same(spool, spooled, folder, name) {
				err = durable.MoveOver(spool, spooled, folder, name)
			}
			if err == nil {
				taken[rel] = true
				if len(kept) > 0 {
					e.log.Warn("attachment name taken by a file escalationd has no record of; left that file as it is and saved the attachment under another name",
						"escalation", tag, "kept", strings.Join(kept, ", "), "saved_as", folder.Path(name))
				}
				return name, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("save attachment: %w", err)
			}
			kept = append(kept, folder.Path(name))
		}
		name = numbered(base, n)
	}
}

// attachmentKnown reports whether rel is an attachment of this transaction
// (taken) or of the store.
func attachmentKnown(tx Tx, taken map[string]bool, rel string) (bool, error) {
	if taken[rel] {
		return true, nil
	}
	return tx.AttachmentKnown(rel)
}
