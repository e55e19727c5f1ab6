package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
)

// authCase is one message's Authentication-Results (raw, topmost first)
// and what the two checks must say of it.
type authCase struct {
	name    string
	from    string
	fields  []string
	body    string
	staff   bool // authenticatedSender: aligned DKIM or DMARC
	ack     bool // senderPasses: aligned SPF, aligned DKIM or DMARC
	because string
}

var authCases = []authCase{
	{name: "dkim pass aligned", from: "lead@example.com", fields: []string{"mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=pass"}, staff: true, ack: true, because: "dkim=pass header.d=example.com aligned"},
	{name: "dkim pass parent domain", from: "lead@mail.example.com", fields: []string{"mx.example.com; dkim=pass (good signature) header.d=example.com"}, staff: true, ack: true},
	{name: "dmarc pass", from: "lead@example.com", fields: []string{"mx.example.com 1; spf=fail; dmarc=pass header.from=example.com"}, staff: true, ack: true, because: "dmarc=pass"},
	{name: "gmail header.i only", from: "lead@example.com", fields: []string{"mx.example.com; dkim=pass header.i=@example.com header.s=20230601 header.b=AbC/dE+f"}, staff: true, ack: true},
	{name: "spf alone is not enough for commands", from: "lead@example.com", fields: []string{"mx.example.com; spf=pass smtp.mailfrom=lead@example.com; dkim=none"}, ack: true, because: "commands need aligned dkim or dmarc"},
	{name: "spf for another domain", from: "lead@example.com", fields: []string{"mx.example.com; spf=pass smtp.mailfrom=bounce@evil.test"}},
	{name: "foreign authserv-id", from: "lead@example.com", fields: []string{"mx.evil.test; dkim=pass header.d=example.com"}, because: "no Authentication-Results from mx.example.com"},
	{name: "dkim pass for another domain", from: "lead@example.com", fields: []string{"mx.example.com; dkim=pass header.d=evil.test"}},
	{name: "dkim pass for a lookalike", from: "lead@example.com", fields: []string{"mx.example.com; dkim=pass header.d=notexample.com"}},
	{name: "dkim fail", from: "lead@example.com", fields: []string{"mx.example.com; dkim=fail header.d=example.com; dmarc=fail header.from=example.com"}},
	{name: "only the topmost of our server counts", from: "lead@example.com", fields: []string{"mx.example.com; dkim=none", "mx.example.com; dkim=pass header.d=example.com"}},
	{name: "forged in the body", from: "lead@example.com", body: "Authentication-Results: mx.example.com; dkim=pass header.d=example.com"},
	{name: "none", from: "lead@example.com"},

	// Each of these was accepted by the ';'-splitting reader.
	{name: "';' in a comment", from: "lead@example.com", fields: []string{"mx.example.com; spf=pass (mx.example.com: domain of x; dkim=pass header.d=example.com ) smtp.mailfrom=evil.test"}},
	{name: "';' in a quoted string", from: "lead@example.com", fields: []string{`mx.example.com; dkim=fail header.b="x; dkim=pass header.d=example.com"`}},
	{name: "escaped quote in a quoted string", from: "lead@example.com", fields: []string{`mx.example.com; dkim=fail reason="bad \"; dkim=pass header.d=example.com; x=\"" header.d=evil.test`}},
	{name: "nested comment", from: "lead@example.com", fields: []string{"mx.example.com; dkim=fail (outer (inner) ; dkim=pass header.d=example.com (x)) header.d=example.com"}},
	{name: "trusted id with a glued comment above a forgery", from: "lead@example.com", fields: []string{"mx.example.com(postfix); dkim=fail header.d=example.com", "mx.example.com; dkim=pass header.d=example.com"}},
	{name: "quoted trusted id above a forgery", from: "lead@example.com", fields: []string{`"mx.example.com"; dkim=fail header.d=example.com`, "mx.example.com; dkim=pass header.d=example.com"}},
	{name: "unreadable field above a forgery", from: "lead@example.com", fields: []string{"(mx.example.com; dkim=fail", "mx.example.com; dkim=pass header.d=example.com"}, because: "unreadable"},
	{name: "header.d is a public suffix", from: "lead@evil.co.uk", fields: []string{"mx.example.com; dkim=pass header.d=co.uk"}},
	{name: "header.d given twice", from: "lead@example.com", fields: []string{"mx.example.com; dkim=pass header.d=evil.test header.d=example.com"}},
}

