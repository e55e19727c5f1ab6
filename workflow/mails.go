package workflow

import (
	"fmt"
	"strings"
	"time"

	"github.com/escalationd/escalationd/templates"
)

// outgoing starts a mail of escalation s with the §8 headers: its own
// Message-ID, the tag in the subject, Reply-To the plus-address, threading
// to the escalation's first message.
func (e *Engine) outgoing(s *Escalation, kind, subject, autoSubmitted string, to []Address, now time.Time) *Outgoing {
	tag := e.Tag(s.ID)
	m := &Outgoing{
		EscalationID: s.ID,
		Kind:         kind,
		MessageID:    e.newMessageID(tag, kind),
		From:         Address{Name: e.fromName, Email: e.fromEmail},
		EnvelopeFrom: e.cfg.Escalation.Address,
		To:           to,
		ReplyTo:      e.plusAddress(tag),
		Subject:      OneLine(subject) + " [" + tag + "]",
		Date:         now,
		Headers:      e.mailHeaders(autoSubmitted),
	}
	if s.RootMessageID != "" {
		m.InReplyTo = s.RootMessageID
		m.References = []string{s.RootMessageID}
	}
	return m
}

// rosterAddresses are the addresses of the level's roster.
func (e *Engine) rosterAddresses(s *Escalation) []Address {
	var out []Address
	for _, c := range e.roster(s) {
		if c.Email != "" {
			out = append(out, Address{Name: c.Name, Email: c.Email})
		}
	}
	return out
}

func (e *Engine) customerText(s *Escalation) string {
	if s.CustomerName != "" && !strings.EqualFold(s.CustomerName, s.CustomerEmail) {
		return fmt.Sprintf("%s (%s)", s.CustomerName, s.CustomerEmail)
	}
	return s.CustomerEmail
}

// queueNotify tells the roster of s's level about it: summary, handoff
// checklist and the tracking file's path (§8).
// summary is the customer's text to quote; "" means their last logged one.
func (e *Engine) queueNotify(tx Tx, s *Escalation, reason, summary string, now time.Time) error {
	to := e.rosterAddresses(s)
	if len(to) == 0 {
		e.log.Warn("no roster for this level: nobody notified", "escalation", e.Tag(s.ID), "type", s.Type, "level", s.Level)
		return addTimeline(tx, s.ID, now, fmt.Sprintf("Nobody notified: roster.%s has no %q", strings.ToLower(string(s.Type)), s.Level), "")
	}
	reasons, err := tx.Reasons(s.ID)
	if err != nil {
		return err
	}
	if summary == "" {
		if summary, err = tx.LatestCustomerText(s.ID, s.CustomerEmail); err != nil {
			return err
		}
	}
	var checklist []string
	for i, item := range ChecklistItems {
		box := "[ ]"
		if s.Checklist&(1<<i) != 0 {
			box = "[x]"
		}
		checklist = append(checklist, fmt.Sprintf("%d. %s %s", i+1, box, item))
	}
	body, err := e.tmpl.Render(templates.Notify, templates.NotifyData{
		Tag: e.Tag(s.ID), Type: string(s.Type), Level: s.Level, Status: string(s.Status), Reason: OneLine(reason),
		Customer: e.customerText(s), Subject: s.Subject, Opened: e.fieldTime(s.Opened), NextUpdate: e.fieldTime(s.NextUpdate),
		Reasons: reasons, Summary: excerpt(summary, 1500), Checklist: checklist, TrackingPath: e.trackingPathForMail(s.ID),
	})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "notify", fmt.Sprintf("%s escalation at %s: %s", s.Type, s.Level, s.Subject), "auto-generated", to, now)
	m.Body = body
	return e.enqueueEach(tx, m, now)
}

// answer threads m to in, the staff message it answers.
func (m *Outgoing) answer(in *Inbound) {
	if in.MessageID != "" {
		m.InReplyTo = in.MessageID
		m.References = append(append([]string{}, in.References...), in.MessageID)
	}
}

// enqueueEach queues m once per recipient (§11): each copy has its own
// Message-ID and, for a staff recipient, that person's keyed reply address
// as its Reply-To, so a reply proves who wrote it.
func (e *Engine) enqueueEach(tx Tx, m *Outgoing, now time.Time) error {
	tag := e.Tag(m.EscalationID)
	for i, to := range m.To {
		c := *m
		c.To = []Address{to}
		if i > 0 {
			c.MessageID = e.newMessageID(tag, m.Kind)
		}
		c.ReplyTo = e.replyAddress(tag, to.Email)
		if err := e.enqueue(tx, &c, now); err != nil {
			return err
		}
	}
	return nil
}

