package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
)

// ThreadOf returns the escalation Message-ID mid threads to; ok is false
// when it names none or is ambiguous (workflow.ThreadTx).
func (t *txn) ThreadOf(mid string) (escID int64, ok bool, err error) {
	err = t.QueryRow(`SELECT esc_id FROM thread_ids WHERE message_id = ? AND ambiguous = 0`, mid).Scan(&escID)
	switch {
	case err == nil:
		return escID, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("store: look up thread %s: %w", mid, err)
}

// AddThreadID remembers that Message-ID mid threads to escalation escID,
// unless it is remembered already (workflow.ThreadTx).
func (t *txn) AddThreadID(mid string, escID int64, outbound bool) error {
	q := `INSERT OR IGNORE INTO thread_ids(message_id, esc_id, outbound) VALUES(?, ?, 0)`
	if outbound {
		q = `INSERT OR IGNORE INTO thread_ids(message_id, esc_id, outbound) VALUES(?, ?, 1)`
	}
	if _, err := t.Exec(q, mid, escID); err != nil {
		return fmt.Errorf("store: remember thread id: %w", err)
	}
	return nil
}

// MarkThreadAmbiguous records that Message-ID mid, shared with the applied
// message of UID uid, threads to nothing (workflow.ThreadTx).
func (t *txn) MarkThreadAmbiguous(mid string, uid int64) error {
	if _, err := t.Exec(`INSERT INTO thread_ids(message_id, esc_id, outbound, ambiguous) SELECT ?, esc_id, 0, 1 FROM messages WHERE uid = ? AND message_id = ? AND esc_id IS NOT NULL LIMIT 1
			ON CONFLICT(message_id) DO UPDATE SET ambiguous = 1`, mid, uid, mid); err != nil {
		return fmt.Errorf("store: mark Message-ID ambiguous: %w", err)
	}
	return nil
}

// IsOwnMessageID reports whether mid is the Message-ID of queued mail
// (workflow.ThreadTx).
func (t *txn) IsOwnMessageID(mid string) (bool, error) {
	var one int
	err := t.QueryRow(`SELECT 1 FROM outbox WHERE message_id = ?`, mid).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("store: look up our own Message-IDs: %w", err)
}

// QueuedFor returns the escalation of the mail queued with Message-ID mid
// (workflow.ThreadTx); ok is false when no mail has it.
func (t *txn) QueuedFor(mid string) (escID int64, ok bool, err error) {
	err = t.QueryRow(`SELECT esc_id FROM outbox WHERE message_id = ?`, mid).Scan(&escID)
	switch {
	case err == nil:
		return escID, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("store: look up reported mail %s: %w", mid, err)
}

// AddParticipant makes email a participant of escalation id
// (workflow.ThreadTx).
func (t *txn) AddParticipant(id int64, email string) error {
	if _, err := t.Exec(`INSERT OR IGNORE INTO participants(esc_id, email) VALUES(?, ?)`, id, email); err != nil {
		return fmt.Errorf("store: add participant: %w", err)
	}
	return nil
}

// IsParticipant reports whether email is a participant of escalation id
// (workflow.ThreadTx).
func (t *txn) IsParticipant(id int64, email string) (bool, error) {
	var one int
	err := t.QueryRow(`SELECT 1 FROM participants WHERE esc_id = ? AND email = ?`, id, email).Scan(&one)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	}
	return false, fmt.Errorf("store: look up participant: %w", err)
}
