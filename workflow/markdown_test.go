package workflow

import (
	"math/rand"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestEscapeInline(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"Database outage in eu-west", "Database outage in eu-west"},
		{"v1.2 e-mail 50% don't (yes)! ok? a.b a-b a=b a+b #42", "v1.2 e-mail 50% don't (yes)! ok? a.b a-b a=b a+b #42"},
		{"revenue impact $25,000 > $10,000", "revenue impact $25,000 &gt; $10,000"},
		{"# Heading", `\# Heading`},
		{"## injected ##", `\## injected #\#`},
		{"- [x] done", `\- \[x\] done`},
		{"+ item", `\+ item`},
		{"1. item", `1\. item`},
		{"12) item", `12\) item`},
		{"2026 was", "2026 was"},
		{": definition", `\: definition`},
		{"===", `\===`},
		{"---", `\---`},
		{"* * *", `\* \* \*`},
		{"[click](http://evil)", `\[click\](http://evil)`},
		{"![img](http://x/y.png)", `!\[img\](http://x/y.png)`},
		{"[ref]: http://evil", `\[ref\]: http://evil`},
		{"<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"},
		{"<http://evil>", "&lt;http://evil&gt;"},
		{"&lt;b&gt; &amp; &#60;", "&amp;lt;b&amp;gt; &amp;amp; &amp;#60;"},
		{"a\r\n## injected", "a  ## injected"},
		{"| a | b |", `\| a \| b \|`},
		{"`code`", "\\`code\\`"},
		{"```", "\\`\\`\\`"},
		{"**bold** __bold__ _em_", `\*\*bold\*\* \_\_bold\_\_ \_em\_`},
		{"~~gone~~", `\~\~gone\~\~`},
		{`C:\path\`, `C:\\path\\`},
		{"$x$ and $$y$$", `\$x\$ and \$\$y\$\$`},
		{"\u202eevil\u202c", "evil"},
		{"pay\u200bpal\u2066\u200d\ufeff", "paypal"},
		{"tag\U000E0041\U000E007F", "tag"},
		{"  \t indented \t ", "indented"},
		{"a\tb\x00c\x1bd\u0085e\u2028f", "a b c d e f"},
		{"bad \xff byte", "bad \uFFFD byte"},
		{"Привет, мир — ok", "Привет, мир — ok"},
	}
	for _, c := range cases {
		if got := EscapeInline(c.in); got != c.want {
			t.Errorf("EscapeInline(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestEscapeBlock(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ">"},
		{"hello", "> hello"},
		{"line\n> quote\n\n# h", "> line\n> &gt; quote\n>\n> \\# h"},
		{"a\r\nb\rc\n", "> a\n> b\n> c\n>"},
		{"    code block\n\tcode", "> code block\n> code"},
		{"para\n===\nx\n---", "> para\n> \\===\n> x\n> \\---"},
		{"1. one\n2) two\n- three\n+ four\n* five", "> 1\\. one\n> 2\\) two\n> \\- three\n> \\+ four\n> \\* five"},
		{"```\nfenced\n```", "> \\`\\`\\`\n> fenced\n> \\`\\`\\`"},
		{"<div>\n<!-- x -->", "> &lt;div&gt;\n> &lt;!-- x --&gt;"},
		{"a\tb  ", "> a\tb"},
		{"x\u2028y\u0085z", "> x y z"},
	}
	for _, c := range cases {
		if got := EscapeBlock(c.in); got != c.want {
			t.Errorf("EscapeBlock(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestLinkTarget(t *testing.T) {
	cases := []struct{ in, want string }{
		{"ESC-00042/report.pdf", "ESC-00042/report.pdf"},
		{"ESC-00042/report (1).pdf", "ESC-00042/report%20%281%29.pdf"},
		{"ESC-00042/a&b<c>[d]\\e\"f'g.txt", "ESC-00042/a%26b%3Cc%3E%5Bd%5D%5Ce%22f%27g.txt"},
		{"javascript:alert(1)", "javascript%3Aalert%281%29"},
		{"ESC-00042/отчёт.pdf", "ESC-00042/%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf"},
	}
	for _, c := range cases {
		if got := linkTarget(c.in); got != c.want {
			t.Errorf("linkTarget(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// randomText draws strings heavy in markdown punctuation, line breaks and
// awkward Unicode.
func randomText(rng *rand.Rand) string {
	pieces := []string{
		"#", "*", "_", "[", "]", "(", ")", "!", "<", ">", "&", "`", "|", "~", `\`, "-", "+", "=",
		".", ":", "$", "{", "}", "\"", "'", "/", "%", ";",
		"a", "b", "Z", "0", "1", "9", "12", "x", " ", " ", "  ", "\t", "\n", "\n", "\r", "\r\n",
		"é", "—", "ф", "😀", "\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\u2028", "\u0085",
		"\x00", "\x1b", "\x7f", "\xff", "&lt;", "&#60;", "http://", "1.", "1)",
	}
	n := rng.Intn(40)
	var b strings.Builder
	for range n {
		b.WriteString(pieces[rng.Intn(len(pieces))])
	}
	return b.String()
}

