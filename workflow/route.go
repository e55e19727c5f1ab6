package workflow

import (
	"regexp"
	"strconv"
	"strings"
)

// Router finds the escalation a message belongs to (§1 step 2).
type router struct {
	tag  *regexp.Regexp // [ESC-00042] anywhere in a subject, any case
	plus *regexp.Regexp // escalations+ESC-00042@ or escalations+ESC-00042.key@ in an address
}

func newRouter(prefix, address string) router {
	local := address
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		local = address[:i]
	}
	p := regexp.QuoteMeta(prefix)
	return router{
		tag:  regexp.MustCompile(`(?i)\[\s*` + p + `-(\d{1,9})\s*\]`),
		plus: regexp.MustCompile(`(?i)^` + regexp.QuoteMeta(local) + `\+` + p + `-(\d{1,9})(?:\.([a-z0-9]{1,64}))?@`),
	}
}

// tagIDs returns the escalation numbers tagged in subject, in order.
func (r router) tagIDs(subject string) []int64 {
	var ids []int64
	for _, m := range r.tag.FindAllStringSubmatch(subject, -1) {
		if n, err := strconv.ParseInt(m[1], 10, 64); err == nil && n > 0 {
			ids = append(ids, n)
		}
	}
	return ids
}

// plusKey parses a plus-address of an escalation: its number and the reply
// key after the id ("" for none). ok is false for any other address.
func (r router) plusKey(addr string) (id int64, key string, ok bool) {
	m := r.plus.FindStringSubmatch(strings.TrimSpace(addr))
	if m == nil {
		return 0, "", false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n <= 0 {
		return 0, "", false
	}
	return n, strings.ToLower(m[2]), true
}

// plusIDs returns the escalation numbers of plus-addresses among addrs,
// keyed or not.
func (r router) plusIDs(addrs []string) []int64 {
	var ids []int64
	for _, a := range addrs {
		if n, _, ok := r.plusKey(a); ok {
			ids = append(ids, n)
		}
	}
	return ids
}

// route returns the escalation in belongs to and how it was found, or 0 for a
// new escalation. A tag naming an id that does not exist counts as no tag; of
// several the first valid one wins.
func (r router) route(tx Tx, in *Inbound) (id int64, via string, err error) {
	for _, n := range r.tagIDs(in.Subject) {
		if ok, err := escalationExists(tx, n); err != nil || ok {
			return n, "subject tag", err
		}
	}
	for _, n := range r.plusIDs(in.recipients()) {
		if ok, err := escalationExists(tx, n); err != nil || ok {
			return n, "plus-address", err
		}
	}
	// In-Reply-To first, then References from the newest back.
	refs := append([]string(nil), in.InReplyTo...)
	for i := len(in.References) - 1; i >= 0; i-- {
		refs = append(refs, in.References[i])
	}
	for _, mid := range refs {
		if mid == "" {
			continue
		}
		// A Message-ID that two different messages share names no
		// thread (§10).
		esc, ok, err := tx.ThreadOf(mid)
		if err != nil {
			return 0, "", err
		}
		if ok {
			return esc, "In-Reply-To/References", nil
		}
	}
	return 0, "", nil
}

func escalationExists(tx Tx, id int64) (bool, error) {
	return tx.EscalationExists(id)
}

// replyPrefix matches one reply or forward prefix in the languages our
// customers write in: Re, Fwd, Fw, AW, WG, SV, VS, TR, RV, Antw, Ответ, Отв,
// Пересл, with an optional counter ("Re[2]:", "Re(3):").
var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|tr|rv|antw|ответ|отв|пересл)\s*(\[\d+\]|\(\d+\))?\s*[:：]\s*`)

// cleanSubject removes reply prefixes and every escalation tag from subject,
// and collapses white space. It returns "(no subject)" for what is left empty.
func (r router) cleanSubject(subject string) string {
	// Until nothing changes: removing one tag or prefix, or collapsing
	// Unicode blanks, can make another ("[[ESC-1]ESC-2]", "\u00a0Re: x").
	s := subject
	for {
		t := strings.Join(strings.Fields(r.tag.ReplaceAllString(s, " ")), " ")
		t = replyPrefix.ReplaceAllString(t, "")
		if t == s {
			break
		}
		s = t
	}
	if s == "" {
		return "(no subject)"
	}
	return s
}

// mayWrite reports whether sender may write into escalation id (§10): staff
// may, and so may its participants — the addresses in From, To and Cc of its
// messages, in and out — and, when the escalation's customer is a configured
// customers domain, every address of that domain (the customer's
// colleagues). An unknown domain (a webmail provider, say) gives no one else
// of it a say.
func (e *Engine) mayWrite(tx Tx, id int64, sender string) (bool, error) {
	sender = strings.TrimSpace(sender)
	if sender == "" {
		return false, nil
	}
	if e.isStaff(sender) {
		return true, nil
	}
	if ok, err := tx.IsParticipant(id, sender); err != nil || ok {
		return ok, err
	}
	key, err := tx.CustomerKey(id)
	if err != nil {
		return false, err
	}
	if cust, known := e.customer(sender); known && strings.EqualFold(key, "customer:"+cust.Domain) {
		return true, nil
	}
	return false, nil
}
