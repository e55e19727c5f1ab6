package workflow

import (
	"strings"
)

// authenticatedSender reports whether in's From domain is vouched for by the
// Authentication-Results header of the trusted server authservID (§3 staff):
// dkim=pass with header.d aligned with the From domain, or dmarc=pass with
// header.from equal to it. Only the topmost Authentication-Results of that
// server counts — the one it added last, above anything the sender wrote —
// and text in the body never counts. The reason says what was found.
func authenticatedSender(in *Inbound, authservID string) (bool, string) {
	from := domainOf(in.From.Email)
	if from == "" {
		return false, "no From domain"
	}
	for _, raw := range in.Header["Authentication-Results"] {
		id, results, ok := strings.Cut(raw, ";")
		if !ok {
			id, results = raw, ""
		}
		// The authserv-id may be followed by a version number.
		if f := strings.Fields(id); len(f) == 0 || !strings.EqualFold(f[0], authservID) {
			continue
		}
		for _, res := range strings.Split(results, ";") {
			method, props := parseResult(res)
			switch method {
			case "dkim=pass":
				if d := props["header.d"]; d != "" && aligned(from, d) {
					return true, "dkim=pass for " + d
				}
			case "dmarc=pass":
				if d := props["header.from"]; strings.EqualFold(d, from) {
					return true, "dmarc=pass for " + d
				}
			}
		}
		return false, "no aligned dkim or dmarc pass from " + authservID
	}
	return false, "no Authentication-Results from " + authservID
}

// parseResult splits "dkim=pass (comment) header.d=acme.test header.s=x"
// into "dkim=pass" and its properties, lower-cased.
func parseResult(res string) (string, map[string]string) {
	// Drop comments in parentheses.
	var b strings.Builder
	depth := 0
	for _, r := range res {
		switch {
		case r == '(':
			depth++
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	f := strings.Fields(strings.ToLower(b.String()))
	if len(f) == 0 {
		return "", nil
	}
	props := map[string]string{}
	for _, p := range f[1:] {
		if k, v, ok := strings.Cut(p, "="); ok {
			props[k] = strings.Trim(v, `"`)
		}
	}
	return f[0], props
}

// aligned is DKIM relaxed alignment: the signing domain is the From domain
// or a parent of it ("acme.test" signs for "mail.acme.test").
func aligned(from, d string) bool {
	from, d = strings.ToLower(from), strings.ToLower(strings.TrimSuffix(d, "."))
	return from == d || strings.HasSuffix(from, "."+d) && strings.Contains(d, ".")
}

// senderPasses reports whether in passes an aligned check in the trusted
// Authentication-Results (limits.ack_requires_authenticated_sender).
func senderPasses(in *Inbound, authservID string) (bool, string) {
	if authservID == "" {
		return false, "staff.authserv_id is not set"
	}
	return authenticatedSender(in, authservID)
}
