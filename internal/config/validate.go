package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // escalation.timezone must load on hosts without a zoneinfo database
)

// KeyError is a configuration error tied to one key, such as
// "imap.port: must be 1-65535". Key is the dotted key of the file
// ("imap.port", `roster.technical."tier 2"[0].email`), or the name of the
// environment variable when the error is about the variable itself.
type KeyError struct {
	Key string
	Msg string
	Err error // the underlying error, if any (e.g. from os.ReadFile); may be nil
}

func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// Unwrap returns the underlying error, nil when there is none.
func (e *KeyError) Unwrap() error { return e.Err }

func keyErr(key, format string, args ...any) *KeyError {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// joinKeyErrors returns nil for none, the *KeyError itself for one, and
// errors.Join of them for more (errors.As then finds the first).
func joinKeyErrors(errs []*KeyError) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// Validate checks every key and reports all problems at once: nil, one
// *KeyError, or several joined with errors.Join (one per line, each naming
// its key; errors.As finds the first). It does not read password files (Load
// does) and changes nothing in c.
func (c *Config) Validate() error {
	var v validator
	v.server("imap", c.IMAP.Host, c.IMAP.Port, c.IMAP.TLS, c.IMAP.AllowInsecure)
	v.required("imap.username", c.IMAP.Username)
	v.required("imap.mailbox", c.IMAP.Mailbox)
	v.required("imap.quarantine_mailbox", c.IMAP.QuarantineMailbox)
	if c.IMAP.QuarantineMailbox != "" && c.IMAP.QuarantineMailbox == c.IMAP.Mailbox {
		v.add("imap.quarantine_mailbox", "must differ from imap.mailbox (%s)", c.IMAP.Mailbox)
	}
	if c.IMAP.ProcessedMailbox != "" && c.IMAP.ProcessedMailbox == c.IMAP.Mailbox {
		v.add("imap.processed_mailbox", "must differ from imap.mailbox (%s); leave it empty to flag handled mail \\Seen instead", c.IMAP.Mailbox)
	}
	v.positive("imap.poll_interval", c.IMAP.PollInterval)
	v.positive("imap.reconnect_max", c.IMAP.ReconnectMax)
	v.positive("smtp.retry_min", c.SMTP.RetryMin)
	v.positive("smtp.retry_max", c.SMTP.RetryMax)
	if c.SMTP.RetryMax < c.SMTP.RetryMin {
		v.add("smtp.retry_max", "must not be shorter than smtp.retry_min (%s)", c.SMTP.RetryMin)
	}

	v.server("smtp", c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS, c.SMTP.AllowInsecure)
	if c.SMTP.Username != "" && c.SMTP.Password == "" && c.SMTP.PasswordFile == "" {
		v.add("smtp.password", "required when smtp.username is set (or set smtp.password_file); leave smtp.username empty to send without AUTH")
	}
	if c.SMTP.From == "" {
		v.add("smtp.from", `required, e.g. "Escalations <escalations@example.com>"`)
	} else if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
		v.add("smtp.from", "%q is not a mail address (%v); write it as \"Escalations <escalations@example.com>\"", c.SMTP.From, err)
	}

	e := c.Escalation
	v.address("escalation.address", e.Address, true)
	switch {
	case e.IDPrefix == "":
		v.add("escalation.id_prefix", "required, e.g. ESC")
	case len(e.IDPrefix) > 10 || strings.IndexFunc(e.IDPrefix, notAlnum) >= 0:
		v.add("escalation.id_prefix", "%q must be 1-10 letters or digits (A-Z, a-z, 0-9), e.g. ESC", e.IDPrefix)
	}
	v.required("escalation.dir", e.Dir)
	v.required("escalation.data_dir", e.DataDir)
	if e.Timezone == "" {
		v.add("escalation.timezone", "required, e.g. UTC or Europe/Berlin")
	} else if _, err := time.LoadLocation(e.Timezone); err != nil {
		v.add("escalation.timezone", "unknown time zone %q; use an IANA name such as UTC or Europe/Berlin", e.Timezone)
	}
	v.positive("escalation.update_interval", e.UpdateInterval)
	v.positive("escalation.sla.technical", e.SLA.Technical)
	v.positive("escalation.sla.executive", e.SLA.Executive)
	v.positive("escalation.sla.vendor", e.SLA.Vendor)
	v.positive("escalation.timer_tick", e.TimerTick)

	if c.Limits.MaxMessageBytes <= 0 {
		v.add("limits.max_message_bytes", "must be a positive number of bytes, e.g. 26214400 (25 MiB)")
	}
	v.positive("limits.ack_max_age", c.Limits.AckMaxAge)
	for _, l := range []struct {
		key string
		n   int
	}{
		{"limits.acks_per_sender_per_hour", c.Limits.AcksPerSenderPerHour},
		{"limits.acks_per_domain_per_hour", c.Limits.AcksPerDomainPerHour},
		{"limits.acks_per_hour", c.Limits.AcksPerHour},
		{"limits.notifications_per_hour", c.Limits.NotificationsPerHour},
		{"limits.updates_per_escalation_per_hour", c.Limits.UpdatesPerEscalationPerHour},
	} {
		if l.n < 0 {
			v.add(l.key, "must be 0 or more")
		}
	}
	if c.Limits.MaxHeaderBytes <= 0 {
		v.add("limits.max_header_bytes", "must be a positive number of bytes, e.g. 262144 (256 KiB)")
	}
	if c.Limits.MaxHeaderFields <= 0 {
		v.add("limits.max_header_fields", "must be a positive number of fields, e.g. 2000")
	}

	for i, d := range c.Staff.Domains {
		key := "staff.domains[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(d) == "":
			v.add(key, "empty domain")
		case strings.ContainsFunc(d, isSpace):
			v.add(key, "%q contains a space; list one domain per entry", d)
		case strings.Contains(d, "@"):
			v.add(key, "%q is an address; put it in staff.addresses, or give the domain alone", d)
		}
	}
	for i, a := range c.Staff.Addresses {
		key := "staff.addresses[" + strconv.Itoa(i) + "]"
		if strings.ContainsFunc(a, isSpace) {
			v.add(key, "%q contains a space; list one bare address per entry", a)
			continue
		}
		v.address(key, a, true)
	}

	seen := map[string]int{}
	for i, cu := range c.Customers {
		key := "customers[" + strconv.Itoa(i) + "]"
		switch d := strings.ToLower(strings.TrimSpace(cu.Domain)); {
		case d == "":
			v.add(key+".domain", "required, e.g. acme.test")
		case strings.ContainsFunc(d, isSpace) || strings.Contains(d, "@"):
			v.add(key+".domain", "%q is not a domain; give the part after the @, e.g. acme.test", cu.Domain)
		default:
			if j, dup := seen[d]; dup {
				v.add(key+".domain", "%s is already listed as customers[%d]", d, j)
			}
			seen[d] = i
		}
		if strings.TrimSpace(cu.Name) == "" {
			v.add(key+".name", "required: the customer's name as it appears in mail and tracking files")
		}
	}

	v.address("vendors.aws", c.Vendors.AWS, false)
	v.address("vendors.azure", c.Vendors.Azure, false)
	v.address("vendors.gcp", c.Vendors.GCP, false)
	v.address("vendors.oracle", c.Vendors.Oracle, false)

	v.roster("technical", c.Roster.Technical)
	v.roster("executive", c.Roster.Executive)
	v.roster("vendor", c.Roster.Vendor)

	cl := c.Classification
	if cl.RevenueThresholdUSD < 0 {
		v.add("classification.revenue_threshold_usd", "must be 0 or more")
	}
	if cl.CSATBelow < 0 {
		v.add("classification.csat_below", "must be 0 or more")
	}
	if cl.RepeatCount < 1 {
		v.add("classification.repeat_count", "must be 1 or more")
	}
	v.positive("classification.repeat_window", cl.RepeatWindow)
	return joinKeyErrors(v.errs)
}

