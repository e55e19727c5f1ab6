package authres

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Verdict is what the trusted Authentication-Results field says about a
// message's From domain.
type Verdict struct {
	DMARC bool // dmarc=pass with header.from equal to the From domain
	DKIM  bool // dkim=pass with header.d (or header.i's domain) aligned
	SPF   bool // spf=pass with the smtp.mailfrom domain aligned
	// Reason says, for people, the first aligned pass in the order DMARC,
	// DKIM, SPF ("dkim=pass header.d=acme.test aligned with acme.test"),
	// or why there is none. Values from the header are quoted when they
	// hold anything but domain and address characters.
	Reason string
}

// Pass reports whether any of DMARC, aligned DKIM or aligned SPF passed.
func (v Verdict) Pass() bool { return v.DMARC || v.DKIM || v.SPF }

// Evaluate reads fields, the Authentication-Results values of one message
// in header order (topmost first, raw as Parse wants them), and judges the
// From domain by the topmost field whose authserv-id is trustedID (compared
// case-insensitively, whole). Fields of other servers above it are skipped;
// every field below it is ignored, so a field the sender wrote cannot add a
// pass. A field that cannot be read far enough to know its authserv-id ends
// the search (it might be the trusted server's), as does a trusted field
// that is malformed: both give no pass.
//
// Alignment: DKIM and SPF align when their domain is the From domain or a
// parent of it that is not a public suffix ("example.co.uk" for
// "mail.example.co.uk", never "co.uk"); DMARC passes only with header.from
// equal to the From domain.
func Evaluate(fields []string, trustedID, fromDomain string) Verdict {
	if strings.TrimSpace(trustedID) == "" {
		return Verdict{Reason: "no trusted authserv-id configured"}
	}
	from := normDomain(fromDomain)
	if from == "" {
		return Verdict{Reason: "no From domain"}
	}
	if !isDomain(from) {
		return Verdict{Reason: "From domain " + show(fromDomain) + " is not a domain name"}
	}
	for n, raw := range fields {
		f, idKnown, err := parse(raw)
		if !idKnown {
			return Verdict{Reason: fmt.Sprintf("Authentication-Results field %d, above any from %s, is unreadable: %v", n+1, show(trustedID), err)}
		}
		if !strings.EqualFold(f.AuthservID, trustedID) {
			continue
		}
		if err != nil {
			return Verdict{Reason: fmt.Sprintf("Authentication-Results from %s is malformed: %v", show(trustedID), err)}
		}
		return judge(f, from)
	}
	return Verdict{Reason: "no Authentication-Results from " + show(trustedID)}
}

// judge reads the results of the trusted field for the From domain from
// (normalised).
func judge(f Field, from string) Verdict {
	var v Verdict
	var dmarcWhy, dkimWhy, spfWhy string
	var seen []string
	for _, r := range f.Results {
		var ok bool
		var why string
		switch r.Method {
		case "dmarc":
			ok, why = judgeDMARC(r, from)
			if ok && !v.DMARC {
				v.DMARC, dmarcWhy = true, why
			}
		case "dkim":
			ok, why = judgeDKIM(r, from)
			if ok && !v.DKIM {
				v.DKIM, dkimWhy = true, why
			}
		case "spf":
			ok, why = judgeSPF(r, from)
			if ok && !v.SPF {
				v.SPF, spfWhy = true, why
			}
		default:
			continue
		}
		if !ok && len(seen) < 6 {
			seen = append(seen, why)
		}
	}
	switch {
	case v.DMARC:
		v.Reason = dmarcWhy
	case v.DKIM:
		v.Reason = dkimWhy
	case v.SPF:
		v.Reason = spfWhy
	case len(seen) == 0:
		v.Reason = "no dkim, spf or dmarc result in Authentication-Results from " + show(f.AuthservID)
	default:
		v.Reason = "no aligned pass in Authentication-Results from " + show(f.AuthservID) + ": " + strings.Join(seen, "; ")
	}
	return v
}