// excerpt trims text to about n bytes on a line boundary.
func excerpt(text string, n int) string {
	text = strings.TrimSpace(text)
	if len(text) <= n {
		return text
	}
	cut := strings.LastIndexByte(text[:n], '\n')
	if cut < n/2 {
		cut = n
		for cut > 0 && text[cut]&0xc0 == 0x80 {
			cut--
		}
	}
	return strings.TrimSpace(text[:cut]) + "\n[…]"
}

// severity of a vendor case when staff named none.
func (s *Escalation) severity() string {
	if s.VendorSeverity != "" {
		return s.VendorSeverity
	}
	if s.Type == Executive {
		return "1 - Critical (executive escalation)"
	}
	return "2 - High"
}

// queueVendor sends the vendor case request (§8): business impact,
// severity and timeline.
func (e *Engine) queueVendor(tx Tx, s *Escalation, addr string, now time.Time) error {
	impact, err := tx.Reasons(s.ID)
	if err != nil {
		return err
	}
	impact = append([]string{fmt.Sprintf("customer %s, %s escalation at %s", e.customerText(s), s.Type, s.Level)}, impact...)
	words, err := tx.FirstCustomerText(s.ID, s.CustomerEmail)
	if err != nil {
		return err
	}
	if words = excerpt(words, 1500); words != "" {
		impact = append(impact, "in the customer's words:\n"+words)
	}
	entries, _, err := tx.TimelineAfter(s.ID, Position{})
	if err != nil {
		return err
	}
	var timeline []string
	for _, te := range entries {
		timeline = append(timeline, e.fieldTime(te.At)+" - "+te.Text)
	}
	body, err := e.tmpl.Render(templates.Vendor, templates.VendorData{
		Vendor: s.Vendor, Tag: e.Tag(s.ID), Customer: e.customerText(s), Subject: s.Subject, CaseID: s.VendorCase,
		Severity: s.severity(), Impact: impact, Timeline: timeline, Signature: e.signature(s.Type, s.Level),
	})
	if err != nil {
		return err
	}
	to := []Address{{Name: s.Vendor + " support", Email: addr}}
	subject := "Case request: " + s.Subject
	if s.VendorCase != "" {
		subject = fmt.Sprintf("Case %s: %s", s.VendorCase, s.Subject)
	}
	m := e.outgoing(s, "vendor", subject, "auto-generated", to, now)
	m.Body = body
	if err := e.enqueue(tx, m, now); err != nil {
		return err
	}
	if err := addParticipants(tx, s.ID, e.cfg.Escalation.Address, to); err != nil {
		return err
	}
	return addTimeline(tx, s.ID, now, fmt.Sprintf("Case request sent to %s (%s), severity %s", s.Vendor, addr, s.severity()), "")
}

// queueUpdate sends the customer an update (/update); the command checks
// limits.updates_per_escalation_per_hour first.
func (e *Engine) queueUpdate(tx Tx, s *Escalation, text string, now time.Time) error {
	body, err := e.tmpl.Render(templates.Update, templates.UpdateData{
		Salutation: salutation(s.RequesterName, s.CustomerName, s.CustomerEmail), Tag: e.Tag(s.ID), Text: text, NextUpdate: e.fieldTime(s.NextUpdate),
		Signature: e.signature(s.Type, s.Level),
	})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "update", "Update: "+s.Subject, "auto-generated", []Address{{Name: OneLine(s.RequesterName), Email: s.CustomerEmail}}, now)
	m.Body = body
	return e.enqueue(tx, m, now)
}

// queueErrors answers a staff mail whose commands failed, to its sender.
func (e *Engine) queueErrors(tx Tx, s *Escalation, in *Inbound, failures []templates.Failure, applied []string, now time.Time) error {
	body, err := e.tmpl.Render(templates.Errors, templates.ErrorsData{Tag: e.Tag(s.ID), Failures: failures, Applied: strings.Join(applied, ", ")})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "error", "Command errors: "+s.Subject, "auto-generated", []Address{{Email: in.From.Email}}, now)
	m.answer(in)
	m.Body = body
	if err := e.enqueueEach(tx, m, now); err != nil {
		return err
	}
	return addTimeline(tx, s.ID, now, fmt.Sprintf("%d command(s) failed; error mail sent to %s", len(failures), in.From.Email), in.From.Email)
}