// wantPlain is what a viewer should show for s as one line: an independent
// statement of the sanitising rules.
func wantPlain(s string, keepTabs bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t' && keepTabs:
			return r
		case r == 0xAD || r == 0x61C || r == 0x180E || r == 0xFEFF,
			r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E,
			r >= 0x2060 && r <= 0x2064, r >= 0x2066 && r <= 0x2069,
			r >= 0xE0000 && r <= 0xE007F:
			return -1
		case unicode.IsControl(r), r == 0x2028, r == 0x2029:
			return ' '
		}
		return r
	}, s)
	return strings.Trim(s, " \t")
}

// unescapeMarkdown undoes backslash escapes and the three entities, as a
// viewer would; it fails on anything else that a viewer would treat as markup.
func unescapeMarkdown(t *testing.T, in, s string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 >= len(s) || !isASCIIPunct(s[i+1]) {
				t.Fatalf("input %q: stray backslash at %d in %q", in, i, s)
			}
			i++
			b.WriteByte(s[i])
		case c == '&':
			switch {
			case strings.HasPrefix(s[i:], "&amp;"):
				b.WriteByte('&')
				i += 4
			case strings.HasPrefix(s[i:], "&lt;"):
				b.WriteByte('<')
				i += 3
			case strings.HasPrefix(s[i:], "&gt;"):
				b.WriteByte('>')
				i += 3
			default:
				t.Fatalf("input %q: bare & at %d in %q", in, i, s)
			}
		case strings.IndexByte("`*_[]|~<>", c) >= 0:
			t.Fatalf("input %q: unescaped %q at %d in %q", in, c, i, s)
		case c == '$' && (i+1 >= len(s) || s[i+1] < '0' || s[i+1] > '9'):
			t.Fatalf("input %q: unescaped $ at %d in %q", in, i, s)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func isASCIIPunct(c byte) bool {
	return c < utf8.RuneSelf && unicode.IsPunct(rune(c)) || strings.IndexByte("$+<=>^`|~", c) >= 0
}

// checkLineStart fails when an escaped line could start a block construct.
func checkLineStart(t *testing.T, in, line string) {
	t.Helper()
	if line == "" {
		return
	}
	if strings.IndexByte("#+-=:*_>` \t~|[", line[0]) >= 0 {
		t.Fatalf("input %q: line starts with %q: %q", in, line[0], line)
	}
	n := 0
	for n < len(line) && line[n] >= '0' && line[n] <= '9' {
		n++
	}
	if n > 0 && n < len(line) && (line[n] == '.' || line[n] == ')') {
		t.Fatalf("input %q: line starts an ordered list: %q", in, line)
	}
	if strings.HasSuffix(line, " ") || strings.HasSuffix(line, "\t") {
		t.Fatalf("input %q: trailing white space: %q", in, line)
	}
}

func TestEscapeInlineRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for range 2000 {
		in := randomText(rng)
		out := EscapeInline(in)
		if strings.ContainsAny(out, "\n\r<>") {
			t.Fatalf("EscapeInline(%q) = %q: has a line break or angle bracket", in, out)
		}
		if !utf8.ValidString(out) {
			t.Fatalf("EscapeInline(%q) = %q: invalid UTF-8", in, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) || invisibleRune(r) || r == 0x2028 || r == 0x2029 {
				t.Fatalf("EscapeInline(%q) = %q: holds %U", in, out, r)
			}
		}
		checkLineStart(t, in, out)
		if got, want := unescapeMarkdown(t, in, out), wantPlain(in, false); got != want {
			t.Fatalf("EscapeInline(%q) = %q shows as %q, want %q", in, out, got, want)
		}
	}
}

func TestEscapeBlockRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for range 2000 {
		in := randomText(rng)
		out := EscapeBlock(in)
		norm := strings.ReplaceAll(strings.ReplaceAll(in, "\r\n", "\n"), "\r", "\n")
		inLines := strings.Split(norm, "\n")
		outLines := strings.Split(out, "\n")
		if len(inLines) != len(outLines) {
			t.Fatalf("EscapeBlock(%q) = %q: %d lines, want %d", in, out, len(outLines), len(inLines))
		}
		for i, line := range outLines {
			var content string
			switch {
			case line == ">":
			case strings.HasPrefix(line, "> ") && len(line) > 2:
				content = line[2:]
			default:
				t.Fatalf("EscapeBlock(%q): line %q is not quoted", in, line)
			}
			if strings.ContainsAny(content, "\r<>") {
				t.Fatalf("EscapeBlock(%q): line %q has CR or angle bracket", in, line)
			}
			checkLineStart(t, in, content)
			if got, want := unescapeMarkdown(t, in, content), wantPlain(inLines[i], true); got != want {
				t.Fatalf("EscapeBlock(%q) line %d = %q shows as %q, want %q", in, i, line, got, want)
			}
		}
	}
}
