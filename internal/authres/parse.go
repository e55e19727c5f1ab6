// Package authres reads Authentication-Results header fields (RFC 8601) and
// decides what the one written by a trusted receiving server says about a
// message's From domain. It is pure: no I/O, no DNS.
//
// The parser works on the raw field value (unfolded, not RFC 2047-decoded):
// a ';' or "dkim=pass" inside a comment or a quoted string is text, never a
// result, and an encoded word is just a word.
package authres

import (
	"errors"
	"fmt"
	"strings"
)

// ErrSyntax is wrapped by every parse error.
var ErrSyntax = errors.New("syntax error")

// Field is one parsed Authentication-Results field value.
type Field struct {
	// AuthservID names the server that wrote the field, unquoted and as
	// written (compare it case-insensitively). It is "" for a field that
	// starts directly with a result, as Microsoft 365 writes them.
	AuthservID string
	Version    string   // authres-version digits; "" when absent
	Results    []Result // empty for "none"
}

// Result is one method's result: "dkim=pass header.d=example.com".
type Result struct {
	Method  string // lower case: "dkim", "spf", "dmarc", "arc", ...
	Version string // method-version digits; "" when absent
	Value   string // lower case: "pass", "fail", "none", ...
	Reason  string // the reason= value, unquoted; "" when absent
	Props   []Prop // in the order written
}

// Prop is one property of a result: ptype.property=value.
type Prop struct {
	// Type is the ptype in lower case ("header", "smtp", "policy", ...);
	// "" for a bare name=value such as Microsoft's "action=none".
	Type  string
	Name  string // lower case: "d", "i", "from", "mailfrom", ...
	Value string // unquoted; an addr-spec is kept whole ("user@example.com")
}

// Parse reads one Authentication-Results field value: the raw bytes after
// the colon, unfolded or not, without RFC 2047 decoding. Anything outside
// the grammar (an unterminated comment or quoted string, a result without
// '=', a property without a value, a control character) is an error
// wrapping ErrSyntax. Beyond RFC 8601 it accepts what real servers write:
// a field without authserv-id (Microsoft 365), empty results between or
// after ';', bare name=value properties, and property values that hold '/',
// '=', ':' or '@' unquoted (DKIM header.b, IPv6 addresses).
func Parse(value string) (Field, error) {
	f, _, err := parse(value)
	return f, err
}

// parse is Parse that also says whether the authserv-id was read (or found
// absent) before an error, so that a malformed field can still be told to
// belong to the trusted server.
func parse(value string) (f Field, idKnown bool, err error) {
	p := &scanner{s: value}
	if err := p.cfws(); err != nil {
		return f, false, err
	}
	start := p.i
	id, err := p.authservID()
	if err != nil {
		return f, false, err
	}
	if err := p.cfws(); err != nil {
		return f, false, err
	}
	if c := p.peek(); (c == '=' || c == '/') && !strings.HasPrefix(value[start:], `"`) {
		// No authserv-id: the word was the first method. A token never
		// holds '=' or '/', so this cannot be mistaken for an id.
		p.i = start
		f.Results, err = p.results(true)
		return f, true, err
	}
	f.AuthservID = id
	if isDigit(p.peek()) {
		f.Version = p.digits()
		if err := p.cfws(); err != nil {
			return f, true, err
		}
	}
	if p.eof() {
		return f, true, p.fail("no result after the authserv-id")
	}
	if p.peek() != ';' {
		return f, true, p.fail("expected ';' after the authserv-id")
	}
	f.Results, err = p.results(false)
	return f, true, err
}

// results reads the resinfo list up to the end of the value: ";" methodspec
// [reason] [props]. first says the first result has no ';' before it. A
// sole "none" gives no results.
func (p *scanner) results(first bool) ([]Result, error) {
	var out []Result
	sawNone := false
	for {
		if !first {
			if err := p.cfws(); err != nil {
				return out, err
			}
			if p.eof() {
				return out, nil
			}
			if p.peek() != ';' {
				return out, p.fail("expected ';' between results")
			}
			p.i++
		}
		first = false
		if err := p.cfws(); err != nil {
			return out, err
		}
		if p.eof() || p.peek() == ';' {
			continue // empty result, as in Microsoft's trailing ';'
		}
		if sawNone {
			return out, p.fail(`a result after "none"`)
		}
		kwAt := p.i
		method := p.keyword()
		if method == "" {
			return out, p.fail("expected a method name")
		}
		if err := p.cfws(); err != nil {
			return out, err
		}
		if strings.EqualFold(method, "none") && len(out) == 0 && (p.eof() || p.peek() == ';') {
			sawNone = true
			continue
		}
		p.i = kwAt
		r, err := p.result()
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

// result reads one methodspec with its reason and properties, stopping
// before the ';' or end that follows it.
func (p *scanner) result() (Result, error) {
	var r Result
	r.Method = strings.ToLower(p.keyword())
	if err := p.cfws(); err != nil {
		return r, err
	}
	if p.peek() == '/' {
		p.i++
		if err := p.cfws(); err != nil {
			return r, err
		}
		if r.Version = p.digits(); r.Version == "" {
			return r, p.fail("expected a method version after '/'")
		}
		if err := p.cfws(); err != nil {
			return r, err
		}
	}
	if p.peek() != '=' {
		return r, p.fail("expected '=' after method " + r.Method)
	}
	p.i++
	if err := p.cfws(); err != nil {
		return r, err
	}
	if r.Value = strings.ToLower(p.keyword()); r.Value == "" {
		return r, p.fail("expected a result for method " + r.Method)
	}
	for {
		if err := p.cfws(); err != nil {
			return r, err
		}
		if p.eof() || p.peek() == ';' {
			return r, nil
		}
		name := strings.ToLower(p.keyword())
		if name == "" {
			return r, p.fail("expected a property")
		}
		if err := p.cfws(); err != nil {
			return r, err
		}
		prop := Prop{Name: name}
		switch p.peek() {
		case '.':
			p.i++
			if err := p.cfws(); err != nil {
				return r, err
			}
			prop.Type = name
			if prop.Name = strings.ToLower(p.keyword()); prop.Name == "" {
				return r, p.fail("expected a property name after " + name + ".")
			}
			if err := p.cfws(); err != nil {
				return r, err
			}
			if p.peek() != '=' {
				return r, p.fail("expected '=' after " + name + "." + prop.Name)
			}
		case '=':
		default:
			return r, p.fail("expected '.' or '=' after " + name)
		}
		p.i++
		if err := p.cfws(); err != nil {
			return r, err
		}
		v, err := p.value()
		if err != nil {
			return r, err
		}
		if prop.Type == "" && prop.Name == "reason" && r.Reason == "" {
			r.Reason = v
			continue
		}
		prop.Value = v
		r.Props = append(r.Props, prop)
	}
}

// fail is a syntax error at the current offset.
func (p *scanner) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, p.i)
}
