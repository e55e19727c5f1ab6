package sqlite

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/escalationd/escalationd/workflow"
)

// RecordMessage records what became of a fetched message (workflow.MessageTx).
func (t *txn) RecordMessage(m workflow.MessageRecord) error {
	var esc any
	if m.EscalationID != 0 {
		esc = m.EscalationID
	}
	_, err := t.Exec(`INSERT INTO messages(mailbox, uidvalidity, uid, message_id, sha256, esc_id, disposition, reason, internal_date, handled_at, raw_path, content_sha)
		VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(mailbox, uidvalidity, uid) DO UPDATE SET marked = 0,
			disposition = CASE WHEN messages.disposition = 'applied' THEN 'applied' ELSE excluded.disposition END,
			reason = CASE WHEN messages.disposition = 'applied' THEN messages.reason ELSE excluded.reason END`,
		m.Ref.Mailbox, m.Ref.UIDValidity, m.Ref.UID, m.MessageID, m.RawSHA256, esc, string(m.Disposition), m.Reason,
		ms(m.Ref.InternalDate), ms(m.HandledAt), m.RawPath, m.ContentSHA)
	if err != nil {
		return fmt.Errorf("store: record message UID %d: %w", m.Ref.UID, err)
	}
	return nil
}

// AppliedByDigest returns the UID of a message applied with the raw digest
// rawSHA256 (workflow.MessageTx); ok is false when there is none.
func (t *txn) AppliedByDigest(rawSHA256 string) (uid int64, ok bool, err error) {
	err = t.QueryRow(`SELECT uid FROM messages WHERE sha256 = ? AND disposition = 'applied' LIMIT 1`, rawSHA256).Scan(&uid)
	switch {
	case err == nil:
		return uid, true, nil
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("store: look up digest: %w", err)
}

// AppliedByMessageID returns the messages applied with Message-ID mid, in
// the order they were recorded (workflow.MessageTx).
func (t *txn) AppliedByMessageID(mid string) ([]workflow.AppliedMessage, error) {
	rows, err := t.Query(`SELECT uid, content_sha FROM messages WHERE message_id = ? AND disposition = 'applied' ORDER BY id`, mid)
	if err != nil {
		return nil, fmt.Errorf("store: look up Message-ID: %w", err)
	}
	defer rows.Close()
	var out []workflow.AppliedMessage
	for rows.Next() {
		var m workflow.AppliedMessage
		if err := rows.Scan(&m.UID, &m.ContentSHA); err != nil {
			return nil, fmt.Errorf("store: look up Message-ID: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: look up Message-ID: %w", err)
	}
	return out, nil
}

// CountAttempt records one more failed apply of ref and returns how many it
// has had (workflow.MessageTx).
func (t *txn) CountAttempt(ref workflow.MessageRef, cause string) (int, error) {
	var n int
	err := t.QueryRow(`INSERT INTO attempts(mailbox, uidvalidity, uid, count, last_error) VALUES(?, ?, ?, 1, ?)
			ON CONFLICT(mailbox, uidvalidity, uid) DO UPDATE SET count = count + 1, last_error = excluded.last_error
			RETURNING count`, ref.Mailbox, ref.UIDValidity, ref.UID, cause).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count attempts: %w", err)
	}
	return n, nil
}

// ForgetAttempts forgets the attempts recorded for ref (workflow.MessageTx).
func (t *txn) ForgetAttempts(ref workflow.MessageRef) error {
	if _, err := t.Exec(`DELETE FROM attempts WHERE mailbox = ? AND uidvalidity = ? AND uid = ?`, ref.Mailbox, ref.UIDValidity, ref.UID); err != nil {
		return fmt.Errorf("store: forget attempts of UID %d: %w", ref.UID, err)
	}
	return nil
}
