package mailin

import (
	"bytes"
	"io"
	"mime"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/text/encoding/charmap"

	"github.com/escalationd/escalationd/workflow"
)

// headers fills the Inbound fields that come from the top-level header. It
// runs after the body walk, so raw 8-bit header text can be read in the
// charset of the body.
func (p *parser) headers(h message.Header) {
	in := p.in
	in.Header = make(map[string][]string, h.Len())
	fs := h.Fields()
	for fs.Next() {
		k := textproto.CanonicalMIMEHeaderKey(fs.Key())
		if k == "Authentication-Results" {
			// The trust boundary parses these itself (RFC 8601): decoding
			// would turn an encoded word in a comment into a result (§11).
			in.AuthResults = append(in.AuthResults, fs.Value())
			in.Header[k] = append(in.Header[k], workflow.OneLine(fs.Value()))
			continue
		}
		in.Header[k] = append(in.Header[k], workflow.OneLine(p.decodeText("", fs.Value())))
	}

	in.Subject = oneLine(p.decodeText("Subject", h.Get("Subject")))
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		in.MessageID = ids[0]
	}
	in.InReplyTo = msgIDs(strings.Join(h.Values("In-Reply-To"), " "))
	in.References = msgIDs(strings.Join(h.Values("References"), " "))

	if from := p.addresses(h, "From"); len(from) > 0 {
		in.From = from[0]
	} else if v := h.Get("From"); strings.TrimSpace(v) != "" {
		p.note("no address found in From %q", oneLine(v))
	}
	in.To = p.addresses(h, "To")
	in.Cc = p.addresses(h, "Cc")
	in.ReplyTo = p.addresses(h, "Reply-To")
	in.DeliveredTo = deliveredTo(h)

	if d, err := (&gomail.Header{Header: h}).Date(); err == nil {
		in.Date = d
	} else {
		p.note("unreadable Date %q: left empty", oneLine(h.Get("Date")))
	}
}

// decodeText decodes the RFC 2047 encoded words of a header value. Raw 8-bit
// text is first read in the body's charset (or windows-1252); an encoded word
// in an unknown charset is kept as received. Both are noted under field,
// unless field is "".
func (p *parser) decodeText(field, s string) string {
	s = p.fix8bit(field, s)
	if !strings.Contains(s, "=?") {
		return s
	}
	d := mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
		if cr, err := charset.Reader(cs, r); err == nil {
			return cr, nil
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		text, _ := asReceived(b)
		if field != "" {
			p.note("unknown charset %q in %s: shown as received", strings.ToLower(cs), field)
		}
		return strings.NewReader(text), nil
	}}
	out, err := d.DecodeHeader(s)
	if err != nil {
		return s
	}
	return strings.ToValidUTF8(out, "\uFFFD")
}

// fix8bit turns header text that is not UTF-8 (raw 8-bit bytes, against RFC
// 5322) into UTF-8: in the charset of the first labelled text part, as mail
// readers do, else as windows-1252.
func (p *parser) fix8bit(field, s string) string {
	if utf8.ValidString(s) {
		return s
	}
	if cs := p.hdrCharset; cs != "" {
		if r, err := charset.Reader(cs, strings.NewReader(s)); err == nil {
			if b, err := io.ReadAll(r); err == nil {
				if field != "" {
					p.note("8-bit text in %s without RFC 2047 encoding: read as %q", field, cs)
				}
				return strings.ToValidUTF8(string(b), "\uFFFD")
			}
		}
	}
	if field != "" {
		p.note("8-bit text in %s without RFC 2047 encoding: read as \"windows-1252\"", field)
	}
	b, _ := charmap.Windows1252.NewDecoder().String(s)
	return b
}

// addresses parses every key field of h as an address list: with go-message
// (net/mail) first, leniently where that fails, so a broken list does not
// lose the message.
func (p *parser) addresses(h message.Header, key string) []workflow.Address {
	var out []workflow.Address
	for _, raw := range h.Values(key) {
		v := p.fix8bit(key, raw)
		list, err := gomail.ParseAddressList(v)
		if err != nil && strings.ContainsRune(v, '(') {
			// Comments (RFC 5322 CFWS) where net/mail does not take them,
			// as in "pete(his account)@silly.test(his host)".
			v = stripComments(v)
			list, err = gomail.ParseAddressList(v)
		}
		if err != nil {
			out = append(out, p.lenientAddresses(key, v)...)
			continue
		}
		for _, a := range list {
			out = append(out, workflow.Address{Name: oneLine(a.Name), Email: strings.TrimSpace(a.Address)})
		}
	}
	return out
}

