package workflow

import (
	"strings"
	"unicode"
)

// ControlRune reports whether r must not reach a header field or a terminal
// line: the C0 controls (CR, LF and TAB among them), DEL, the C1 controls
// (U+0080 to U+009F: NEL is a line break, and U+009B is the 8-bit CSI that
// starts a terminal escape sequence), and the Unicode line and paragraph
// separators U+2028 and U+2029. Each of them can end a line, or make a
// terminal act, wherever untrusted text is written; this is the one set
// every folder of the daemon (OneLine, mailin's header values, mailout's
// header values, the tracking file, file names) uses.
func ControlRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// OneLine folds every ControlRune to a space, so untrusted text stays on
// one line of a header or a terminal. Spaces are not collapsed: each rune
// stands where it was.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if ControlRune(r) {
			return ' '
		}
		return r
	}, s)
}