// validator collects KeyErrors.
type validator struct{ errs []*KeyError }

func (v *validator) add(key, format string, args ...any) {
	v.errs = append(v.errs, keyErr(key, format, args...))
}

func (v *validator) required(key, val string) {
	if strings.TrimSpace(val) == "" {
		v.add(key, "required")
	}
}

func (v *validator) positive(key string, d time.Duration) {
	if d <= 0 {
		v.add(key, "must be a positive duration, e.g. 90s, 30m or 4h")
	}
}

// server checks the host, port and TLS mode of section ("imap" or "smtp").
func (v *validator) server(section, host string, port int, mode string, allowInsecure bool) {
	v.required(section+".host", host)
	if port < 1 || port > 65535 {
		v.add(section+".port", "must be 1-65535")
	}
	switch mode {
	case TLSImplicit, TLSStartTLS:
	case TLSNone:
		if !allowInsecure && host != "" && !isLoopback(host) {
			v.add(section+".tls", "none sends the password in clear text, so it is allowed only for a loopback host (127.0.0.1, ::1, localhost), not %s; use implicit or starttls, or set %s.allow_insecure: true", host, section)
		}
	default:
		v.add(section+".tls", "%q must be one of implicit, starttls, none", mode)
	}
}

// address checks that s is one bare address (a@b.example, no display name);
// "" is an error only when required.
func (v *validator) address(key, s string, required bool) {
	if s == "" {
		if required {
			v.add(key, "required, e.g. escalations@example.com")
		}
		return
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		v.add(key, "%q is not a mail address (%v)", s, err)
		return
	}
	if a.Address != s {
		v.add(key, "%q: give the bare address (%s), without a name or brackets", s, a.Address)
	}
}

// roster checks the level names and contacts of one type's roster.
func (v *validator) roster(typ string, levels map[string][]Contact) {
	ladder := ladders[typ]
	for _, name := range slices.Sorted(maps.Keys(levels)) {
		key := "roster." + typ + "." + strconv.Quote(name)
		if !slices.ContainsFunc(ladder, func(l string) bool { return strings.EqualFold(l, strings.TrimSpace(name)) }) {
			v.add(key, "not a level of the %s ladder; use one of %s", typ, strings.Join(ladder, ", "))
			continue
		}
		for i, ct := range levels[name] {
			ckey := key + "[" + strconv.Itoa(i) + "].email"
			v.address(ckey, ct.Email, true)
		}
	}
}

// isLoopback reports whether host is "localhost" or a loopback IP address
// (127.0.0.0/8, ::1), with or without IPv6 brackets.
func isLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
	return ip != nil && ip.IsLoopback()
}

func notAlnum(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
}

func isSpace(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' }
