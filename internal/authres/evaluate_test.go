package authres

import (
	"strings"
	"testing"
)

type evalCase struct {
	name    string
	fields  []string
	trusted string
	from    string
	dmarc   bool
	dkim    bool
	spf     bool
	reason  string // a substring of Verdict.Reason
}

func runEval(t *testing.T, cases []evalCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(fields []string) {
				t.Helper()
				v := Evaluate(fields, tc.trusted, tc.from)
				t.Logf("reason: %s", v.Reason)
				if v.DMARC != tc.dmarc || v.DKIM != tc.dkim || v.SPF != tc.spf {
					t.Errorf("Evaluate = dmarc %v dkim %v spf %v (%s), want dmarc %v dkim %v spf %v",
						v.DMARC, v.DKIM, v.SPF, v.Reason, tc.dmarc, tc.dkim, tc.spf)
				}
				if !strings.Contains(v.Reason, tc.reason) {
					t.Errorf("Reason %q lacks %q", v.Reason, tc.reason)
				}
				if strings.ContainsAny(v.Reason, "\r\n\x00") {
					t.Errorf("Reason %q is not one line", v.Reason)
				}
			}
			check(tc.fields)
			// The same fields unfolded, as mailin hands them over.
			unfolded := make([]string, len(tc.fields))
			for i, f := range tc.fields {
				unfolded[i] = unfold(f)
			}
			check(unfolded)
		})
	}
}