// lenientAddresses reads an address list net/mail rejects: pieces split at
// commas outside quotes, <>, and comments; the address is what is inside <>,
// else the word with an @.
func (p *parser) lenientAddresses(key, v string) []workflow.Address {
	var out []workflow.Address
	for _, piece := range splitOutside(v, ',') {
		piece = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(piece), ";"))
		// Group syntax: "team: a@x, b@y;".
		if i := indexOutside(piece, ':'); i >= 0 && !strings.Contains(piece[:i], "@") && !strings.Contains(piece[:i], "<") {
			piece = strings.TrimSpace(piece[i+1:])
		}
		var name, email string
		if i := strings.LastIndexByte(piece, '<'); i >= 0 {
			email = piece[i+1:]
			if j := strings.IndexByte(email, '>'); j >= 0 {
				email = email[:j]
			}
			name = piece[:i]
		} else {
			words := strings.Fields(piece)
			for i, w := range words {
				if strings.Contains(w, "@") {
					email = w
					name = strings.Join(append(words[:i:i], words[i+1:]...), " ")
					break
				}
			}
			if email == "" {
				continue
			}
		}
		email = strings.Trim(strings.TrimSpace(email), "<>\"'")
		name = strings.TrimSpace(name)
		if strings.HasPrefix(name, "(") && strings.HasSuffix(name, ")") {
			name = name[1 : len(name)-1]
		}
		name = unquote(name)
		name = oneLine(p.decodeText(key, name))
		if email == "" && name == "" {
			continue
		}
		out = append(out, workflow.Address{Name: name, Email: email})
	}
	return out
}

// deliveredTo collects the Delivered-To and X-Original-To addresses, each
// once.
func deliveredTo(h message.Header) []string {
	var out []string
	seen := map[string]bool{}
	for _, key := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range h.Values(key) {
			addr := ""
			if a, err := gomail.ParseAddress(v); err == nil {
				addr = a.Address
			} else {
				for _, w := range strings.Fields(v) {
					if w = strings.Trim(w, "<>\"',;"); strings.Contains(w, "@") {
						addr = w
						break
					}
				}
			}
			if addr != "" && !seen[strings.ToLower(addr)] {
				seen[strings.ToLower(addr)] = true
				out = append(out, addr)
			}
		}
	}
	return out
}

// msgIDs reads the message ids of a Message-ID, In-Reply-To or References
// value, without angle brackets, in order and each once. Words, quoted strings
// and comments between the ids are skipped. A value with no <> at all is read
// as bare ids: the words with an @ (or, for a single word, that word).
func msgIDs(v string) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.Join(strings.Fields(id), "") // a folded id
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			i = skipQuoted(v, i)
		case '(':
			i = skipComment(v, i)
		case '<':
			j := strings.IndexAny(v[i+1:], "<>")
			switch {
			case j < 0: // unterminated: take the rest
				add(v[i+1:])
				i = len(v)
			case v[i+1+j] == '<': // "<a <b>": a new id starts
				add(v[i+1 : i+1+j])
				i += j + 1
			default:
				add(v[i+1 : i+1+j])
				i += j + 2
			}
		default:
			i++
		}
	}
	if len(ids) == 0 && !strings.ContainsAny(v, "<>") {
		words := strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' })
		for _, w := range words {
			if strings.Contains(w, "@") || len(words) == 1 {
				add(w)
			}
		}
	}
	return ids
}

// skipQuoted returns the index after the quoted string starting at v[i].
func skipQuoted(v string, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(v)
}

// skipComment returns the index after the (nested) comment starting at v[i].
func skipComment(v string, i int) int {
	depth := 0
	for ; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(v)
}

// splitOutside splits v at sep where sep is not inside a quoted string, a
// comment or <>.
func splitOutside(v string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			i = skipQuoted(v, i)
			continue
		case '(':
			i = skipComment(v, i)
			continue
		case '<':
			if j := strings.IndexByte(v[i:], '>'); j > 0 {
				i += j + 1
				continue
			}
		case sep:
			out = append(out, v[start:i])
			start = i + 1
		}
		i++
	}
	return append(out, v[start:])
}

// indexOutside is the index of the first c in v outside quoted strings, or -1.
func indexOutside(v string, c byte) int {
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			i = skipQuoted(v, i)
			continue
		case c:
			return i
		}
		i++
	}
	return -1
}