func judgeDMARC(r Result, from string) (bool, string) {
	d, ok := prop(r, "header", "from")
	switch {
	case !ok:
		return false, "dmarc=" + show(r.Value) + " without one header.from"
	case r.Value != "pass":
		return false, "dmarc=" + show(r.Value) + " header.from=" + show(d)
	case normDomain(d) != from:
		return false, "dmarc=pass header.from=" + show(d) + " is not " + from
	}
	return true, "dmarc=pass header.from=" + show(d)
}

func judgeDKIM(r Result, from string) (bool, string) {
	// header.i counts only when there is no header.d at all (Gmail
	// writes header.i=@example.com alone).
	name := "header.d"
	v, ok := prop(r, "header", "d")
	d := v
	if !ok && !has(r, "header", "d") {
		if v, ok = prop(r, "header", "i"); ok {
			name, d = "header.i", domainPart(v)
		}
	}
	switch {
	case !ok:
		return false, "dkim=" + show(r.Value) + " without one header.d or header.i"
	case r.Value != "pass":
		return false, "dkim=" + show(r.Value) + " " + name + "=" + show(v)
	case !aligned(d, from):
		return false, "dkim=pass " + name + "=" + show(v) + " not aligned with " + from
	}
	return true, "dkim=pass " + name + "=" + show(v) + " aligned with " + from
}

func judgeSPF(r Result, from string) (bool, string) {
	v, ok := prop(r, "smtp", "mailfrom")
	switch {
	case !ok:
		return false, "spf=" + show(r.Value) + " without one smtp.mailfrom"
	case r.Value != "pass":
		return false, "spf=" + show(r.Value) + " smtp.mailfrom=" + show(v)
	case !aligned(domainPart(v), from):
		return false, "spf=pass smtp.mailfrom=" + show(v) + " not aligned with " + from
	}
	return true, "spf=pass smtp.mailfrom=" + show(v) + " aligned with " + from
}

// prop is the value of ptype.name in r. A property given twice with
// different values counts as absent: which one the server meant is unknown.
func prop(r Result, ptype, name string) (string, bool) {
	val, found := "", false
	for _, p := range r.Props {
		if p.Type != ptype || p.Name != name {
			continue
		}
		if found && !strings.EqualFold(p.Value, val) {
			return "", false
		}
		val, found = p.Value, true
	}
	return val, found
}

// has reports whether r has ptype.name at all.
func has(r Result, ptype, name string) bool {
	for _, p := range r.Props {
		if p.Type == ptype && p.Name == name {
			return true
		}
	}
	return false
}

// aligned reports whether d is from or a parent of it, and is not a public
// suffix (so "co.uk" or "com" never vouch for anything).
func aligned(d, from string) bool {
	d = normDomain(d)
	if !isDomain(d) || (d != from && !strings.HasSuffix(from, "."+d)) {
		return false
	}
	ps, _ := publicsuffix.PublicSuffix(d)
	return ps != d
}

// domainPart is the domain of "user@domain" or "@domain"; a value without
// '@' is taken as a domain (Microsoft writes smtp.mailfrom=example.com).
func domainPart(v string) string {
	if i := strings.LastIndexByte(v, '@'); i >= 0 {
		return v[i+1:]
	}
	return v
}

// normDomain lower-cases d and drops one trailing dot.
func normDomain(d string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
}

// isDomain reports whether d (normalised) is an ASCII domain name: labels
// of letters, digits, '-' and '_', 1 to 63 bytes, not starting or ending
// with '-', 253 bytes in all. Internationalised names must be in A-label
// form ("xn--...") to align.
func isDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || isDigit(c) || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// show renders a value from the header for a reason: as it is when it holds
// only domain and address characters and is short, else quoted (ASCII
// only, cut at 64 bytes), so a reason is always one harmless line.
func show(s string) string {
	safe := len(s) > 0 && len(s) <= 64
	for i := 0; safe && i < len(s); i++ {
		c := s[i]
		safe = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || isDigit(c) || strings.IndexByte(".-@+=/", c) >= 0
	}
	if safe {
		return s
	}
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.QuoteToASCII(s)
}
