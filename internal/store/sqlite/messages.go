package sqlite

import (
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
