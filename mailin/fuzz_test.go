package mailin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/escalationd/escalationd/workflow"
)

// checkParseContract holds the invariants FuzzParse asserts on top of
// checkInvariants: Parse never returns nil and nil; Text is valid UTF-8
// without NUL or control characters other than '\n' and '\t'; every
// attachment is a file directly inside the spool directory whose size is the
// reported Size; on error no spool file remains.
func checkParseContract(t *testing.T, spool string, in *workflow.Inbound, err error) {
	t.Helper()
	if in == nil && err == nil {
		t.Fatal("Parse returned nil, nil")
	}
	if err != nil {
		if in != nil {
			t.Errorf("Parse returned both an Inbound and error %v", err)
		}
		assertEmptyDir(t, spool)
		return
	}
	if !utf8.ValidString(in.Text) {
		t.Errorf("Text is not valid UTF-8: %q", in.Text)
	}
	for _, r := range in.Text {
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f {
			t.Errorf("control character %U in Text %q", r, in.Text)
			break
		}
	}
	dir, aerr := filepath.Abs(spool)
	if aerr != nil {
		t.Fatal(aerr)
	}
	entries, rerr := os.ReadDir(spool)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if len(entries) != len(in.Attachments) {
		t.Errorf("spool holds %d files for %d attachments", len(entries), len(in.Attachments))
	}
	for _, a := range in.Attachments {
		if rel, err := filepath.Rel(dir, a.Path); err != nil || rel != filepath.Base(a.Path) || strings.HasPrefix(rel, "..") {
			t.Errorf("attachment path %q is not inside spool dir %q", a.Path, dir)
			continue
		}
		st, err := os.Stat(a.Path)
		if err != nil {
			t.Errorf("attachment %+v: %v", a, err)
			continue
		}
		if !st.Mode().IsRegular() || st.Size() != a.Size {
			t.Errorf("attachment %q: Size %d, file %d bytes (mode %v)", a.Path, a.Size, st.Size(), st.Mode())
		}
	}
}
