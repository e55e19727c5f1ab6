package workflow

import (
	"regexp"
	"strings"
)

// outOfOffice matches the subjects of out-of-office and automatic replies in
// the languages our customers write in.
var outOfOffice = regexp.MustCompile(`(?i)^\s*(` + strings.Join([]string{
	`out of (the )?office`, `automatic reply`, `auto(matic)?[- ]?(reply|response)`, `autoreply`, `away from (the )?office`,
	`abwesenheitsnotiz`, `automatische antwort`,
	`réponse automatique`, `reponse automatique`, `absence du bureau`,
	`respuesta automática`, `respuesta automatica`, `fuera de la oficina`,
	`автоответ`, `автоматический ответ`, `вне офиса`,
	`risposta automatica`, `fuori sede`, `resposta automática`,
}, "|") + `)`)

// noReplySender matches local parts that never read replies: a word
// such as noreply, no_reply, do-not-reply, donotreply, mailer-daemon,
// postmaster or bounce(s), alone or between separators
// (gmail-noreply, noreply-alerts, billing.donotreply).
var noReplySender = regexp.MustCompile(`(?i)(^|[-_.+])(mailer-daemon|postmaster|no[-_.]?reply|do[-_.]?not[-_.]?reply|bounces?)([-_.+]|$)`)

// Automatic reports whether in is automatic mail (§10) and why: such mail
// gets no automatic reply, opens no escalation and changes no status. own is
// the escalation address; ownDomain the domain of the Message-IDs the daemon
// generates; knownOwnID reports whether a Message-ID is one the daemon sent.
func Automatic(in *Inbound, own string, knownOwnID func(string) bool) (bool, string) {
	h := func(name string) string {
		if v := in.Header[name]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	has := func(name string) bool { _, ok := in.Header[name]; return ok }
	if v := strings.ToLower(h("Auto-Submitted")); v != "" && v != "no" {
		return true, "Auto-Submitted: " + v
	}
	switch p := strings.ToLower(h("Precedence")); p {
	case "bulk", "list", "junk", "auto_reply", "auto-reply":
		return true, "Precedence: " + p
	}
	for _, name := range []string{"X-Loop", "X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe", "X-Escalationd-Loop"} {
		if has(name) {
			return true, name + " header"
		}
	}
	if rp, ok := in.Header["Return-Path"]; ok && len(rp) > 0 && strings.TrimSpace(rp[len(rp)-1]) == "<>" {
		return true, "empty Return-Path (a delivery report)"
	}
	for _, v := range in.Header["X-Auto-Response-Suppress"] {
		for _, f := range strings.FieldsFunc(strings.ToLower(v), func(r rune) bool { return r == ',' || r == ' ' }) {
			if f == "all" || f == "oof" || f == "autoreply" {
				return true, "X-Auto-Response-Suppress: " + v
			}
		}
	}
	if ct := strings.ToLower(h("Content-Type")); strings.HasPrefix(ct, "multipart/report") {
		return true, "delivery report (multipart/report)"
	}
	from := strings.ToLower(strings.TrimSpace(in.From.Email))
	if from == "" {
		return true, "no sender address"
	}
	if strings.EqualFold(from, own) || strings.HasPrefix(from, localPart(own)+"+") && domainOf(from) == domainOf(own) {
		return true, "sent from our own address"
	}
	if noReplySender.MatchString(localPart(from)) {
		return true, "sender " + from + " does not read replies"
	}
	if in.MessageID != "" && knownOwnID != nil && knownOwnID(in.MessageID) {
		return true, "a Message-ID the daemon generated"
	}
	if outOfOffice.MatchString(stripPrefixes(in.Subject)) {
		return true, "out-of-office subject"
	}
	return false, ""
}

func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[:i])
	}
	return strings.ToLower(addr)
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.ToLower(addr[i+1:])
	}
	return ""
}

// stripPrefixes removes reply prefixes so "Re: Automatic reply: x" and
// "AW: Abwesenheitsnotiz" are recognised.
func stripPrefixes(s string) string {
	for {
		t := replyPrefix.ReplaceAllString(s, "")
		if t == s {
			return s
		}
		s = t
	}
}
