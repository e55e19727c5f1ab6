package authres

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParse checks, for any field value: no panic; Parse and Evaluate give
// the same answer twice; a parsed field written out canonically parses
// back to the same Field; and the value, put inside a comment or a quoted
// string of another field, adds no result there.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		gmailOracle, gmailFB, gmailPexFail, m365Docs, m365AMD, m365AMDArc,
		openDKIMOzlabs, spfMilterOzlabs, openDKIMFail, openDKIMFreedesktop,
		rspamdBroadcom, rspamdNvidia, rspamdDMARCFail,
		openDMARCOsmocom[0], openDMARCOsmocom[1],
		"example.com 1; none",
		`"mx.example.com" ; dkim (a) / (b) 1 (c) = (d) pass header.d="a\"b"@c.test`,
		"mx.example.com; spf=pass (x; dkim=pass header.d=example.com) smtp.mailfrom=evil.test",
		"mx.example.com; dkim=fail (=?us-ascii?Q?=29=3B_dkim=3Dpass_header.d=3Dexample.com_=28?=)",
		"mx.example.com(c\\)); dkim=pass reason=x reason=y action=none",
		"spf=pass smtp.mailfrom=contoso.com;;dmarc=pass action=none header.from=contoso.com;",
		"mx; dkim=pass (((((((((())))))))))) header.d=a.test",
		"mx; dkim=pass header.d=a.test\r\n\theader.s=x",
	} {
		f.Add(s, "example.com")
	}
	f.Fuzz(func(t *testing.T, value, from string) {
		got, err := Parse(value)
		again, err2 := Parse(value)
		if !reflect.DeepEqual(got, again) || (err == nil) != (err2 == nil) {
			t.Fatalf("Parse(%q) is not deterministic", value)
		}
		fields := []string{value, "mx.example.com; dkim=pass header.d=example.com"}
		for _, id := range []string{"mx.example.com", got.AuthservID + "x"} {
			if v1, v2 := Evaluate(fields, id, from), Evaluate(fields, id, from); v1 != v2 {
				t.Fatalf("Evaluate(%q) is not deterministic: %+v, %+v", fields, v1, v2)
			}
			if v := Evaluate(fields, id, from); strings.ContainsAny(v.Reason, "\r\n") {
				t.Fatalf("Reason %q is not one line", v.Reason)
			}
		}
		if err != nil {
			return
		}

		canon := format(got)
		back, err := Parse(canon)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, but its canonical form %q does not parse: %v", value, got, canon, err)
		}
		if !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip of %q through %q:\n got  %+v\n want %+v", value, canon, back, got)
		}

		if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return // a control character cannot be put in a comment
		}
		inComment := "mx.example.com; a=b (" + escape(value, "()\\") + ") c.d=e"
		inQuote := `mx.example.com; a=b c.d="` + escape(value, `"\`) + `"`
		for _, s := range []string{inComment, inQuote} {
			g, err := Parse(s)
			if err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			if len(g.Results) != 1 || g.Results[0].Method != "a" || len(g.Results[0].Props) != 1 {
				t.Fatalf("Parse(%q) = %+v: text inside a comment or quoted string became a result", s, g)
			}
		}
	})
}

// format writes f in a canonical form: every value quoted.
func format(f Field) string {
	var b strings.Builder
	if f.AuthservID != "" {
		if strings.IndexFunc(f.AuthservID, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) < 0 {
			b.WriteString(f.AuthservID)
		} else {
			b.WriteString(`"` + escape(f.AuthservID, `"\`) + `"`)
		}
		if f.Version != "" {
			b.WriteString(" " + f.Version)
		}
		if len(f.Results) == 0 {
			b.WriteString("; none")
		}
	}
	for i, r := range f.Results {
		if i > 0 || f.AuthservID != "" {
			b.WriteString("; ")
		}
		b.WriteString(r.Method)
		if r.Version != "" {
			b.WriteString("/" + r.Version)
		}
		b.WriteString("=" + r.Value)
		if r.Reason != "" {
			b.WriteString(` reason="` + escape(r.Reason, `"\`) + `"`)
		}
		for _, p := range r.Props {
			b.WriteByte(' ')
			if p.Type != "" {
				b.WriteString(p.Type + ".")
			}
			b.WriteString(p.Name + `="` + escape(p.Value, `"\`) + `"`)
		}
	}
	return b.String()
}

// escape puts a backslash before each byte of s that is in special.
func escape(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