// unfold joins continuation lines as go-message does: each line trimmed,
// joined by one space.
func unfold(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	var out []string
	for _, l := range lines {
		if l = strings.Trim(l, " \t"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, " ")
}

func TestEvaluateRealHeaders(t *testing.T) {
	runEval(t, []evalCase{
		{name: "gmail: dkim by header.i, spf, dmarc", fields: []string{gmailOracle}, trusted: "mx.google.com", from: "oracle.com",
			dmarc: true, dkim: true, spf: true, reason: "dmarc=pass header.from=oracle.com"},
		{name: "gmail: quoted smtp.mailfrom", fields: []string{gmailFB}, trusted: "mx.google.com", from: "fb.com",
			dmarc: true, dkim: true, spf: true},
		{name: "gmail: header.i alone is enough for dkim", fields: []string{"mx.google.com; dkim=pass header.i=@oracle.com header.s=corp-2018-07-02 header.b=lhk5qU4z"}, trusted: "mx.google.com", from: "oracle.com",
			dkim: true, reason: "dkim=pass header.i=@oracle.com aligned with oracle.com"},
		{name: "gmail: workspace default signature does not align", fields: []string{gmailPexFail}, trusted: "mx.google.com", from: "pex.com",
			reason: "dkim=pass header.i=@pex-com.20150623.gappssmtp.com not aligned with pex.com"},
		{name: "gmail header with another trusted id", fields: []string{gmailOracle}, trusted: "mx.example.com", from: "oracle.com",
			reason: "no Authentication-Results from mx.example.com"},
		{name: "microsoft 365 docs: no authserv-id is never trusted", fields: []string{m365Docs}, trusted: "mx.example.com", from: "contoso.com",
			reason: "no Authentication-Results from mx.example.com"},
		{name: "microsoft 365: no authserv-id, dmarc=pass", fields: []string{m365AMD}, trusted: "protection.outlook.com", from: "amd.com",
			reason: "no Authentication-Results from protection.outlook.com"},
		{name: "microsoft 365 ARC payload with version", fields: []string{m365AMDArc}, trusted: "MX.Microsoft.com", from: "amd.com",
			dmarc: true, dkim: true, spf: true, reason: "dmarc=pass header.from=amd.com"},
		{name: "opendkim: ';' in its comment", fields: []string{openDKIMOzlabs, spfMilterOzlabs}, trusted: "lists.ozlabs.org", from: "gmail.com",
			dkim: true, reason: "dkim=pass header.d=gmail.com aligned with gmail.com"},
		{name: "spf milter: ';' in its comment", fields: []string{spfMilterOzlabs, openDKIMOzlabs}, trusted: "lists.ozlabs.org", from: "gmail.com",
			spf: true, reason: "spf=pass smtp.mailfrom=gmail.com aligned with gmail.com"},
		{name: "opendkim: failed signature", fields: []string{openDKIMFail}, trusted: "lists.ozlabs.org", from: "kernel.org",
			reason: "dkim=fail header.d=kernel.org"},
		{name: "opendmarc above opendkim: only the top field counts", fields: openDMARCOsmocom, trusted: "lists.osmocom.org", from: "gmail.com",
			dmarc: true, reason: "dmarc=pass header.from=gmail.com"},
		{name: "opendkim: quoted header.b", fields: []string{openDKIMFreedesktop}, trusted: "gabe.freedesktop.org", from: "kernel.org",
			dkim: true},
		{name: "rspamd: list bounce address does not align", fields: []string{rspamdBroadcom}, trusted: "mail.lfdr.de", from: "broadcom.com",
			dmarc: true, dkim: true, reason: "dmarc=pass header.from=broadcom.com"},
		{name: "rspamd: mixed-case header.d", fields: []string{rspamdNvidia}, trusted: "lists.linaro.org", from: "nvidia.com",
			dmarc: true, dkim: true, spf: true},
		{name: "rspamd: failed dmarc", fields: []string{rspamdDMARCFail}, trusted: "mx.example.com", from: "example.com",
			reason: "dmarc=fail header.from=example.com"},
	})
}

func TestEvaluateHostile(t *testing.T) {
	const id = "mx.example.com"
	const from = "example.com"
	long := "mx.example.com; dkim=fail header.d=example.com (" + strings.Repeat("dkim=pass header.d=example.com; ", 1<<15) + ")"
	runEval(t, []evalCase{
		{name: "aligned dkim", fields: []string{"mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			dkim: true, reason: "dkim=pass header.d=example.com aligned with example.com"},
		{name: "';' in a comment", fields: []string{"mx.example.com; spf=pass (mx.example.com: domain of x; dkim=pass header.d=example.com ) smtp.mailfrom=evil.test"}, trusted: id, from: from,
			reason: "spf=pass smtp.mailfrom=evil.test not aligned"},
		{name: "';' in a quoted string", fields: []string{`mx.example.com; dkim=fail header.b="x; dkim=pass header.d=example.com"`}, trusted: id, from: from,
			reason: "dkim=fail"},
		{name: "escaped quotes in a quoted string", fields: []string{`mx.example.com; dkim=fail reason="bad \"; dkim=pass header.d=example.com; x=\"" header.d=evil.test`}, trusted: id, from: from,
			reason: "dkim=fail header.d=evil.test"},
		{name: "nested comments", fields: []string{"mx.example.com; dkim=fail (outer (inner) ; dkim=pass header.d=example.com (x)) header.d=example.com"}, trusted: id, from: from,
			reason: "dkim=fail header.d=example.com"},
		{name: "escaped parenthesis in a comment", fields: []string{`mx.example.com; dkim=fail (a\); dkim=pass header.d=example.com) header.d=evil.test`}, trusted: id, from: from},
		{name: "encoded word stays a word", fields: []string{"mx.example.com; dkim=fail (=?us-ascii?Q?=29=3B_dkim=3Dpass_header.d=3Dexample.com_=28?=) header.d=evil.test"}, trusted: id, from: from,
			reason: "dkim=fail"},
		{name: "forged field below the trusted one", fields: []string{"mx.example.com; dkim=fail header.d=example.com", "mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"}, trusted: id, from: from,
			reason: "dkim=fail"},
		{name: "second trusted field lower down, other servers around", fields: []string{"relay.example.net; dkim=pass header.d=example.com", "mx.example.com; none", "mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "no dkim, spf or dmarc result"},
		{name: "trusted id as a prefix", fields: []string{"mx.example.com.evil; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "no Authentication-Results from mx.example.com"},
		{name: "trusted id as a suffix", fields: []string{"evil-mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from},
		{name: "trusted id with a comment glued on hides no forgery", fields: []string{"mx.example.com(postfix); dkim=fail header.d=example.com", "mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "dkim=fail"},
		{name: "quoted trusted id hides no forgery", fields: []string{`"mx.example.com"; dkim=fail header.d=example.com`, "mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "dkim=fail"},
		{name: "unreadable field above ends the search", fields: []string{"@@@ garbage", "mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "unreadable"},
		{name: "malformed trusted field gives nothing", fields: []string{"mx.example.com; dkim=pass header.d=example.com; spf=pass (unterminated", "mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: from,
			reason: "malformed"},
		{name: "field without authserv-id is not the trusted one", fields: []string{"dkim=pass header.d=example.com; dmarc=pass header.from=example.com"}, trusted: id, from: from,
			reason: "no Authentication-Results from"},
		{name: "header.d is a public suffix", fields: []string{"mx.example.com; dkim=pass header.d=co.uk"}, trusted: id, from: "evil.co.uk",
			reason: "not aligned"},
		{name: "header.d is a TLD", fields: []string{"mx.example.com; dkim=pass header.d=com"}, trusted: id, from: from},
		{name: "header.d is a private public suffix", fields: []string{"mx.example.com; dkim=pass header.d=github.io"}, trusted: id, from: "victim.github.io"},
		{name: "organisational parent aligns", fields: []string{"mx.example.com; dkim=pass header.d=example.co.uk"}, trusted: id, from: "mail.example.co.uk",
			dkim: true},
		{name: "header.d is a sibling", fields: []string{"mx.example.com; dkim=pass header.d=sales.example.com"}, trusted: id, from: "support.example.com"},
		{name: "header.d is a child", fields: []string{"mx.example.com; dkim=pass header.d=mail.example.com"}, trusted: id, from: from},
		{name: "header.d is a lookalike", fields: []string{"mx.example.com; dkim=pass header.d=notexample.com"}, trusted: id, from: from},
		{name: "header.d given twice", fields: []string{"mx.example.com; dkim=pass header.d=evil.test header.d=example.com"}, trusted: id, from: from,
			reason: "without one header.d"},
		{name: "header.d wins over header.i", fields: []string{"mx.example.com; dkim=pass header.d=evil.test header.i=@example.com"}, trusted: id, from: from},
		{name: "dmarc for another header.from", fields: []string{"mx.example.com; dmarc=pass header.from=evil.test"}, trusted: id, from: from,
			reason: "dmarc=pass header.from=evil.test is not example.com"},
		{name: "dmarc for a parent is not the From domain", fields: []string{"mx.example.com; dmarc=pass header.from=example.com"}, trusted: id, from: "mail.example.com"},
		{name: "spf for a lookalike", fields: []string{"mx.example.com; spf=pass smtp.mailfrom=bounce@notexample.com"}, trusted: id, from: from},
		{name: "spf aligned", fields: []string{"mx.example.com; spf=pass smtp.mailfrom=bounce@example.com"}, trusted: id, from: "Mail.Example.com",
			spf: true, reason: "spf=pass smtp.mailfrom=bounce@example.com aligned with mail.example.com"},
		{name: "upper case everywhere", fields: []string{"MX.EXAMPLE.COM; DKIM=PASS HEADER.D=EXAMPLE.COM; DMARC=PASS HEADER.FROM=EXAMPLE.COM"}, trusted: id, from: "Example.COM",
			dmarc: true, dkim: true},
		{name: "trailing dot", fields: []string{"mx.example.com; dkim=pass header.d=example.com."}, trusted: id, from: from, dkim: true},
		{name: "quoted header.d", fields: []string{`mx.example.com; dkim=pass header.d="example.com"`}, trusted: id, from: from, dkim: true},
		{name: "missing value", fields: []string{"mx.example.com; dkim=pass header.d="}, trusted: id, from: from, reason: "malformed"},
		{name: "missing result", fields: []string{"mx.example.com; dkim="}, trusted: id, from: from, reason: "malformed"},
		{name: "missing property", fields: []string{"mx.example.com; dkim=pass"}, trusted: id, from: from, reason: "without one header.d"},
		{name: "no fields", trusted: id, from: from, reason: "no Authentication-Results from mx.example.com"},
		{name: "no From domain", fields: []string{"mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: "", reason: "no From domain"},
		{name: "From domain not a domain", fields: []string{"mx.example.com; dkim=pass header.d=example.com"}, trusted: id, from: "example.com>\n", reason: "not a domain name"},
		{name: "no trusted id", fields: []string{"mx.example.com; dkim=pass header.d=example.com"}, trusted: "", from: from, reason: "no trusted authserv-id"},
		{name: "non-ASCII header.d", fields: []string{"mx.example.com; dkim=pass header.d=exаmple.com"}, trusted: id, from: from, reason: `"ex\u0430mple.com"`},
		{name: "control-free reason for a hostile value", fields: []string{"mx.example.com; dkim=pass header.d=evil.test\u2028[link](http://x)"}, trusted: id, from: from, reason: `\u2028`},
		{name: "very long input", fields: []string{long}, trusted: id, from: from, reason: "dkim=fail"},
	})
}
