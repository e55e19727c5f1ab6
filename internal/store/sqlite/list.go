package sqlite

import (
	"fmt"

	"github.com/escalationd/escalationd/workflow"
)

// Summaries returns every escalation's summary as the store has it, by
// number (workflow.ListTx).
func (t *txn) Summaries() ([]workflow.SummaryRecord, error) {
	rows, err := t.Query(`SELECT e.id, e.type, e.level, e.status, e.customer_name, e.customer_email, e.subject, e.opened_at, e.next_update_at,
		e.level_changed_at, e.owner, e.resolved_at,
		(SELECT count(*) FROM log l WHERE l.esc_id = e.id AND l.inbound = 1),
		(SELECT count(*) FROM outbox o WHERE o.esc_id = e.id AND o.status = 'sent'),
		(SELECT count(*) FROM attachments a WHERE a.esc_id = e.id)
		FROM escalations e ORDER BY e.id`)
	if err != nil {
		return nil, fmt.Errorf("store: list escalations: %w", err)
	}
	defer rows.Close()
	var out []workflow.SummaryRecord
	for rows.Next() {
		var r workflow.SummaryRecord
		var typ, status string
		var opened, next, changed, resolved int64
		if err := rows.Scan(&r.ID, &typ, &r.Level, &status, &r.CustomerName, &r.CustomerEmail, &r.Subject, &opened, &next, &changed, &r.Owner, &resolved,
			&r.Messages, &r.Sent, &r.Attachments); err != nil {
			return nil, fmt.Errorf("store: list escalations: %w", err)
		}
		r.Type, r.Status = workflow.Type(typ), workflow.Status(status)
		r.Opened, r.NextUpdateDue = fromMS(opened), fromMS(next)
		r.LevelChanged, r.ResolvedAt = fromMS(changed), fromMS(resolved)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list escalations: %w", err)
	}
	return out, nil
}

// MessageCounts counts the fetched messages by disposition
// (workflow.ListTx).
func (t *txn) MessageCounts() (map[workflow.Disposition]int, error) {
	rows, err := t.Query(`SELECT disposition, count(*) FROM messages GROUP BY disposition`)
	if err != nil {
		return nil, fmt.Errorf("store: count messages: %w", err)
	}
	defer rows.Close()
	out := map[workflow.Disposition]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, fmt.Errorf("store: count messages: %w", err)
		}
		out[workflow.Disposition(d)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: count messages: %w", err)
	}
	return out, nil
}
