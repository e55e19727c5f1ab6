package workflow

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/escalationd/escalationd/templates"
)

// The trust boundary (§11): who may steer an escalation, and the limits that
// keep the escalation address from being turned against third parties.

// authenticated reports whether in, from a staff address, proves its sender
// for escalation id: delivered to that person's keyed reply address of id,
// or vouched for by the trusted Authentication-Results. why says what was
// found, for the log and the timeline.
func (e *Engine) authenticated(in *Inbound, id int64) (ok bool, why string) {
	if e.keyAuthenticated(in, id) {
		return true, "sent to the reply address made for " + in.From.Email
	}
	ok, arWhy := authenticatedSender(in, e.cfg.Staff.AuthservID)
	if ok {
		return true, arWhy
	}
	return false, "not sent to a reply address made for " + in.From.Email + ", and " + arWhy
}

// Rate-event kinds, counted an hour back.
const (
	rateAckAddress  = "ack_address"  // key: the address, case-folded, plus-tag removed
	rateAckDomain   = "ack_domain"   // key: the domain
	rateAckAll      = "ack_all"      // key: ""
	rateNotify      = "notify_new"   // key: ""; one per new escalation notified
	rateNotifyHeld  = "notify_held"  // key: ""; one per new escalation not notified
	rateHeldAlert   = "notify_alert" // key: ""; the hourly alert about notify_held
	rateUpdate      = "update"       // key: the escalation's tag
	rateUnauthReply = "unauth_reply" // key: the escalation's tag
)

// rateCount counts the events of kind and key in the hour before now.
func rateCount(tx Tx, kind, key string, now time.Time) (int, error) {
	return tx.RateEvents(kind, key, now.Add(-time.Hour))
}

// rateNote records one event of kind and key at now.
func rateNote(tx Tx, kind, key string, now time.Time) error {
	return tx.NoteRateEvent(kind, key, now)
}

// pruneRateEvents forgets events older than a day: no limit looks further
// back than an hour, and the held-notification alert than since its last.
func (e *Engine) pruneRateEvents(ctx context.Context, now time.Time) error {
	return e.st.Update(ctx, func(tx Tx) error {
		return tx.PruneRateEvents(now.Add(-24 * time.Hour))
	})
}

// rateAddress is how the per-address limit counts an address: case-folded,
// with any plus-tag removed, so victim+1@ and Victim+2@ are one address.
func rateAddress(addr string) string {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr
	}
	local, domain := addr[:at], addr[at+1:]
	if i := strings.IndexByte(local, '+'); i > 0 {
		local = local[:i]
	}
	return local + "@" + domain
}

// ackHeld says why the acknowledgement of in may not go out ("" when it
// may): the sender is not authenticated (with
// ack_requires_authenticated_sender), or a limit of §11 is reached. A
// customers domain is exempt from the per-domain limit only.
func (e *Engine) ackHeld(tx Tx, in *Inbound, knownCustomer bool, now time.Time) (string, error) {
	l := e.cfg.Limits
	if l.AckRequiresAuthenticatedSender {
		if ok, why := senderPasses(in, e.cfg.Staff.AuthservID); !ok {
			return "acknowledgement suppressed: sender not authenticated (" + why + ")", nil
		}
	}
	addr := rateAddress(in.From.Email)
	checks := []struct {
		kind, key, name string
		limit           int
		skip            bool
	}{
		{rateAckAddress, addr, "limits.acks_per_sender_per_hour", l.AcksPerSenderPerHour, false},
		{rateAckDomain, domainOf(addr), "limits.acks_per_domain_per_hour", l.AcksPerDomainPerHour, knownCustomer},
		{rateAckAll, "", "limits.acks_per_hour", l.AcksPerHour, false},
	}
	for _, c := range checks {
		if c.skip {
			continue
		}
		n, err := rateCount(tx, c.kind, c.key, now)
		if err != nil {
			return "", err
		}
		if n >= c.limit {
			return fmt.Sprintf("acknowledgement suppressed: rate limit (%s is %d)", c.name, c.limit), nil
		}
	}
	for _, c := range checks {
		if err := rateNote(tx, c.kind, c.key, now); err != nil {
			return "", err
		}
	}
	return "", nil
}

// notifyHeld reports whether the notification of a new escalation must be
// held back by limits.notifications_per_hour, and counts it either way.
func (e *Engine) notifyHeld(tx Tx, now time.Time) (bool, error) {
	n, err := rateCount(tx, rateNotify, "", now)
	if err != nil {
		return false, err
	}
	if n >= e.cfg.Limits.NotificationsPerHour {
		return true, rateNote(tx, rateNotifyHeld, "", now)
	}
	return false, rateNote(tx, rateNotify, "", now)
}

