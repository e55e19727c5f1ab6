package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

const escColumns = `id, type, level, status, owner, subject, customer_name, customer_email, requester_name, root_message_id,
	opened_at, level_changed_at, next_update_at, update_every, checklist, vendor, vendor_case, vendor_severity, vendor_requested,
	sla_alert_for, reminded_for, resolved_at, vendor_confirmed`

func scanEsc(row interface{ Scan(...any) error }) (*workflow.Escalation, error) {
	var s workflow.Escalation
	var typ, status string
	var opened, changed, next, every, alert, reminded, resolved int64
	err := row.Scan(&s.ID, &typ, &s.Level, &status, &s.Owner, &s.Subject, &s.CustomerName, &s.CustomerEmail, &s.RequesterName, &s.RootMessageID,
		&opened, &changed, &next, &every, &s.Checklist, &s.Vendor, &s.VendorCase, &s.VendorSeverity, &s.VendorAsked,
		&alert, &reminded, &resolved, &s.VendorConfirmed)
	if err != nil {
		return nil, err
	}
	s.Type, s.Status = workflow.Type(typ), workflow.Status(status)
	s.Opened, s.LevelChanged, s.NextUpdate = fromMS(opened), fromMS(changed), fromMS(next)
	s.UpdateEvery = time.Duration(every)
	s.SLAAlertFor, s.RemindedFor, s.ResolvedAt = fromMS(alert), fromMS(reminded), fromMS(resolved)
	return &s, nil
}

// Escalation reads escalation id (workflow.EscalationTx); ErrNotFound when
// there is none.
func (t *txn) Escalation(id int64) (*workflow.Escalation, error) {
	s, err := scanEsc(t.QueryRow(`SELECT `+escColumns+` FROM escalations WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("escalation %d: %w", id, workflow.ErrNotFound)
	}
	return s, err
}

// SaveEscalation writes s back and bumps its version
// (workflow.EscalationTx).
func (t *txn) SaveEscalation(s *workflow.Escalation) error {
	_, err := t.Exec(`UPDATE escalations SET type = ?, level = ?, status = ?, owner = ?, level_changed_at = ?, next_update_at = ?,
		update_every = ?, checklist = ?, vendor = ?, vendor_case = ?, vendor_severity = ?, vendor_requested = ?,
		sla_alert_for = ?, reminded_for = ?, resolved_at = ?, vendor_confirmed = ?, version = version + 1 WHERE id = ?`,
		string(s.Type), s.Level, string(s.Status), s.Owner, ms(s.LevelChanged), ms(s.NextUpdate),
		int64(s.UpdateEvery), s.Checklist, s.Vendor, s.VendorCase, s.VendorSeverity, s.VendorAsked,
		ms(s.SLAAlertFor), ms(s.RemindedFor), ms(s.ResolvedAt), s.VendorConfirmed, s.ID)
	if err != nil {
		return fmt.Errorf("store: save escalation %d: %w", s.ID, err)
	}
	return nil
}

// OpenEscalations reads every escalation not resolved, by number
// (workflow.EscalationTx).
func (t *txn) OpenEscalations() ([]*workflow.Escalation, error) {
	rows, err := t.Query(`SELECT ` + escColumns + ` FROM escalations WHERE status <> 'RESOLVED' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*workflow.Escalation
	for rows.Next() {
		s, err := scanEsc(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
