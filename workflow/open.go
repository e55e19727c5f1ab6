package workflow

// A new escalation: its classification, its acknowledgement and the
// announcement to the roster.

import (
	"fmt"
	"strings"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

// customer returns the customers entry of email's domain, or a customer named
// by the address itself.
func (e *Engine) customer(email string) (config.Customer, bool) {
	domain := ""
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	for _, c := range e.cfg.Customers {
		if strings.EqualFold(c.Domain, domain) {
			return c, true
		}
	}
	return config.Customer{Domain: domain, Name: email}, false
}

// open creates a new escalation from in and queues its acknowledgement.
func (e *Engine) open(tx Tx, in *Inbound, now time.Time) (int64, error) {
	cust, known := e.customer(in.From.Email)
	opened := in.InternalDate
	if opened.IsZero() {
		opened = now
	}
	key := strings.ToLower(in.From.Email)
	if known {
		key = "customer:" + strings.ToLower(cust.Domain)
	}
	recent, err := tx.CountOpenedSince(key, opened.Add(-e.cfg.Classification.RepeatWindow))
	if err != nil {
		return 0, err
	}
	dec := e.class.Decide(in, cust, recent+1) // this one counted
	age := now.Sub(opened)
	tooOld := e.cfg.Limits.AckMaxAge > 0 && age > e.cfg.Limits.AckMaxAge
	clock := opened
	if tooOld {
		clock = now // §7: a backlog does not set off alerts at once
	}
	every := e.cfg.Escalation.UpdateInterval
	id, err := tx.OpenEscalation(NewEscalation{
		Escalation: Escalation{
			Type: dec.Type, Level: dec.Level, Status: dec.Status,
			CustomerName: cust.Name, CustomerEmail: in.From.Email, Vendor: dec.Vendor,
			RequesterName: in.From.Name, Subject: e.router.cleanSubject(in.Subject),
			Opened: opened, LevelChanged: clock, NextUpdate: clock.Add(every), UpdateEvery: every,
			RootMessageID: in.MessageID, Checklist: diagnosticData(in),
		},
		CustomerKey: key,
		ClockStart:  clock,
		Reasons:     dec.Reasons,
	})
	if err != nil {
		return 0, err
	}
	if err := e.claimTracking(id); err != nil {
		return 0, err
	}
	if err := addTimeline(tx, id, opened, "Initial escalation received from "+in.From.Email, in.From.Email); err != nil {
		return 0, err
	}
	if err := addTimeline(tx, id, now, fmt.Sprintf("Classified %s, level %s, status %s", dec.Type, dec.Level, dec.Status), ""); err != nil {
		return 0, err
	}
	switch {
	case tooOld:
		err = addTimeline(tx, id, now, fmt.Sprintf("No acknowledgement or notification sent: the message arrived %s ago, more than limits.ack_max_age (%s)", roundAge(age), e.cfg.Limits.AckMaxAge), "")
	default:
		var held string
		held, err = e.ackHeld(tx, in, known, now)
		if err != nil {
			return 0, err
		}
		if held != "" {
			e.log.Warn("acknowledgement not sent", "to", in.From.Email, "escalation", e.Tag(id), "reason", held)
			err = addTimeline(tx, id, now, held, "")
		} else {
			err = e.queueAck(tx, id, in, cust, dec.Type, dec.Level, clock.Add(every), now)
		}
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// announce tells the roster of a new escalation's starting level, and the
// vendor when it is a vendor escalation, once its opening message is logged
// (so both quote the customer's words). A backlog older than ack_max_age
// mails nobody (§10).
func (e *Engine) announce(tx Tx, id int64, in *Inbound, now time.Time) error {
	if e.cfg.Limits.AckMaxAge > 0 && !in.InternalDate.IsZero() && now.Sub(in.InternalDate) > e.cfg.Limits.AckMaxAge {
		return nil
	}
	st, err := loadEsc(tx, id)
	if err != nil {
		return err
	}
	held, err := e.notifyHeld(tx, now)
	if err != nil {
		return err
	}
	if held {
		e.log.Warn("notification not sent: limits.notifications_per_hour reached", "escalation", e.Tag(id), "limit", e.cfg.Limits.NotificationsPerHour)
		if err := addTimeline(tx, id, now, fmt.Sprintf("notification suppressed: rate limit (limits.notifications_per_hour is %d)", e.cfg.Limits.NotificationsPerHour), ""); err != nil {
			return err
		}
	} else if err := e.queueNotify(tx, st, "new escalation", "", now); err != nil {
		return err
	}
	if err := e.maybeVendorRequest(tx, st, now); err != nil {
		return err
	}
	return st.save(tx)
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// queueAck queues the acknowledgement of a new escalation (§8).
func (e *Engine) queueAck(tx Tx, id int64, in *Inbound, cust config.Customer, typ Type, level string, nextUpdate, now time.Time) error {
	tag := e.Tag(id)
	subject := e.router.cleanSubject(in.Subject)
	body, err := e.tmpl.Render(templates.Ack, templates.AckData{
		Salutation:  salutation(in.From.Name, cust.Name, in.From.Email),
		Subject:     subject,
		Tag:         tag,
		UpdateEvery: durationWords(e.cfg.Escalation.UpdateInterval),
		NextUpdate:  e.fieldTime(nextUpdate),
		Signature:   e.signature(typ, level),
	})
	if err != nil {
		return err
	}
	refs := append(append([]string{}, in.References...), in.MessageID)
	if in.MessageID == "" {
		refs = in.References
	}
	m := &Outgoing{
		EscalationID: id,
		Kind:         "ack",
		MessageID:    e.newMessageID(tag, "ack"),
		From:         Address{Name: e.fromName, Email: e.fromEmail},
		EnvelopeFrom: e.cfg.Escalation.Address,
		To:           []Address{{Name: OneLine(in.From.Name), Email: in.From.Email}},
		ReplyTo:      e.plusAddress(tag),
		Subject:      fmt.Sprintf("RE: %s - Escalation Acknowledged [%s]", subject, tag),
		InReplyTo:    in.MessageID,
		References:   refs,
		Date:         now,
		Headers:      e.mailHeaders("auto-replied"),
		Body:         body,
	}
	return e.enqueue(tx, m, now)
}

// signature is the first roster contact of the level that has a name, else
// the team name from smtp.from and the escalation address (§8).
func (e *Engine) signature(t Type, level string) templates.Signature {
	for _, c := range e.cfg.Roster.Contacts(string(t), level) {
		if c.Name == "" {
			continue
		}
		s := templates.Signature{Name: c.Name, Title: c.Title}
		if c.Phone != "" {
			s.Contact = append(s.Contact, c.Phone)
		}
		if c.Email != "" {
			s.Contact = append(s.Contact, c.Email)
		}
		return s
	}
	name := e.fromName
	if name == "" {
		name = "Escalations team"
	}
	return templates.Signature{Name: name, Contact: []string{e.cfg.Escalation.Address}}
}

// salutation is who "Dear …" addresses (§8): the sender's display name when
// it is fit to print (usableName, §11), else
// the customer's name (a customers entry; an unknown customer is named by its
// address, which does not count), else "Customer".
func salutation(displayName, customerName, email string) string {
	if n := strings.TrimSpace(displayName); usableName(n) {
		return OneLine(n)
	}
	if n := strings.TrimSpace(customerName); n != "" && !strings.EqualFold(n, email) {
		return OneLine(n)
	}
	return "Customer"
}

// durationWords writes an interval as people say it: "4 hours", "90 minutes".
func durationWords(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(int64(d.Round(time.Second)/time.Second), "second")
	}
}

// fieldTime writes t as the tracking file and mail do (FormatTime).
func (e *Engine) fieldTime(t time.Time) string {
	return FormatTime(t, e.loc)
}
