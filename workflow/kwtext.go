package workflow

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// The text the classification rules read: the opening message folded and
// split into words and clauses.

// maxClassifyBytes bounds how much of subject and body the rules read. A
// trigger past the first 256 KiB of an opening message is not plausible, and
// the bound keeps a huge message cheap to classify.
const maxClassifyBytes = 256 << 10

// kwToken is one word of the text.
type kwToken struct {
	norm       string // lower-cased, NFC, "ё" read as "е"
	start, end int    // byte offsets in kwText.src
	clause     int    // tokens of one clause share it
}

// kwText is the text the rules read.
type kwText struct {
	src  string    // subject, blank line, body without quoted lines (NFC, original case)
	toks []kwToken // words of src
	low  string    // src folded (see foldWord), whitespace runs as one space
}

func newKwText(subject, body string) *kwText {
	var b strings.Builder
	b.WriteString(subject)
	b.WriteString("\n\n")
	for line := range strings.Lines(body) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), ">") {
			continue // quoted reply text
		}
		b.WriteString(line)
	}
	src := b.String()
	if len(src) > maxClassifyBytes {
		src = strings.ToValidUTF8(src[:maxClassifyBytes], "")
	}
	src = norm.NFC.String(src)
	return &kwText{src: src, toks: tokenizeKw(src), low: strings.Join(strings.Fields(foldWord(src)), " ")}
}

// foldWord lower-cases s and reads "ё" as "е".
func foldWord(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "ё", "е")
}

func isKwRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// tokenizeKw splits s into words: runs of letters, digits and combining
// marks. Everything else separates words; ",", ";", "!", "?", "…", a "."
// before a space or the end, and a blank line also end the clause. A comma
// between digits ("25,000") does not.
func tokenizeKw(s string) []kwToken {
	var toks []kwToken
	clause, start, newlines := 0, -1, 0
	prev := rune(0)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isKwRune(r) {
			if start < 0 {
				start = i
			}
			newlines = 0
			prev = r
			i += size
			continue
		}
		if start >= 0 {
			toks = append(toks, kwToken{norm: foldWord(s[start:i]), start: start, end: i, clause: clause})
			start = -1
		}
		next, _ := utf8.DecodeRuneInString(s[i+size:])
		switch {
		case r == '\n':
			if newlines++; newlines == 2 {
				clause++
			}
		case unicode.IsSpace(r):
		default:
			newlines = 0
			switch r {
			case ';', '!', '?', '…':
				clause++
			case ',':
				if !unicode.IsDigit(prev) || !unicode.IsDigit(next) {
					clause++
				}
			case '.':
				if i+size == len(s) || unicode.IsSpace(next) {
					clause++
				}
			}
		}
		prev = r
		i += size
	}
	if start >= 0 {
		toks = append(toks, kwToken{norm: foldWord(s[start:]), start: start, end: len(s), clause: clause})
	}
	return toks
}

// quote returns the clause of the words from..to-1: whole when it has at
// most 12 words, else the words with up to four more on each side and "…"
// where it was cut. Whitespace is collapsed; at most 100 runes.
func (t *kwText) quote(from, to int) string {
	const whole, ctx = 12, 4
	c := t.toks[from].clause
	cs, ce := from, to // the clause
	for cs > 0 && t.toks[cs-1].clause == c {
		cs--
	}
	for ce < len(t.toks) && t.toks[ce].clause == c {
		ce++
	}
	a, b := cs, ce
	if ce-cs > whole {
		a, b = max(cs, from-ctx), min(ce, to+ctx)
	}
	q := strings.Join(strings.Fields(t.src[t.toks[a].start:t.toks[b-1].end]), " ")
	if a > cs {
		q = "…" + q
	}
	if b < ce {
		q += "…"
	}
	if r := []rune(q); len(r) > 100 {
		q = string(r[:99]) + "…"
	}
	return q
}

// markedWindows returns the parts of text around each marker, from before
// bytes ahead of it to after bytes past it, overlapping parts merged and cut
// on rune boundaries. The CSAT and amount expressions run on these only: a
// plain scan of a long message with them is slow, and none can match away
// from its marker.
func markedWindows(text string, markers []string, before, after int) []string {
	type span struct{ from, to int }
	var spans []span
	for _, m := range markers {
		for off := 0; ; {
			i := strings.Index(text[off:], m)
			if i < 0 {
				break
			}
			i += off
			spans = append(spans, span{max(0, i-before), min(len(text), i+len(m)+after)})
			off = i + len(m)
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var out []string
	for k := 0; k < len(spans); {
		cur := spans[k]
		for k++; k < len(spans) && spans[k].from <= cur.to; k++ {
			cur.to = max(cur.to, spans[k].to)
		}
		for cur.from > 0 && !utf8.RuneStart(text[cur.from]) {
			cur.from--
		}
		for cur.to < len(text) && !utf8.RuneStart(text[cur.to]) {
			cur.to++
		}
		out = append(out, text[cur.from:cur.to])
	}
	return out
}
