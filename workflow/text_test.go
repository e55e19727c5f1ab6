package workflow

import (
	"testing"
	"time"
)

// TestFormatTime pins the one time format of the tracking file, mail and
// "escalationd inspect": minutes, and the zone's abbreviation.
func TestFormatTime(t *testing.T) {
	at := time.Date(2026, 11, 28, 18, 5, 59, 0, time.UTC)
	if got, want := FormatTime(at, time.UTC), "2026-11-28 18:05 UTC"; got != want {
		t.Errorf("FormatTime(UTC) = %q, want %q", got, want)
	}
	berlin := time.FixedZone("CET", 3600)
	if got, want := FormatTime(at, berlin), "2026-11-28 19:05 CET"; got != want {
		t.Errorf("FormatTime(CET) = %q, want %q", got, want)
	}
	e := &Engine{loc: berlin}
	if got, want := e.fieldTime(at), FormatTime(at, berlin); got != want {
		t.Errorf("fieldTime = %q, want %q", got, want)
	}
	r := &renderer{loc: berlin}
	if got, want := r.stamp(at), FormatTime(at, berlin); got != want {
		t.Errorf("stamp = %q, want %q", got, want)
	}
}

// TestControlRune pins the one set of control characters every folder uses:
// C0, DEL, C1 and U+2028/U+2029; not the format characters (invisibleRune
// drops those where it matters) and not ordinary space or text.
func TestControlRune(t *testing.T) {
	for _, r := range []rune{0x00, '\t', '\n', '\r', 0x1b, 0x1f, 0x7f, 0x80, 0x85, 0x9b, 0x9f, 0x2028, 0x2029} {
		if !ControlRune(r) {
			t.Errorf("ControlRune(%U) = false, want true", r)
		}
	}
	for _, r := range []rune{' ', '~', 'a', 0xa0, 0xe9, 0x200b, 0x202e, 0x3000, 0xfffd} {
		if ControlRune(r) {
			t.Errorf("ControlRune(%U) = true, want false", r)
		}
	}
	// Every rune of the set is folded, one space for one rune.
	in := "a\r\nb\tc\x00d\x7fe\u0085f\u009bg\u2028h\u2029i"
	if got, want := OneLine(in), "a  b c d e f g h i"; got != want {
		t.Errorf("OneLine(%q) = %q, want %q", in, got, want)
	}
	// The tracking file and file names use the same set.
	for _, r := range []rune{'\r', 0x85, 0x9b, 0x2028} {
		s := "x" + string(r) + "y"
		if got := sanitizeText(s, false); got != "x y" {
			t.Errorf("sanitizeText(%q) = %q, want %q", s, got, "x y")
		}
		if got := SafeFileName(s + ".txt"); got != "xy.txt" {
			t.Errorf("SafeFileName(%q) = %q, want %q", s+".txt", got, "xy.txt")
		}
	}
}
