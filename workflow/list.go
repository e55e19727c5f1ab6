package workflow

import (
	"context"
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
	var recs []SummaryRecord
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		recs, err = tx.Summaries()
		return err
	})
	if err != nil {
		return nil, err
	}
	var out []Summary
	for _, r := range recs {
		s := r.Summary
		s.Tag = e.Tag(s.ID)
		until := now
		if s.Status == StatusResolved && !r.ResolvedAt.IsZero() {
			until = r.ResolvedAt // the SLA clock stopped at resolution
		}
		if sla := e.sla(s.Type); sla > 0 {
			s.SLAConsumed = max(int(until.Sub(r.LevelChanged)*100/sla), 0)
		}
		s.Overdue = s.Status != StatusResolved && !s.NextUpdateDue.IsZero() && now.After(s.NextUpdateDue)
		s.TrackingPath = e.TrackingPath(s.ID)
		out = append(out, s)
	}
	return out, nil
}

// MessageCounts counts fetched messages by disposition.
func (e *Engine) MessageCounts(ctx context.Context) (map[Disposition]int, error) {
	var out map[Disposition]int
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		out, err = tx.MessageCounts()
		return err
	})
	return out, err
}
