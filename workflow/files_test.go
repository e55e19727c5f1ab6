package workflow

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestSafeFileNameHostile(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"invoice\u202Egpj.exe", "invoicegpj.exe"},                                   // right-to-left override
		{"\u2066report\u2069\u200E.pdf", "report.pdf"},                               // isolates, LRM
		{"re\u200Bp\u200Co\u200Dr\u2060t\uFEFF.pdf", "report.pdf"},                   // zero-width, word joiner, BOM
		{"pay\u061Croll.xlsx", "payroll.xlsx"},                                       // Arabic letter mark (a bidi control)
		{"in\u00ADvoice.pdf", "invoice.pdf"},                                         // soft hyphen
		{"x\U000E0041\U000E0042.txt", "x.txt"},                                       // tag characters
		{"a\u206Ab\uFFF9c.txt", "abc.txt"},                                           // deprecated format, annotation
		{"line\u2028sep\u2029.txt", "linesep.txt"},                                   // line and paragraph separators
		{"c1\u0085\u009b.txt", "c1.txt"},                                             // C1 controls
		{"e\u0301.txt", "\u00e9.txt"},                                                // NFD "é" becomes NFC
		{"e\u200B\u0301.txt", "\u00e9.txt"},                                          // composed once the zero-width space is gone
		{"\u0627\u0644\u0645\u0644\u0641.pdf", "\u0627\u0644\u0645\u0644\u0641.pdf"}, // Arabic letters stay
		{"\u0600\u0661.txt", "\u0600\u0661.txt"},                                     // a visible prepended mark stays
		{"\u202E\u200B", "attachment"},                                               // nothing but invisible characters
		{"\u202E.\u200B.", "attachment"},                                             // dots once they are gone
		{"../\u2066", "attachment"},                                                  // traversal, then nothing
		{"..\u200B/..\u200B/passwd", "passwd"},
		{"\u200B.hidden", "hidden"},
	} {
		if got := SafeFileName(c.in); got != c.want {
			t.Errorf("SafeFileName(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

// logBuffer is a log sink for assertions on warnings.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newLoggedEngine is newTestEngine with its log kept for assertions.
func newLoggedEngine(t *testing.T) (*Engine, *logBuffer) {
	t.Helper()
	e, _ := newTestEngine(t, nil)
	logs := &logBuffer{}
	e.log = slog.New(slog.NewTextHandler(logs, nil))
	return e, logs
}

// outsideFile is a file outside escalation.dir that a planted symlink
// points at; the returned func checks it never changed.
func outsideFile(t *testing.T) (string, func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(path, []byte("root:secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, func() {
		t.Helper()
		if got, err := os.ReadFile(path); err != nil || string(got) != "root:secret\n" {
			t.Errorf("the symlink's target %s changed: %q, %v", path, got, err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// asideOf returns what was moved aside from path: path.foreign-*.
func asideOf(t *testing.T, path string) []string {
	t.Helper()
	found, err := filepath.Glob(path + ".foreign-*")
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func wantRegular(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("%s: %v, %v; want a regular file", path, fi, err)
	}
}

// TestTrackingFileNeverWrittenThrough plants a symlink and a regular file
// where the tracking files of escalations not yet opened will go: each is
// moved aside unchanged (with a warning), never written through or
// overwritten. A symlink planted at the tracking file of an escalation the
// daemon already writes is replaced by the next write, its target untouched.
func TestTrackingFileNeverWrittenThrough(t *testing.T) {
	e, logs := newLoggedEngine(t)
	target, unchanged := outsideFile(t)
	first, second := e.TrackingPath(1), e.TrackingPath(2)
	symlink(t, target, first)
	if err := os.WriteFile(second, []byte("notes of an earlier install\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	ingest(t, e, msg("jane@acme.test", "Outage", "m1@acme.test", nil))
	ingest(t, e, msg("bob@globex.test", "Other outage", "m2@globex.test", nil))

	unchanged()
	for _, path := range []string{first, second} {
		wantRegular(t, path)
		if got, _ := os.ReadFile(path); !bytes.HasPrefix(got, []byte("# Escalation Tracking: ")) {
			t.Errorf("%s is not a tracking file: %q", path, got)
		}
		aside := asideOf(t, path)
		if len(aside) != 1 {
			t.Fatalf("%s: moved aside as %v, want one %s.foreign-*", path, aside, filepath.Base(path))
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), aside[0]) {
			t.Errorf("no warning naming %s; log:\n%s", aside[0], logs)
		}
	}
	if link, err := os.Readlink(asideOf(t, first)[0]); err != nil || link != target {
		t.Errorf("the planted symlink moved aside reads %q, %v", link, err)
	}
	if got, _ := os.ReadFile(asideOf(t, second)[0]); string(got) != "notes of an earlier install\n" {
		t.Errorf("the planted file moved aside holds %q", got)
	}

	// The file is the daemon's now: a symlink put in its place is replaced.
	if err := os.Remove(first); err != nil {
		t.Fatal(err)
	}
	symlink(t, target, first)
	ingest(t, e, msg("jane@acme.test", "Re: Outage", "m3@acme.test", func(in *Inbound) { in.InReplyTo = []string{"m1@acme.test"} }))
	unchanged()
	wantRegular(t, first)
	if n := len(asideOf(t, first)); n != 1 {
		t.Errorf("%d files moved aside, want still 1", n)
	}
}

// TestSymlinkedEscalationFolder plants ESC-00001 as a symlink to a folder
// outside escalation.dir: the attachment goes to a real folder, nothing is
// written outside, and the symlink is moved aside.
func TestSymlinkedEscalationFolder(t *testing.T) {
	e, _ := newLoggedEngine(t)
	elsewhere := t.TempDir()
	folder := filepath.Join(e.cfg.Escalation.Dir, "ESC-00001")
	symlink(t, elsewhere, folder)
	ingest(t, e, msg("jane@acme.test", "logs", "m1@acme.test", func(in *Inbound) {
		in.Attachments = []Attachment{spoolFile(t, "db.log", "ERROR deadlock")}
	}))
	if entries, _ := os.ReadDir(elsewhere); len(entries) != 0 {
		t.Errorf("wrote through the folder symlink into %s: %v", elsewhere, entries)
	}
	if fi, err := os.Lstat(folder); err != nil || !fi.IsDir() {
		t.Fatalf("%s: %v, %v; want a real folder", folder, fi, err)
	}
	if got, err := os.ReadFile(filepath.Join(folder, "db.log")); err != nil || string(got) != "ERROR deadlock" {
		t.Errorf("attachment: %q, %v", got, err)
	}
	if aside := asideOf(t, folder); len(aside) != 1 {
		t.Errorf("symlink moved aside as %v, want one ESC-00001.foreign-*", aside)
	}
}

// TestAttachmentNameTaken plants a symlink and a foreign file at the names
// attachments want, in the escalation's folder: both stay as they are, the
// attachments get other names, and a warning names the kept files. A file
// with the attachment's very bytes (left by an attempt that was rolled
// back) is replaced instead of piling up copies.
func TestAttachmentNameTaken(t *testing.T) {
	e, logs := newLoggedEngine(t)
	target, unchanged := outsideFile(t)
	folder := filepath.Join(e.cfg.Escalation.Dir, "ESC-00001")
	if err := os.MkdirAll(folder, 0o750); err != nil {
		t.Fatal(err)
	}
	symlink(t, target, filepath.Join(folder, "report.pdf"))
	os.WriteFile(filepath.Join(folder, "notes.txt"), []byte("planted"), 0o644)
	os.WriteFile(filepath.Join(folder, "db.log"), []byte("ERROR deadlock"), 0o644)

	ingest(t, e, msg("jane@acme.test", "logs", "m1@acme.test", func(in *Inbound) {
		in.Attachments = []Attachment{
			spoolFile(t, "report.pdf", "pdf bytes"),
			spoolFile(t, "notes.txt", "real notes"),
			spoolFile(t, "db.log", "ERROR deadlock"),
		}
	}))

	unchanged()
	if link, err := os.Readlink(filepath.Join(folder, "report.pdf")); err != nil || link != target {
		t.Errorf("planted symlink: %q, %v; want it left as it was", link, err)
	}
	for name, want := range map[string]string{
		"notes.txt": "planted", "report (2).pdf": "pdf bytes", "notes (2).txt": "real notes", "db.log": "ERROR deadlock",
	} {
		if got, err := os.ReadFile(filepath.Join(folder, name)); err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(folder, "db (2).log")); err == nil {
		t.Error("an identical leftover was kept beside a second copy")
	}
	wantRegular(t, filepath.Join(folder, "db.log"))
	v, err := e.View(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	var logged []string
	for _, a := range v.Log[0].Attachments {
		logged = append(logged, a.RelPath)
	}
	if got := strings.Join(logged, ","); got != "ESC-00001/report (2).pdf,ESC-00001/notes (2).txt,ESC-00001/db.log" {
		t.Errorf("logged attachments %s", got)
	}
	for _, kept := range []string{"report.pdf", "notes.txt"} {
		if !strings.Contains(logs.String(), filepath.Join(folder, kept)) {
			t.Errorf("no warning names the kept %s; log:\n%s", kept, logs)
		}
	}
}

// FuzzSafeFileName checks what every saved attachment name is: not empty,
// one plain name that does not start with a dot, at most maxNameBytes of
// valid UTF-8 in NFC, with no control, line-separator or invisible
// character, and a fixed point (cleaning it again changes nothing). Run it
// for real with
//
//	go test -run '^$' -fuzz '^FuzzSafeFileName$' -fuzztime 5m -parallel 1 ./workflow/
func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{
		"report.pdf", "../../etc/passwd", `C:\x\y.exe`, "invoice\u202Egpj.exe", "e\u0301.txt",
		"\u200B", ". .", strings.Repeat("\u00e9", 100) + ".pdf", strings.Repeat("a", 119) + " .x",
		strings.Repeat("x ", 80), "\xff\xfe.txt", "q\u0301\u0301\u0301.txt",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := SafeFileName(in)
		switch {
		case got == "", got == "..", strings.HasPrefix(got, "."), strings.ContainsAny(got, "/\\\x00"):
			t.Fatalf("SafeFileName(%+q) = %+q: not one plain name", in, got)
		case len(got) > maxNameBytes, !utf8.ValidString(got), !norm.NFC.IsNormalString(got):
			t.Fatalf("SafeFileName(%+q) = %+q: too long, not UTF-8 or not NFC", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || invisibleRune(r) {
				t.Fatalf("SafeFileName(%+q) = %+q holds %U", in, got, r)
			}
		}
		if again := SafeFileName(got); again != got {
			t.Fatalf("SafeFileName(%+q) = %+q, but SafeFileName of that is %+q", in, got, again)
		}
	})
}
