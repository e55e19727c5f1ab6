package authres

import "strings"

// scanner walks a field value byte by byte. Comments are skipped with a
// depth counter, not recursion, so deep nesting costs no stack.
type scanner struct {
	s string
	i int
}

func (p *scanner) eof() bool { return p.i >= len(p.s) }

// peek is the next byte, or 0 at the end.
func (p *scanner) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

// fold reports the length of folding white space at p.i: a space or tab,
// or CRLF (or a bare LF) followed by a space or tab; 0 if there is none.
func (p *scanner) fold() int {
	switch c := p.peek(); {
	case c == ' ' || c == '\t':
		return 1
	case c == '\r' && strings.HasPrefix(p.s[p.i:], "\r\n") && p.i+2 < len(p.s) && isWSP(p.s[p.i+2]):
		return 3
	case c == '\n' && p.i+1 < len(p.s) && isWSP(p.s[p.i+1]):
		return 2
	}
	return 0
}

// cfws skips white space and comments (RFC 5322 CFWS). Comments nest and
// may hold quoted pairs; an unterminated one, or a control character, is an
// error.
func (p *scanner) cfws() error {
	for !p.eof() {
		if n := p.fold(); n > 0 {
			p.i += n
			continue
		}
		if p.peek() != '(' {
			return nil
		}
		if err := p.comment(); err != nil {
			return err
		}
	}
	return nil
}

// comment skips one comment starting at '('.
func (p *scanner) comment() error {
	start := p.i
	depth := 0
	for !p.eof() {
		if n := p.fold(); n > 0 {
			p.i += n
			continue
		}
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || isCtl(p.s[p.i+1]) && p.s[p.i+1] != '\t' {
				return p.fail("bad quoted pair in a comment")
			}
			p.i += 2
			continue
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		case isCtl(c):
			return p.fail("control character in a comment")
		}
		p.i++
	}
	p.i = start
	return p.fail("unterminated comment")
}

// quoted reads a quoted string starting at '"' and returns its content
// with the quoted pairs undone.
func (p *scanner) quoted() (string, error) {
	start := p.i
	p.i++
	var b strings.Builder
	for !p.eof() {
		if n := p.fold(); n > 0 {
			// Unfolding drops the line break and keeps the blank.
			p.i += n
			b.WriteByte(p.s[p.i-1])
			continue
		}
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c == '\\':
			if p.i+1 >= len(p.s) || isCtl(p.s[p.i+1]) && p.s[p.i+1] != '\t' {
				return "", p.fail("bad quoted pair in a quoted string")
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case isCtl(c):
			return "", p.fail("control character in a quoted string")
		}
		b.WriteByte(c)
		p.i++
	}
	p.i = start
	return "", p.fail("unterminated quoted string")
}

// authservID reads the authserv-id: an RFC 2045 token or a quoted string.
func (p *scanner) authservID() (string, error) {
	if p.peek() == '"' {
		id, err := p.quoted()
		if err == nil && id == "" {
			err = p.fail("empty authserv-id")
		}
		return id, err
	}
	start := p.i
	for !p.eof() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", p.fail("expected an authserv-id")
	}
	return p.s[start:p.i], nil
}

// keyword reads letters, digits, '-' and '_' (RFC 5321 ldh-str, plus the
// underscore some servers use); "" if there are none.
func (p *scanner) keyword() string {
	start := p.i
	for !p.eof() && isKeywordChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// digits reads a run of ASCII digits.
func (p *scanner) digits() string {
	start := p.i
	for !p.eof() && isDigit(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a property or reason value: a quoted string, optionally
// followed by "@domain" (a quoted local-part), or a run of visible bytes
// other than ( ) ; " and backslash. An empty value is an error.
func (p *scanner) value() (string, error) {
	if p.peek() == '"' {
		v, err := p.quoted()
		if err != nil {
			return "", err
		}
		if p.peek() == '@' {
			return v + p.run(), nil
		}
		return v, nil
	}
	v := p.run()
	if v == "" {
		if c := p.peek(); isCtl(c) && !p.eof() && p.fold() == 0 {
			return "", p.fail("control character in a value")
		}
		return "", p.fail("missing value")
	}
	return v, nil
}

// run reads visible bytes up to white space, a comment, ';', '"' or '\'.
func (p *scanner) run() string {
	start := p.i
	for !p.eof() {
		c := p.s[p.i]
		if c <= ' ' || c == 0x7f || c == '(' || c == ')' || c == ';' || c == '"' || c == '\\' {
			break
		}
		p.i++
	}
	return p.s[start:p.i]
}

func isWSP(c byte) bool   { return c == ' ' || c == '\t' }
func isCtl(c byte) bool   { return c < 0x20 || c == 0x7f }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isKeywordChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || c == '-' || c == '_'
}

// isTokenChar is RFC 2045 token: visible ASCII except tspecials.
func isTokenChar(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`()<>@,;:\"/[]?=`, rune(c))
}
