package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadEmbedded(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Render(Ack, samples[Ack])
	if err != nil {
		t.Fatal(err)
	}
	want := `Dear Jane Doe,

Thank you for escalating this to my attention. I want to assure you we're fully committed to resolving this.

**What I've Done**:
- Reviewed complete case history
- Assigned senior technical team
- Established priority tracking

**Next Steps**:
- Dedicated point of contact (me)
- Updates every 4 hours
- Next update: 2026-11-28 18:05 UTC

Your reference is ESC-00001: please keep it in the subject when you reply.

Best regards,
Dana Lee
Senior Engineer
+1 555 0100
tier3@example.com
`
	if got != want {
		t.Errorf("ack rendered:\n%s\nwant:\n%s", got, want)
	}
	if s.Source(Ack) != "embedded" {
		t.Errorf("source = %q", s.Source(Ack))
	}
}

func TestOverride(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, Ack), []byte("Hello {{.Salutation}} {{.Tag}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Render(Ack, samples[Ack])
	if got != "Hello Jane Doe ESC-00001\n" {
		t.Errorf("override rendered %q", got)
	}
}

func TestBadOverrides(t *testing.T) {
	for name, tc := range map[string]struct{ file, text, want string }{
		"syntax":        {Ack, "{{.Salutation", "parse override"},
		"unknown field": {Ack, "{{.Nope}}", "test-render"},
		"unknown file":  {"ackk.txt.tmpl", "x", "not a known template"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "templates_dir") {
		t.Fatalf("missing dir: %v", err)
	}
}