// alertHeldNotifications sends the rosters of each type's starting level one
// mail saying how many notifications of new escalations were held back since
// the last such alert, at most one an hour.
func (e *Engine) alertHeldNotifications(ctx context.Context, now time.Time) error {
	return e.st.Update(ctx, func(tx Tx) error {
		recent, err := rateCount(tx, rateHeldAlert, "", now)
		if err != nil || recent > 0 {
			return err
		}
		// The held notifications after the last alert are the ones it did
		// not count.
		held, first, err := tx.EventsSinceLast(rateNotifyHeld, rateHeldAlert)
		if err != nil {
			return err
		}
		if held == 0 {
			return nil
		}
		body, err := e.tmpl.Render(templates.Suppressed, templates.SuppressedData{
			Count: held, Since: e.fieldTime(first), Limit: e.cfg.Limits.NotificationsPerHour, TrackingDir: e.trackingDirForMail(),
		})
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, typ := range []Type{Technical, Executive, Vendor} {
			for _, c := range e.cfg.Roster.Contacts(string(typ), StartLevel(typ)) {
				if c.Email == "" || seen[strings.ToLower(c.Email)] {
					continue
				}
				seen[strings.ToLower(c.Email)] = true
				m := &Outgoing{
					Kind:         "alert",
					MessageID:    e.newMessageID("limits", "alert"),
					From:         Address{Name: e.fromName, Email: e.fromEmail},
					EnvelopeFrom: e.cfg.Escalation.Address,
					To:           []Address{{Name: c.Name, Email: c.Email}},
					ReplyTo:      e.cfg.Escalation.Address,
					Subject:      fmt.Sprintf("%d notification(s) of new escalations held back: rate limit", held),
					Date:         now,
					Headers:      e.mailHeaders("auto-generated"),
					Body:         body,
				}
				if err := e.enqueue(tx, m, now); err != nil {
					return err
				}
			}
		}
		e.log.Warn("notifications of new escalations held back by limits.notifications_per_hour; rosters alerted", "held", held, "limit", e.cfg.Limits.NotificationsPerHour)
		return rateNote(tx, rateHeldAlert, "", now)
	})
}

// refuseCommands handles the command lines of a staff mail that nothing
// authenticated: nothing changes, the timeline says so, and the address the
// mail claims gets one mail (at most one per escalation an hour) listing
// the commands, with that person's keyed reply address, so a reply that
// carries them again applies them.
func (e *Engine) refuseCommands(tx Tx, s *Escalation, in *Inbound, cmds []Command, why string, now time.Time) error {
	actor := in.From.Email
	tag := e.Tag(s.ID)
	e.log.Warn("commands in unauthenticated mail from a staff address not applied", "from", actor, "escalation", tag, "commands", len(cmds), "reason", why)
	if err := addTimeline(tx, s.ID, now, fmt.Sprintf("%d command(s) from %s not applied: mail not authenticated (%s)", len(cmds), actor, why), actor); err != nil {
		return err
	}
	n, err := rateCount(tx, rateUnauthReply, tag, now)
	if err != nil {
		return err
	}
	if n > 0 {
		return addTimeline(tx, s.ID, now, "no mail about it to "+actor+": one went out within the hour", "")
	}
	lines := make([]string, len(cmds))
	for i, c := range cmds {
		lines[i] = OneLine(c.Line)
	}
	body, err := e.tmpl.Render(templates.Unauthenticated, templates.UnauthenticatedData{Tag: tag, Reason: why, Commands: lines})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "error", "Commands not applied: "+s.Subject, "auto-generated", []Address{{Email: actor}}, now)
	m.answer(in)
	m.Body = body
	if err := e.enqueueEach(tx, m, now); err != nil {
		return err
	}
	return rateNote(tx, rateUnauthReply, tag, now)
}

// usableName reports whether a sender's display name may be printed after
// "Dear": not one that holds a URL, an address, or more than 64 characters,
// which would let a stranger write their own text into our mail.
func usableName(name string) bool {
	name = strings.TrimSpace(name)
	return name != "" && utf8.RuneCountInString(name) <= 64 && !strings.Contains(name, "@") && !urlLike.MatchString(name)
}

// urlLike finds a URL or a bare host name ("evil.example", "www.x").
var urlLike = regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://|www\.|[a-z0-9-]+\.(?:[a-z0-9-]+\.)*[a-z]{2,}(?:[/:]|\b)`)
