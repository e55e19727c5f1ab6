package sqlite

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// Enqueue queues m, due at once, queued at at (workflow.OutboxTx). The mail
// is stored as JSON, fixed at queue time; its first To address is the
// recipient the rate limit counts.
func (t *txn) Enqueue(m *workflow.Outgoing, at time.Time) error {
	if len(m.To) == 0 {
		return fmt.Errorf("queue %s mail: no recipient", m.Kind)
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("queue %s mail: %w", m.Kind, err)
	}
	if _, err := t.Exec(`INSERT INTO outbox(esc_id, kind, message_id, recipient, payload, status, next_attempt, queued_at) VALUES(?, ?, ?, ?, ?, 'queued', ?, ?)`,
		m.EscalationID, m.Kind, m.MessageID, m.To[0].Email, string(payload), ms(at), ms(at)); err != nil {
		return fmt.Errorf("store: queue %s mail: %w", m.Kind, err)
	}
	return nil
}
