package authres

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
		want  Field
	}{
		{"none", "example.com 1; none", Field{AuthservID: "example.com", Version: "1"}},
		{"none with comments", "example.com (c) ; (c) none (c)", Field{AuthservID: "example.com"}},
		{"folded", "example.com;\r\n\t spf=pass smtp.mailfrom=example.net", Field{AuthservID: "example.com", Results: []Result{
			{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "example.net"}}},
		}}},
		{"quoted authserv-id", `"mx.example.com" ; dkim=pass`, Field{AuthservID: "mx.example.com", Results: []Result{{Method: "dkim", Value: "pass"}}}},
		{"comment glued to the id", "mx.example.com(postfix); dkim=pass", Field{AuthservID: "mx.example.com", Results: []Result{{Method: "dkim", Value: "pass"}}}},
		{"method version and CFWS everywhere", "mx ; dkim (a) / (b) 1 (c) = (d) PASS (e) header (f) . (g) D (h) = (i) Example.COM (j)", Field{AuthservID: "mx", Results: []Result{
			{Method: "dkim", Version: "1", Value: "pass", Props: []Prop{{"header", "d", "Example.COM"}}},
		}}},
		{"reason quoted with escapes", `mx; dkim=fail reason="bad \"sig\"; \\ really" header.d=a.test`, Field{AuthservID: "mx", Results: []Result{
			{Method: "dkim", Value: "fail", Reason: `bad "sig"; \ really`, Props: []Prop{{"header", "d", "a.test"}}},
		}}},
		{"addr-spec values", `mx; spf=pass smtp.mailfrom=user@a.test; dkim=pass header.i=@a.test; auth=pass smtp.auth="john doe"@a.test`, Field{AuthservID: "mx", Results: []Result{
			{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "user@a.test"}}},
			{Method: "dkim", Value: "pass", Props: []Prop{{"header", "i", "@a.test"}}},
			{Method: "auth", Value: "pass", Props: []Prop{{"smtp", "auth", "john doe@a.test"}}},
		}}},
		{"nested comment with ';' and quoted pairs", `mx; spf=pass (a (b; c\) d) e; dkim=pass) smtp.mailfrom=a.test`, Field{AuthservID: "mx", Results: []Result{
			{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "a.test"}}},
		}}},
		{"values with / = : +", "mx; dkim=pass header.b=ab/c+d=; iprev=pass policy.iprev=2001:db8::1", Field{AuthservID: "mx", Results: []Result{
			{Method: "dkim", Value: "pass", Props: []Prop{{"header", "b", "ab/c+d="}}},
			{Method: "iprev", Value: "pass", Props: []Prop{{"policy", "iprev", "2001:db8::1"}}},
		}}},
		{"no authserv-id, bare property, trailing ';'", "spf=pass (sender IP is 1.2.3.4) smtp.mailfrom=contoso.com; dmarc=pass action=none header.from=contoso.com;compauth=pass reason=100;", Field{Results: []Result{
			{Method: "spf", Value: "pass", Props: []Prop{{"smtp", "mailfrom", "contoso.com"}}},
			{Method: "dmarc", Value: "pass", Props: []Prop{{"", "action", "none"}, {"header", "from", "contoso.com"}}},
			{Method: "compauth", Value: "pass", Reason: "100"},
		}}},
		{"folding in a quoted string keeps the blank", "mx; a=b c.d=\"x\r\n\ty\tz \\\t\"", Field{AuthservID: "mx", Results: []Result{
			{Method: "a", Value: "b", Props: []Prop{{"c", "d", "x\ty\tz \t"}}},
		}}},
		{"encoded word is a word", "mx; dkim=fail (=?utf-8?q?=3B_dkim=3Dpass?=) header.d=a.test", Field{AuthservID: "mx", Results: []Result{
			{Method: "dkim", Value: "fail", Props: []Prop{{"header", "d", "a.test"}}},
		}}},
		{"UTF-8 in comments and values", "mx; dkim=pass (grüße) header.d=bücher.test", Field{AuthservID: "mx", Results: []Result{
			{Method: "dkim", Value: "pass", Props: []Prop{{"header", "d", "bücher.test"}}},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.value)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.value, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got  %+v\n want %+v", tc.value, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, value := range []string{
		"",
		"   ",
		"mx.example.com",
		"mx.example.com 1",
		"mx.example.com; dkim",
		"mx.example.com; dkim=",
		"mx.example.com; dkim=pass header.d",
		"mx.example.com; dkim=pass header.d=",
		"mx.example.com; dkim=pass header.d=;",
		"mx.example.com; dkim=pass header.=a.test",
		"mx.example.com; dkim=pass (unterminated",
		"mx.example.com; dkim=pass (a (b) c",
		`mx.example.com; dkim=pass header.b="unterminated`,
		`mx.example.com; dkim=pass header.b="ends in a backslash\`,
		`mx.example.com; dkim=pass (ends in a backslash\`,
		"mx.example.com; dkim/=pass",
		"mx.example.com; dkim/x=pass",
		"mx.example.com; none; dkim=pass",
		"mx.example.com; dkim=pass; none",
		"mx.example.com dkim=pass",
		"mx.example.com; dkim=pass header.d=a.test\x00",
		"mx.example.com; dkim=pass\nheader.d=a.test",
		"mx.example.com; dkim=pass (a\x01b)",
		"mx.example.com; dkim=pass header.d=a\"b\"",
		`""; dkim=pass`,
		"; dkim=pass",
		"spf=none smtp.mailfrom=example.net; hotmail.com; dkim=none", // Outlook.com writes this
	} {
		if f, err := Parse(value); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", value, f)
		} else if !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", value, err)
		}
	}
}

// TestParseLongInput checks that size costs time in proportion, not a
// crash or a blow-up: a megabyte of nested comments, of results, of one
// value.
func TestParseLongInput(t *testing.T) {
	const n = 1 << 20
	for _, tc := range []struct {
		name    string
		value   string
		results int
		err     bool
	}{
		{"nested comments", "mx; dkim=pass " + strings.Repeat("(", n) + strings.Repeat(")", n) + " header.d=a.test", 1, false},
		{"unterminated nesting", "mx; dkim=pass " + strings.Repeat("(", n), 0, true},
		{"many results", "mx" + strings.Repeat("; dkim=fail header.d=a.test", n/32), n / 32, false},
		{"long value", "mx; dkim=pass header.b=" + strings.Repeat("A", n), 1, false},
		{"long id", strings.Repeat("a", n) + "; dkim=pass", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			f, err := Parse(tc.value)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if len(f.Results) != tc.results {
				t.Errorf("%d results, want %d", len(f.Results), tc.results)
			}
			t.Logf("%d bytes in %v", len(tc.value), time.Since(start))
		})
	}
}
