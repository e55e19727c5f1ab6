package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// DueMail returns up to limit queued mails after outbox id after that are
// due at due, by id (workflow.SendTx).
func (t *txn) DueMail(after int64, due time.Time, limit int) ([]workflow.QueuedMail, error) {
	rows, err := t.Query(`SELECT id, attempts, payload FROM outbox
		WHERE status = 'queued' AND id > ? AND next_attempt <= ? ORDER BY id LIMIT ?`, after, ms(due), limit)
	if err != nil {
		return nil, fmt.Errorf("store: next queued mail: %w", err)
	}
	defer rows.Close()
	var out []workflow.QueuedMail
	for rows.Next() {
		var q workflow.QueuedMail
		var payload string
		if err := rows.Scan(&q.ID, &q.Attempts, &payload); err != nil {
			return nil, fmt.Errorf("store: next queued mail: %w", err)
		}
		if err := json.Unmarshal([]byte(payload), &q.Mail); err != nil {
			return nil, fmt.Errorf("store: queued mail %d is unreadable: %w", q.ID, err)
		}
		q.Mail.ID = q.ID
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: next queued mail: %w", err)
	}
	return out, nil
}

// NextMailDue returns the earliest next attempt of the queued mail; ok is
// false when nothing is queued (workflow.SendTx).
func (t *txn) NextMailDue() (time.Time, bool, error) {
	var at sql.NullInt64
	if err := t.QueryRow(`SELECT min(next_attempt) FROM outbox WHERE status = 'queued'`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next queued mail: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(at.Int64), true, nil
}

// QueuedMailCount counts the queued mail (workflow.SendTx).
func (t *txn) QueuedMailCount() (int, error) {
	var n int
	if err := t.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count queued mail: %w", err)
	}
	return n, nil
}

// Outbox lists every mail of the outbox, by id (workflow.SendTx).
func (t *txn) Outbox() ([]workflow.OutboxItem, error) {
	rows, err := t.Query(`SELECT id, payload, status, attempts, last_error FROM outbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	defer rows.Close()
	var out []workflow.OutboxItem
	for rows.Next() {
		var it workflow.OutboxItem
		var payload string
		if err := rows.Scan(&it.ID, &payload, &it.Status, &it.Attempts, &it.LastError); err != nil {
			return nil, fmt.Errorf("store: list outbox: %w", err)
		}
		id := it.ID
		if err := json.Unmarshal([]byte(payload), &it.Outgoing); err != nil {
			return nil, fmt.Errorf("store: outbox row %d: %w", id, err)
		}
		it.ID = id
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	return out, nil
}

// MailSent records that the server accepted outbox mail id
// (workflow.SendTx).
func (t *txn) MailSent(id int64, at time.Time) error {
	if _, err := t.Exec(`UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' WHERE id = ?`, ms(at), id); err != nil {
		return fmt.Errorf("store: mark mail sent: %w", err)
	}
	return nil
}

// MailDeferred records a transient failure of outbox mail id
// (workflow.SendTx).
func (t *txn) MailDeferred(id int64, next time.Time, cause string) error {
	if _, err := t.Exec(`UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`,
		ms(next), cause, id); err != nil {
		return fmt.Errorf("store: defer mail: %w", err)
	}
	return nil
}

// MailFailed records that the server refused outbox mail id for good
// (workflow.SendTx).
func (t *txn) MailFailed(id int64, cause string) error {
	if _, err := t.Exec(`UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`, cause, id); err != nil {
		return fmt.Errorf("store: mark mail failed: %w", err)
	}
	return nil
}

// LogOutbound adds a sent mail to its escalation's log (workflow.SendTx).
func (t *txn) LogOutbound(m *workflow.Outgoing, at time.Time, text, note string) error {
	rcpts, _ := json.Marshal(append(append([]workflow.Address{}, m.To...), m.Cc...))
	if _, err := t.Exec(`INSERT INTO log(esc_id, at, inbound, from_name, from_email, recipients, subject, text, note) VALUES(?, ?, 0, ?, ?, ?, ?, ?, ?)`,
		m.EscalationID, ms(at), m.From.Name, m.From.Email, string(rcpts), m.Subject, text, note); err != nil {
		return fmt.Errorf("store: log sent mail: %w", err)
	}
	return nil
}

// TickCustomerNotified ticks checklist item 7 of escalation id
// (workflow.SendTx).
func (t *txn) TickCustomerNotified(id int64) error {
	if _, err := t.Exec(`UPDATE escalations SET checklist = checklist | 64 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("store: tick checklist: %w", err)
	}
	return nil
}

// FirstCustomerText returns the text of the first message from email logged
// in escalation id; "" when there is none (workflow.SendTx).
func (t *txn) FirstCustomerText(id int64, email string) (string, error) {
	var text string
	err := t.QueryRow(`SELECT text FROM log WHERE esc_id = ? AND inbound = 1 AND from_email = ? COLLATE NOCASE ORDER BY id LIMIT 1`, id, email).Scan(&text)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: read the customer's words: %w", err)
	}
	return text, nil
}

// LatestCustomerText returns the text of the last message from email logged
// in escalation id; "" when there is none (workflow.SendTx).
func (t *txn) LatestCustomerText(id int64, email string) (string, error) {
	var text string
	err := t.QueryRow(`SELECT text FROM log WHERE esc_id = ? AND inbound = 1 AND from_email = ? COLLATE NOCASE ORDER BY id DESC LIMIT 1`, id, email).Scan(&text)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("store: read last customer text: %w", err)
	}
	return text, nil
}
