package workflow

import (
	"net/url"
	"strings"
)

// Escaping of untrusted text for the tracking file (§9).
//
// The aim is that a markdown viewer (CommonMark or GitHub Flavored Markdown)
// shows the text literally, and that it cannot forge a heading, a list item,
// a checkbox, a link, an image, a table, emphasis, code, HTML, or break out of
// a blockquote. The rules:
//
//   - '&', '<' and '>' become "&amp;", "&lt;" and "&gt;" everywhere. That kills
//     raw HTML, autolinks in angle brackets and forged entities ("&lt;").
//   - The ASCII characters \ ` * _ [ ] | ~ are backslash-escaped everywhere:
//     they open code spans, emphasis, links, images, footnotes, tables and
//     strikethrough. '!' needs nothing since '[' is escaped.
//   - '$' is escaped unless a digit follows, so "$25,000" stays readable while
//     "$x$" cannot become math on viewers that render it.
//   - At the start of a line (which for inline text means the start of the
//     text, as it may follow a list marker), '#', '+', '-', '=' and ':' (a
//     definition list in some dialects) are escaped, and so is the '.' or ')'
//     of an ordered-list start such as "12." or "12)".
//     A trailing '#' is escaped too, so a heading that ends with the text does
//     not lose it as a closing sequence.
//   - Leading and trailing spaces and tabs of every line are trimmed: leading
//     ones could start an indented code block, trailing ones a hard break.
//   - Invalid UTF-8 becomes U+FFFD. Control characters (other than the line
//     breaks of block text) and the Unicode line and paragraph separators
//     become a space. Bidi controls (U+202A-U+202E, U+2066-U+2069, U+200E,
//     U+200F, U+061C), zero-width and other invisible characters (U+200B-U+200D,
//     U+2060-U+2064, U+FEFF, U+180E, U+00AD) and Unicode tag characters are
//     removed: they could make text read differently from what it is.
//
// Bare URLs ("https://…") are left alone: viewers that auto-link them show
// the target itself as the link text, so nothing is disguised.

// EscapeInline neutralises untrusted text for use inside one line of
// markdown: in a heading, a field line or a list item. The result never holds
// a line break: CR, LF, tabs and other control characters become spaces. It
// is safe at the start of a line and right after a list marker. "" stays "".
func EscapeInline(s string) string {
	return escapeLine(sanitizeText(s, false))
}

// EscapeBlock neutralises untrusted multi-line text as a blockquote: line
// breaks (LF, CRLF or a lone CR) are kept, every line is escaped as by
// EscapeInline (except that tabs inside a line are kept) and prefixed with
// "> "; an empty line becomes ">". The result has no trailing newline. ""
// gives ">".
func EscapeBlock(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(sanitizeText(s, true), "\n")
	var b strings.Builder
	for i, line := range lines {
		if i > 0 {
			b.WriteByte('\n')
		}
		e := escapeLine(line)
		if e == "" {
			b.WriteByte('>')
			continue
		}
		b.WriteString("> ")
		b.WriteString(e)
	}
	return b.String()
}

// sanitizeText makes s valid UTF-8, turns control characters (ControlRune)
// into spaces (except '\n' and '\t' when keepLines is set) and drops
// invisible and bidi characters: the shared set, plus invisibleRune because
// the tracking file is read by people who must see what was written.
func sanitizeText(s string, keepLines bool) string {
	if plainASCII(s, keepLines) {
		return s // nothing to change: most text is like this
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case invisibleRune(r):
			// dropped
		case ControlRune(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// plainASCII reports whether s is printable ASCII (and '\n' and '\t' when
// keepLines is set): text sanitizeText leaves as it is.
func plainASCII(s string, keepLines bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f || keepLines && (c == '\n' || c == '\t') {
			continue
		}
		return false
	}
	return true
}

// escapeLine escapes one sanitized line (no '\n' in it).
func escapeLine(line string) string {
	line = strings.Trim(line, " \t")
	if line == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(line) + len(line)/4)

	// Line-start markers: headings, bullet lists, setext underlines and
	// thematic breaks made of '-', definition lists, ordered lists.
	rest := line
	switch line[0] {
	case '#', '+', '-', '=', ':':
		b.WriteByte('\\')
		b.WriteByte(line[0])
		rest = line[1:]
	default:
		n := 0
		for n < len(line) && line[n] >= '0' && line[n] <= '9' {
			n++
		}
		if n > 0 && n < len(line) && (line[n] == '.' || line[n] == ')') {
			b.WriteString(line[:n])
			b.WriteByte('\\')
			b.WriteByte(line[n])
			rest = line[n+1:]
		}
	}

	trailingHash := strings.HasSuffix(rest, "#")
	if trailingHash {
		rest = rest[:len(rest)-1]
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\\', '`', '*', '_', '[', ']', '|', '~':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '$':
			if i+1 < len(rest) && rest[i+1] >= '0' && rest[i+1] <= '9' {
				b.WriteByte(c)
			} else {
				b.WriteString(`\$`)
			}
		default:
			b.WriteByte(c) // multi-byte runes pass through byte by byte
		}
	}
	if trailingHash {
		b.WriteString(`\#`)
	}
	return b.String()
}

// linkTarget turns a relative path into a markdown link destination: each
// segment is percent-escaped, ':' and '&' included, so that no segment can
// read as a URL scheme or an entity, and '(' ')' ' ' '<' '>' cannot end the
// destination.
func linkTarget(rel string) string {
	segs := strings.Split(rel, "/")
	for i, s := range segs {
		s = url.PathEscape(s)
		s = strings.ReplaceAll(s, ":", "%3A")
		s = strings.ReplaceAll(s, "&", "%26")
		segs[i] = s
	}
	return strings.Join(segs, "/")
}