func TestAuthenticatedSender(t *testing.T) {
	const id = "mx.example.com"
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inbound{From: Address{Email: tc.from}, Text: tc.body, AuthResults: tc.fields}
			got, why := authenticatedSender(in, id)
			if got != tc.staff {
				t.Errorf("authenticatedSender = %v (%s), want %v", got, why, tc.staff)
			}
			if !strings.Contains(why, tc.because) {
				t.Errorf("reason %q lacks %q", why, tc.because)
			}
		})
	}
}

func TestSenderPasses(t *testing.T) {
	const id = "mx.example.com"
	for _, tc := range authCases {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inbound{From: Address{Email: tc.from}, Text: tc.body, AuthResults: tc.fields}
			if got, why := senderPasses(in, id); got != tc.ack {
				t.Errorf("senderPasses = %v (%s), want %v", got, why, tc.ack)
			}
		})
	}
}

// TestDecodedHeaderIsNotTrusted: the decoded Header map is for display; a
// pass that shows only there (as an RFC 2047 decoder would make of an
// encoded word) does not count.
func TestDecodedHeaderIsNotTrusted(t *testing.T) {
	in := &Inbound{
		From:        Address{Email: "lead@example.com"},
		Header:      map[string][]string{"Authentication-Results": {"mx.example.com; dkim=fail (); dkim=pass header.d=example.com ()"}},
		AuthResults: []string{"mx.example.com; dkim=fail (=?us-ascii?Q?=29=3B_dkim=3Dpass_header.d=3Dexample.com_=28?=)"},
	}
	if ok, why := authenticatedSender(in, "mx.example.com"); ok {
		t.Fatalf("authenticated by the decoded header: %s", why)
	}
}

func TestUnauthenticatedStaffCannotCommand(t *testing.T) {
	e, _ := newTestEngine(t, func(c *config.Config) { c.Staff.RequireAuthenticated = true })
	ingest(t, e, msg("jane@acme.test", "Outage", "u1@acme.test", nil))
	for i, fields := range [][]string{
		{"mx.example.com; dkim=pass header.d=evil.test"},
		{"mx.example.com; spf=pass (x; dkim=pass header.d=example.com ) smtp.mailfrom=evil.test"},
		{"mx.example.com; spf=pass smtp.mailfrom=lead@example.com"},
	} {
		forged := msg("lead@example.com", "Re: [ESC-00001] Outage", "forged"+string(rune('a'+i))+"@evil.test", func(in *Inbound) {
			in.Text = "/resolve done\n"
			in.AuthResults = fields
		})
		ingest(t, e, forged)
		v, _ := e.View(context.Background(), 1)
		if v.Status == StatusResolved {
			t.Fatalf("a staff mail with %q resolved the escalation", fields)
		}
		var why []string
		for _, te := range v.Timeline {
			if strings.Contains(te.Text, "not authenticated (") {
				why = append(why, te.Text)
			}
		}
		if len(why) != i+1 || !strings.Contains(why[i], "Authentication-Results from mx.example.com") && !strings.Contains(why[i], "commands need aligned dkim or dmarc") {
			t.Errorf("timeline reasons %q: want %d, the last saying why", why, i+1)
		}
	}
	signed := msg("lead@example.com", "Re: [ESC-00001] Outage", "u3@example.com", func(in *Inbound) {
		in.Text = "/resolve done\n"
		in.AuthResults = []string{"mx.example.com; dkim=pass (2048-bit key; unprotected) header.d=example.com"}
	})
	ingest(t, e, signed)
	if v, _ := e.View(context.Background(), 1); v.Status != StatusResolved {
		t.Fatalf("an authenticated staff /resolve did not apply: %s", v.Status)
	}
}
