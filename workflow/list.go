package workflow

import (
	"context"
	"fmt"
	"time"
)

// Summary is one escalation as `list` and the demo show it.
type Summary struct {
	ID            int64
	Tag           string
	Type          Type
	Level         string
	Status        Status
	CustomerName  string
	CustomerEmail string
	Subject       string
	Opened        time.Time
	NextUpdateDue time.Time
	Messages      int // inbound messages logged
	Sent          int // outbound mail accepted by the server
	Attachments   int
	TrackingPath  string
	Owner         string
	SLAConsumed   int  // percent of the type's SLA since the last level change
	Overdue       bool // the next update is past
}

// List returns every escalation, oldest first.
func (e *Engine) List(ctx context.Context) ([]Summary, error) {
	now := e.now()
	rows, err := e.db().QueryContext(ctx, `SELECT e.id, e.type, e.level, e.status, e.customer_name, e.customer_email, e.subject, e.opened_at, e.next_update_at,
		e.level_changed_at, e.owner, e.resolved_at,
		(SELECT count(*) FROM log l WHERE l.esc_id = e.id AND l.inbound = 1),
		(SELECT count(*) FROM outbox o WHERE o.esc_id = e.id AND o.status = 'sent'),
		(SELECT count(*) FROM attachments a WHERE a.esc_id = e.id)
		FROM escalations e ORDER BY e.id`)
	if err != nil {
		return nil, fmt.Errorf("store: list escalations: %w", err)
	}
	defer rows.Close()
	var out []Summary
	for rows.Next() {
		var s Summary
		var typ, status string
		var opened, next, changed, resolved int64
		if err := rows.Scan(&s.ID, &typ, &s.Level, &status, &s.CustomerName, &s.CustomerEmail, &s.Subject, &opened, &next, &changed, &s.Owner, &resolved,
			&s.Messages, &s.Sent, &s.Attachments); err != nil {
			return nil, fmt.Errorf("store: list escalations: %w", err)
		}
		s.Type, s.Status = Type(typ), Status(status)
		s.Opened, s.NextUpdateDue = fromMS(opened), fromMS(next)
		s.Tag = e.Tag(s.ID)
		until := now
		if s.Status == StatusResolved && resolved != 0 {
			until = fromMS(resolved) // the SLA clock stopped at resolution
		}
		if sla := e.sla(s.Type); sla > 0 {
			s.SLAConsumed = max(int(until.Sub(fromMS(changed))*100/sla), 0)
		}
		s.Overdue = s.Status != StatusResolved && !s.NextUpdateDue.IsZero() && now.After(s.NextUpdateDue)
		s.TrackingPath = e.TrackingPath(s.ID)
		out = append(out, s)
	}
	return out, rows.Err()
}

// MessageCounts counts fetched messages by disposition.
func (e *Engine) MessageCounts(ctx context.Context) (map[Disposition]int, error) {
	rows, err := e.db().QueryContext(ctx, `SELECT disposition, count(*) FROM messages GROUP BY disposition`)
	if err != nil {
		return nil, fmt.Errorf("store: count messages: %w", err)
	}
	defer rows.Close()
	out := map[Disposition]int{}
	for rows.Next() {
		var d string
		var n int
		if err := rows.Scan(&d, &n); err != nil {
			return nil, err
		}
		out[Disposition(d)] = n
	}
	return out, rows.Err()
}
