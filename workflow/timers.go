package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/escalationd/escalationd/templates"
)

// RunTimers fires every timer that is due (§7), each escalation in its own
// transaction, and rewrites the tracking files it changed. The timers are
// computed from the store, and each records the due time it fired for in
// the same transaction as the mail it queues, so a restart neither loses
// one nor fires one twice. It returns how many fired.
func (e *Engine) RunTimers(ctx context.Context) (int, error) {
	now := e.now()
	var due []int64
	err := e.st.Read(ctx, func(tx Tx) error {
		open, err := tx.OpenEscalations()
		for _, s := range open {
			if e.slaDue(s, now) || e.reminderDue(s, now) {
				due = append(due, s.ID)
			}
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: list open escalations: %w", err)
	}
	if err := e.alertHeldNotifications(ctx, now); err != nil {
		return 0, err
	}
	if err := e.pruneRateEvents(ctx, now); err != nil {
		return 0, err
	}
	fired := 0
	for _, id := range due {
		var n int
		err := e.st.Update(ctx, func(tx Tx) error {
			s, err := loadEsc(tx, id)
			if err != nil {
				return err
			}
			if s.Status == StatusResolved {
				return nil
			}
			if e.slaDue(s, now) {
				if err := e.slaAtRisk(tx, s, now); err != nil {
					return err
				}
				n++
			}
			if e.reminderDue(s, now) {
				if err := e.remind(tx, s, now); err != nil {
					return err
				}
				n++
			}
			if n == 0 {
				return nil
			}
			return s.save(tx)
		})
		if err != nil {
			return fired, err
		}
		fired += n
		if n > 0 {
			e.signal()
			if err := e.render(ctx, id); err != nil {
				return fired, err
			}
		}
	}
	return fired, nil
}

// slaDue: more than half the type's SLA has passed since the last level
// change, and the timer has not fired for that level change.
func (e *Engine) slaDue(s *Escalation, now time.Time) bool {
	sla := e.sla(s.Type)
	return sla > 0 && now.Sub(s.LevelChanged) > sla/2 && !s.SLAAlertFor.Equal(s.LevelChanged)
}

// reminderDue: the next update is past and no reminder went out for it.
func (e *Engine) reminderDue(s *Escalation, now time.Time) bool {
	return !s.NextUpdate.IsZero() && now.After(s.NextUpdate) && !s.RemindedFor.Equal(s.NextUpdate)
}

// slaAtRisk moves a Technical escalation up one level, or alerts the roster
// of the current level of any other (or of a Technical one at the top).
func (e *Engine) slaAtRisk(tx Tx, s *Escalation, now time.Time) error {
	sla := e.sla(s.Type)
	used := int(now.Sub(s.LevelChanged) * 100 / sla)
	s.SLAAlertFor = s.LevelChanged
	what := fmt.Sprintf("SLA at risk: %d%% of %s used at %s", used, compactDuration(sla), s.Level)
	e.log.Warn("SLA at risk", "escalation", e.Tag(s.ID), "type", s.Type, "level", s.Level, "used_percent", used)
	if s.Type == Technical {
		if next, ok := NextLevel(s.Type, s.Level); ok {
			return e.changeLevel(tx, s, next, what, "", now)
		}
	}
	to := e.rosterAddresses(s)
	if len(to) == 0 {
		return addTimeline(tx, s.ID, now, what+"; nobody to alert: the level has no roster", "")
	}
	body, err := e.tmpl.Render(templates.Alert, templates.AlertData{
		Tag: e.Tag(s.ID), Consumed: fmt.Sprintf("%d%%", used), SLA: compactDuration(sla), Level: s.Level,
		Customer: e.customerText(s), Subject: s.Subject, Status: string(s.Status), Owner: orNone(s.Owner), TrackingPath: e.trackingPathForMail(s.ID),
	})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "alert", "SLA at risk: "+s.Subject, "auto-generated", to, now)
	m.Body = body
	if err := e.enqueueEach(tx, m, now); err != nil {
		return err
	}
	return addTimeline(tx, s.ID, now, what+"; roster alerted", "")
}

// remind tells the owner, or else the level's roster, that the customer's
// update is overdue (§7).
func (e *Engine) remind(tx Tx, s *Escalation, now time.Time) error {
	s.RemindedFor = s.NextUpdate
	to := e.ownerAddresses(s)
	if len(to) == 0 {
		return addTimeline(tx, s.ID, now, "Update overdue; nobody to remind: no owner address and no roster", "")
	}
	body, err := e.tmpl.Render(templates.Reminder, templates.ReminderData{
		Tag: e.Tag(s.ID), Due: e.fieldTime(s.NextUpdate), Customer: e.customerText(s), Subject: s.Subject,
		Level: s.Level, Status: string(s.Status), Owner: orNone(s.Owner), TrackingPath: e.trackingPathForMail(s.ID),
	})
	if err != nil {
		return err
	}
	m := e.outgoing(s, "reminder", "Reminder: update overdue - "+s.Subject, "auto-generated", to, now)
	m.Body = body
	if err := e.enqueueEach(tx, m, now); err != nil {
		return err
	}
	names := make([]string, len(to))
	for i, a := range to {
		names[i] = a.Email
	}
	return addTimeline(tx, s.ID, now, fmt.Sprintf("Update overdue since %s; reminder sent to %s", e.fieldTime(s.NextUpdate), strings.Join(names, ", ")), "")
}

// ownerAddresses is where a reminder goes: the owner when /assign named an
// address ("@bob@example.com") or a handle that becomes one in the first
// staff domain ("@bob" → bob@example.com); else the level's roster.
func (e *Engine) ownerAddresses(s *Escalation) []Address {
	h := strings.TrimPrefix(strings.TrimSpace(s.Owner), "@")
	switch {
	case strings.Contains(h, "@"):
		return []Address{{Email: h}}
	case h != "" && len(e.cfg.Staff.Domains) > 0:
		return []Address{{Email: h + "@" + e.cfg.Staff.Domains[0]}}
	}
	return e.rosterAddresses(s)
}
