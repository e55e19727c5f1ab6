package workflow

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The fuzz targets below run their seed corpora (testdata/fuzz/<name>/ and
// the f.Add calls) as ordinary tests; run one for real with
//
//	go test -run '^$' -fuzz '^FuzzRoute$' -fuzztime 5m -parallel 1 ./workflow/

// FuzzRoute feeds hostile subjects and recipient addresses to the router:
// it never panics, every id it finds is positive, and the cleaned subject
// holds no escalation tag and no reply prefix.
func FuzzRoute(f *testing.F) {
	for _, s := range [][2]string{
		{"Re: [ESC-00042] Database down", "escalations+ESC-00042@example.com"},
		{"RE: Fwd: AW: [esc-7][ESC-8] two tags", "Escalations+esc-7@Example.com"},
		{"Ответ: Пересл: [ ESC-12 ] сервер", " escalations+ESC-12@example.com "},
		{"[[ESC-1]ESC-2] nested", "escalations+ESC-0@example.com"},
		{"Re[2]: Re(3): SV: \u00a0Re: x", "escalations+ESC-1234567890@example.com"},
		{"", "not an address"},
		{"[ESC-999999999] max", "escalations+ESC-999999999@example.com"},
	} {
		f.Add(s[0], s[1])
	}
	r := newRouter("ESC", "escalations@example.com")
	f.Fuzz(func(t *testing.T, subject, addr string) {
		for _, id := range r.tagIDs(subject) {
			if id <= 0 {
				t.Errorf("tagIDs(%q) gave id %d", subject, id)
			}
		}
		for _, id := range r.plusIDs([]string{addr, subject}) {
			if id <= 0 {
				t.Errorf("plusIDs(%q) gave id %d", addr, id)
			}
		}
		clean := r.cleanSubject(subject)
		if clean == "" {
			t.Errorf("cleanSubject(%q) is empty", subject)
		}
		if r.tag.MatchString(clean) {
			t.Errorf("cleanSubject(%q) = %q keeps a tag", subject, clean)
		}
		if replyPrefix.MatchString(clean) || strings.HasPrefix(strings.ToLower(clean), "re:") {
			t.Errorf("cleanSubject(%q) = %q keeps a reply prefix", subject, clean)
		}
		if strings.Join(strings.Fields(clean), " ") != clean {
			t.Errorf("cleanSubject(%q) = %q has uncollapsed blanks", subject, clean)
		}
	})
}

// FuzzParseCommands: no panic; every command name is lower-case without
// blanks or '/' ("" for "/ text", an unknown command); no command comes from a line at or after the first quote
// marker ('>') or "-- " signature delimiter.
func FuzzParseCommands(f *testing.F) {
	for _, s := range []string{
		"Taking it.\n/ack\nSam",
		"/ESCALATE   customer is furious  \r\n/level  tier 3\n/update-every 2h",
		"/assign\t@bob\n-- \n/close from the signature",
		"Looks bad.\n\nOn Mon, 3 Mar 2025 at 10:00, Bob <bob@example.com> wrote:\n> /close\n/resolve",
		"/\n//double\n/a/b c\n/x\u00a0y\n/ok\r> quoted\r/not",
		"-----Original Message-----\nFrom: x\n/close",
		"Иван написал(а):\n/close",
		"/ÄÖÜ İstanbul\n/STATUS\v\fx",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		cmds := ParseCommands(text)
		lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
		cut := len(lines)
		for i, l := range lines {
			if l == "-- " || strings.HasPrefix(strings.TrimSpace(l), ">") {
				cut = i
				break
			}
		}
		next := 0 // commands come from distinct lines above cut, in order
		for _, c := range cmds {
			if c.Name != strings.ToLower(c.Name) || strings.ContainsFunc(c.Name, unicode.IsSpace) || strings.Contains(c.Name, "/") {
				t.Errorf("ParseCommands(%q): bad name %q", text, c.Name)
			}
			for next < cut && strings.TrimSpace(lines[next]) != c.Line {
				next++
			}
			if next >= cut {
				t.Errorf("ParseCommands(%q): command %q is not from a line above the quote or signature", text, c.Line)
				break
			}
			next++
		}
	})
}

// unescaped matches a markdown-active character with an even number
// (possibly zero) of backslashes before it.
var unescaped = regexp.MustCompile("(?:^|[^\\\\])(?:\\\\\\\\)*[\\[\\]*_`]")

// FuzzEscape: EscapeInline gives one line with no '<', '>' and no unescaped
// '[', ']', '*', '_' or '`'; every line of EscapeBlock starts with '>' and
// holds the same guarantees after its "> " prefix.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{
		"Plain text",
		"# heading\n- item\n1. one\n12) two\n> quote",
		"[link](http://evil) ![img](x) **bold** _em_ `code` <script>&lt;",
		"\\[not a link\\] \\\\*x*",
		"line\r\nbreaks\rand\u2028separators\u2029\x00\x1b[31m",
		"\u202eevil\u200b \ufeff tags\U000E0041 $x$ $25 | a | ~~s~~",
		"trailing #\n   indented code\n\t\ttabs \n\n",
		"\xff\xfe invalid utf8 \xc3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		in := EscapeInline(s)
		if strings.ContainsAny(in, "\n\r<>") {
			t.Errorf("EscapeInline(%q) = %q holds a line break or angle bracket", s, in)
		}
		if unescaped.MatchString(in) {
			t.Errorf("EscapeInline(%q) = %q holds an unescaped markdown character", s, in)
		}
		block := EscapeBlock(s)
		if strings.Contains(block, "\r") {
			t.Errorf("EscapeBlock(%q) = %q holds a CR", s, block)
		}
		for _, l := range strings.Split(block, "\n") {
			if l != ">" && !strings.HasPrefix(l, "> ") {
				t.Errorf("EscapeBlock(%q): line %q does not start with \"> \"", s, l)
				continue
			}
			body := strings.TrimPrefix(strings.TrimPrefix(l, ">"), " ")
			if strings.ContainsAny(body, "<>") || unescaped.MatchString(body) {
				t.Errorf("EscapeBlock(%q): line %q is not escaped", s, l)
			}
		}
	})
}
