package mailin

import (
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// htmlMaxToken bounds the bytes the tokenizer holds for one token (a tag with
// a big inline data: image, a huge text run). Past it the conversion stops.
const htmlMaxToken = 8 << 20

// htmlToText turns the HTML read from r into readable text, streaming it
// through the golang.org/x/net/html tokenizer: block elements (p, div, br,
// li, tr, h1-h6, …) become line breaks, list items get "- ", script, style
// and head are dropped, entities are decoded, a link keeps its text and gets
// " (url)" after it when the URL differs from that text, whitespace is
// collapsed and there is at most one blank line in a row.
//
// It keeps at most limit bytes of text; cut tells that there was more. err is
// an error reading r, or html.ErrBufferExceeded for a token over
// htmlMaxToken; the text up to it is still returned.
func htmlToText(r io.Reader, limit int) (text string, cut bool, err error) {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(max(htmlMaxToken, 2*limit))
	w := &textWriter{limit: limit}
	var (
		skip   string // element whose content is dropped up to its end tag
		inHead bool
		lists  int // depth of open ul/ol
	)
	for !w.cut {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if e := z.Err(); e != io.EOF {
				err = e
			}
			w.closeLink()
			return tidyText(strings.Trim(w.b.String(), "\n"), true), w.cut, err

		case html.TextToken:
			if skip != "" {
				continue
			}
			t := string(z.Text())
			if inHead {
				if strings.TrimSpace(t) == "" {
					continue
				}
				inHead = false // text ends an unclosed head, as in a browser
			}
			w.text(t)

		case html.StartTagToken, html.SelfClosingTagToken:
			if skip != "" {
				continue
			}
			name, _ := z.TagName()
			tag := string(name)
			if inHead && !headTags[tag] {
				inHead = false
			}
			switch {
			case tag == "head":
				inHead = tt == html.StartTagToken
			case tag == "body":
				inHead = false
			case dropTags[tag]:
				if tt == html.StartTagToken {
					skip = tag
				}
			case inHead:
			case tag == "br":
				w.lineBreak()
			case tag == "li":
				w.breakLines(1)
				w.marker(strings.Repeat("  ", max(lists-1, 0)) + "- ")
			case tag == "ul" || tag == "ol":
				lists++
				w.breakLines(1)
			case tag == "pre":
				w.pre++
				w.breakLines(2)
			case paragraphTags[tag]:
				w.breakLines(2)
			case lineTags[tag]:
				w.breakLines(1)
			case tag == "td" || tag == "th":
				w.space = true
			case tag == "a":
				w.closeLink()
				w.openLink(tagAttr(z, "href"))
			case tag == "img":
				if w.inLink {
					w.text(tagAttr(z, "alt"))
				}
			}

		case html.EndTagToken:
			name, _ := z.TagName()
			tag := string(name)
			if skip != "" {
				if tag == skip {
					skip = ""
				}
				continue
			}
			switch {
			case tag == "head":
				inHead = false
			case tag == "ul" || tag == "ol":
				lists = max(lists-1, 0)
				w.breakLines(1)
			case tag == "pre":
				w.pre = max(w.pre-1, 0)
				w.breakLines(2)
			case paragraphTags[tag]:
				w.breakLines(2)
			case lineTags[tag] || tag == "li":
				w.breakLines(1)
			case tag == "a":
				w.closeLink()
			}
		}
	}
	return tidyText(strings.Trim(w.b.String(), "\n"), true), true, nil
}

var (
	// dropTags have content that is no text to read.
	dropTags = tagSet("script", "style", "title", "template", "object", "svg")
	// headTags may stand in a head without ending it.
	headTags = tagSet("title", "meta", "link", "style", "script", "base", "noscript", "template")
	// paragraphTags stand apart by a blank line.
	paragraphTags = tagSet("p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "table", "hr",
		"dl", "figure", "address", "fieldset", "form")
	// lineTags start and end a line.
	lineTags = tagSet("div", "tr", "dt", "dd", "section", "article", "header", "footer", "nav",
		"aside", "main", "center", "caption", "thead", "tbody", "tfoot", "figcaption", "details",
		"summary")
)

func tagSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// tagAttr returns the value of the current tag's attribute key, entities
// decoded.
func tagAttr(z *html.Tokenizer, key string) string {
	for {
		k, v, more := z.TagAttr()
		if string(k) == key {
			return string(v)
		}
		if !more {
			return ""
		}
	}
}

// textWriter builds the text: words with single spaces between them, pending
// line breaks written only before the next word (so none lead or trail and
// there are never more than two in a row), capped at limit bytes.
type textWriter struct {
	b       strings.Builder
	limit   int
	cut     bool
	breaks  int  // line breaks owed before the next text
	space   bool // a space is owed before the next word
	pre     int  // depth of open pre elements: whitespace kept
	inLink  bool
	href    string
	linkPos int // where the link's text starts in b
}

// breakLines asks for n line breaks (1: a new line, 2: a blank line) before
// the next text.
func (w *textWriter) breakLines(n int) {
	if w.b.Len() == 0 {
		return
	}
	w.breaks = max(w.breaks, n)
	w.space = false
}

// lineBreak is a br: each one adds a line break, up to a blank line.
func (w *textWriter) lineBreak() {
	if w.b.Len() == 0 {
		return
	}
	w.breaks = min(w.breaks+1, 2)
	w.space = false
}

// flush writes the owed line breaks or space.
func (w *textWriter) flush() {
	if w.breaks > 0 {
		w.write(strings.Repeat("\n", w.breaks))
		w.breaks, w.space = 0, false
		return
	}
	if w.space {
		w.space = false
		if s := w.b.String(); s != "" && s[len(s)-1] != ' ' && s[len(s)-1] != '\n' {
			w.write(" ")
		}
	}
}

// text writes character data, whitespace collapsed unless inside pre. It
// stops at the cap: t may be a text run of megabytes (up to htmlMaxToken),
// which is walked word by word, never split whole.
func (w *textWriter) text(t string) {
	if w.pre > 0 {
		i := 0
		for line := range strings.SplitSeq(t, "\n") {
			if w.cut {
				return
			}
			if i++; i > 1 {
				w.breaks++
			}
			if line != "" {
				w.flush()
				w.write(line)
			}
		}
		return
	}
	isSpace := unicode.IsSpace
	n := 0
	for word := range strings.FieldsFuncSeq(t, isSpace) {
		if w.cut {
			return
		}
		if n++; n > 1 {
			w.space = true
		} else if first, _ := utf8.DecodeRuneInString(t); isSpace(first) {
			w.space = true
		}
		w.flush()
		w.write(word)
	}
	if n == 0 {
		if t != "" {
			w.space = true
		}
		return
	}
	if last, _ := utf8.DecodeLastRuneInString(t); isSpace(last) {
		w.space = true
	}
}

// marker writes a list marker at the start of a line.
func (w *textWriter) marker(m string) {
	w.flush()
	w.write(m)
	w.space = false
}

// write appends s, cutting at the limit.
func (w *textWriter) write(s string) {
	if w.cut {
		return
	}
	if room := w.limit - w.b.Len(); len(s) > room {
		s, w.cut = cutUTF8(s, room), true
	}
	w.b.WriteString(s)
}

func (w *textWriter) openLink(href string) {
	w.inLink, w.href, w.linkPos = true, href, w.b.Len()
}

// closeLink adds the URL after the link text where it tells something more.
func (w *textWriter) closeLink() {
	if !w.inLink {
		return
	}
	w.inLink = false
	href := strings.TrimSpace(w.href)
	lower := strings.ToLower(href)
	for _, p := range []string{"#", "javascript:", "cid:", "data:", "vbscript:"} {
		if strings.HasPrefix(lower, p) {
			return
		}
	}
	if href == "" {
		return
	}
	text := strings.TrimSpace(w.b.String()[min(w.linkPos, w.b.Len()):])
	switch {
	case text == "":
		w.text(href)
	case !sameLink(text, href):
		w.write(" (" + href + ")")
	}
}

// sameLink reports whether a link's text already shows its URL.
func sameLink(text, href string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		for _, p := range []string{"mailto:", "tel:", "https://", "http://", "www."} {
			s = strings.TrimPrefix(s, p)
		}
		return strings.TrimSuffix(s, "/")
	}
	return norm(text) == norm(href)
}