// unquote removes the quotes around a quoted string and its backslash escapes.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mediaType parses a Content-Type or Content-Disposition value: the type in
// lower case and the parameters, "filename" and "name" decoded (RFC 2231 in
// any charset, RFC 2047, raw 8-bit). It never fails: what mime.ParseMediaType
// rejects is read leniently.
func (p *parser) mediaType(field, raw string) (string, map[string]string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(raw)
	if err != nil || strings.Contains(raw, "*") {
		// The standard library drops RFC 2231 values in charsets other than
		// UTF-8 and everything after a bad parameter.
		lmt, lparams, extended := p.lenientMediaType(field, raw)
		if mt == "" {
			mt = lmt
		}
		if params == nil {
			params = map[string]string{}
		}
		for k, v := range lparams {
			if _, ok := params[k]; !ok || extended[k] {
				params[k] = v
			}
		}
	}
	for _, k := range []string{"filename", "name"} {
		if v, ok := params[k]; ok {
			noteAs := ""
			if field != "" {
				noteAs = field + " " + k
			}
			params[k] = p.decodeText(noteAs, v)
		}
	}
	return strings.ToLower(mt), params
}

// lenientMediaType splits a media type value by hand: "type; k=v; k*=cs'l'v;
// k*0*=…; k*1=…". Values may be unquoted and hold spaces. extended names the
// parameters given in RFC 2231 form.
func (p *parser) lenientMediaType(field, raw string) (mt string, params map[string]string, extended map[string]bool) {
	parts := splitOutside(raw, ';')
	mt = strings.ToLower(strings.TrimSpace(parts[0]))
	params = map[string]string{}
	extended = map[string]bool{}
	type piece struct {
		val string
		ext bool
	}
	cont := map[string]map[int]piece{}
	for _, part := range parts[1:] {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = unquote(strings.TrimSpace(v))
		base, rest, star := strings.Cut(k, "*")
		switch {
		case !star:
			if _, ok := params[k]; !ok {
				params[k] = v
			}
		case rest == "": // k*=charset'lang'value
			if s, ok := p.decode2231(field, v); ok {
				params[base] = s
				extended[base] = true
			}
		default: // k*N= or k*N*=
			ext := strings.HasSuffix(rest, "*")
			n, err := strconv.Atoi(strings.TrimSuffix(rest, "*"))
			if err != nil || n < 0 || n > 100 {
				continue
			}
			if cont[base] == nil {
				cont[base] = map[int]piece{}
			}
			cont[base][n] = piece{v, ext}
		}
	}
	for base, pieces := range cont {
		idx := make([]int, 0, len(pieces))
		for n := range pieces {
			idx = append(idx, n)
		}
		sort.Ints(idx)
		var cs string
		var b []byte
		for i, n := range idx {
			pc := pieces[n]
			v := pc.val
			if pc.ext && i == 0 {
				if c, rest, ok := strings.Cut(v, "'"); ok {
					if _, val, ok := strings.Cut(rest, "'"); ok {
						cs, v = c, val
					}
				}
			}
			if pc.ext {
				b = append(b, percentDecode(v)...)
			} else {
				b = append(b, v...)
			}
		}
		params[base] = p.inCharset(field, cs, b)
		extended[base] = true
	}
	return mt, params, extended
}

// decode2231 decodes an RFC 2231 extended value charset'lang'%xx…
func (p *parser) decode2231(field, v string) (string, bool) {
	cs, rest, ok := strings.Cut(v, "'")
	if !ok {
		return "", false
	}
	_, val, ok := strings.Cut(rest, "'")
	if !ok {
		return "", false
	}
	return p.inCharset(field, cs, percentDecode(val)), true
}

// inCharset converts b from charset cs to UTF-8; an unknown or empty charset
// keeps the bytes as received.
func (p *parser) inCharset(field, cs string, b []byte) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if cs != "" && cs != "utf-8" && cs != "us-ascii" {
		if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
			if out, err := io.ReadAll(r); err == nil {
				return string(out)
			}
		}
		p.note("unknown charset %q in %s: shown as received", cs, field)
	}
	s, _ := asReceived(b)
	return s
}

// percentDecode decodes %XX escapes; a bad escape is kept as it is.
func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+3], 16, 8); err == nil {
				b = append(b, byte(n))
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return b
}

// oneLine is workflow.OneLine with runs of spaces collapsed and the ends
// trimmed: for subjects and display names.
func oneLine(s string) string {
	s = workflow.OneLine(s)
	var b strings.Builder
	space := false
	for _, r := range s {
		if r == ' ' {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// stripComments removes RFC 5322 comments (parenthesised, nested, with
// quoted-pairs) from an address header value, outside quoted strings.
func stripComments(v string) string {
	var b strings.Builder
	depth, quoted := 0, false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && i+1 < len(v) && (quoted || depth > 0):
			if depth == 0 {
				b.WriteByte(c)
				b.WriteByte(v[i+1])
			}
			i++
		case quoted:
			b.WriteByte(c)
			if c == '"' {
				quoted = false
			}
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
