package sqlite

import (
	"database/sql"
	"encoding/json"
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

// OpenEscalation records a new escalation with its reasons and returns its
// number (workflow.EscalationTx).
func (t *txn) OpenEscalation(n workflow.NewEscalation) (int64, error) {
	res, err := t.Exec(`INSERT INTO escalations(type, level, status, customer_name, customer_email, customer_key, vendor, requester_name, subject,
		opened_at, clock_start, level_changed_at, next_update_at, update_every, root_message_id, checklist)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		string(n.Type), n.Level, string(n.Status), n.CustomerName, n.CustomerEmail, n.CustomerKey, n.Vendor, n.RequesterName, n.Subject,
		ms(n.Opened), ms(n.ClockStart), ms(n.LevelChanged), ms(n.NextUpdate), int64(n.UpdateEvery), n.RootMessageID, n.Checklist)
	if err != nil {
		return 0, fmt.Errorf("store: open escalation: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: open escalation: %w", err)
	}
	for i, r := range n.Reasons {
		if _, err := t.Exec(`INSERT INTO reasons(esc_id, seq, text) VALUES(?, ?, ?)`, id, i+1, r); err != nil {
			return 0, fmt.Errorf("store: add reason: %w", err)
		}
	}
	return id, nil
}

// CountOpenedSince counts the escalations of customerKey opened after since
// (workflow.EscalationTx).
func (t *txn) CountOpenedSince(customerKey string, since time.Time) (int, error) {
	var n int
	if err := t.QueryRow(`SELECT count(*) FROM escalations WHERE customer_key = ? AND opened_at > ?`,
		customerKey, ms(since)).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count the customer's escalations: %w", err)
	}
	return n, nil
}

// EscalationExists reports whether escalation id exists
// (workflow.EscalationTx).
func (t *txn) EscalationExists(id int64) (bool, error) {
	var one int
	err := t.QueryRow(`SELECT 1 FROM escalations WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: look up escalation %d: %w", id, err)
	}
	return true, nil
}

// CustomerKey returns the repeat rule's key of escalation id
// (workflow.EscalationTx); ErrNotFound when there is none.
func (t *txn) CustomerKey(id int64) (string, error) {
	var key string
	err := t.QueryRow(`SELECT customer_key FROM escalations WHERE id = ?`, id).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("escalation %d: %w", id, workflow.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("store: read escalation %d: %w", id, err)
	}
	return key, nil
}

// BumpVersion marks escalation id changed (workflow.EscalationTx).
func (t *txn) BumpVersion(id int64) error {
	if _, err := t.Exec(`UPDATE escalations SET version = version + 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: bump version of %d: %w", id, err)
	}
	return nil
}

// AddTimeline adds an entry to the timeline of escalation id
// (workflow.EscalationTx).
func (t *txn) AddTimeline(id int64, at time.Time, text, actor string) error {
	if _, err := t.Exec(`INSERT INTO timeline(esc_id, at, text, actor) VALUES(?, ?, ?, ?)`, id, ms(at), text, actor); err != nil {
		return fmt.Errorf("store: add timeline entry: %w", err)
	}
	return nil
}

// LogInbound adds a received message to the log of escalation id and
// returns its log id (workflow.EscalationTx). The recipients are stored as
// a JSON list.
func (t *txn) LogInbound(id int64, e workflow.LogEntry) (int64, error) {
	rcpts, err := json.Marshal(append([]workflow.Address{}, e.To...)) // [] for none, never null
	if err != nil {
		return 0, fmt.Errorf("store: log message: %w", err)
	}
	res, err := t.Exec(`INSERT INTO log(esc_id, at, inbound, from_name, from_email, recipients, subject, text, note) VALUES(?, ?, 1, ?, ?, ?, ?, ?, ?)`,
		id, ms(e.At), e.From.Name, e.From.Email, string(rcpts), e.Subject, e.Text, e.Note)
	if err != nil {
		return 0, fmt.Errorf("store: log message: %w", err)
	}
	logID, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("store: log message: %w", err)
	}
	return logID, nil
}

// AddAttachment records a saved attachment of log entry logID
// (workflow.EscalationTx).
func (t *txn) AddAttachment(id, logID int64, a workflow.LoggedAttachment) error {
	if _, err := t.Exec(`INSERT INTO attachments(esc_id, log_id, name, rel_path, size) VALUES(?, ?, ?, ?, ?)`,
		id, logID, a.Name, a.RelPath, a.Size); err != nil {
		return fmt.Errorf("store: record attachment: %w", err)
	}
	return nil
}

// AttachmentKnown reports whether an attachment is recorded at relPath
// (workflow.EscalationTx).
func (t *txn) AttachmentKnown(relPath string) (bool, error) {
	var one int
	err := t.QueryRow(`SELECT 1 FROM attachments WHERE rel_path = ?`, relPath).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("store: look up attachment %s: %w", relPath, err)
}
