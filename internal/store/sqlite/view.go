package sqlite

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/escalationd/escalationd/workflow"
)

// ViewHead reads the escalation part of what the tracking file of
// escalation id shows (workflow.ViewTx); ErrNotFound when there is none.
func (t *txn) ViewHead(id int64) (workflow.ViewHead, error) {
	var h workflow.ViewHead
	var typ, status string
	var opened, levelChanged, nextUpdate, resolvedAt int64
	err := t.QueryRow(`SELECT type, level, status, customer_name, customer_email, subject, owner, opened_at, level_changed_at, next_update_at, checklist, version, resolved_at
		FROM escalations WHERE id = ?`, id).Scan(&typ, &h.Level, &status, &h.CustomerName, &h.CustomerEmail, &h.Subject, &h.Owner,
		&opened, &levelChanged, &nextUpdate, &h.Checklist, &h.Version, &resolvedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return h, fmt.Errorf("escalation %d: %w", id, workflow.ErrNotFound)
	}
	if err != nil {
		return h, fmt.Errorf("store: read escalation %d: %w", id, err)
	}
	h.Type, h.Status = workflow.Type(typ), workflow.Status(status)
	h.Opened, h.LevelChanged, h.NextUpdate, h.ResolvedAt = fromMS(opened), fromMS(levelChanged), fromMS(nextUpdate), fromMS(resolvedAt)
	return h, nil
}

// Reasons reads the classification reasons of escalation id, in order
// (workflow.ViewTx).
func (t *txn) Reasons(id int64) ([]string, error) {
	out, err := t.strings(`SELECT text FROM reasons WHERE esc_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: read reasons of %d: %w", id, err)
	}
	return out, nil
}

// Plan reads the resolution plan lines of escalation id, oldest first
// (workflow.ViewTx).
func (t *txn) Plan(id int64) ([]string, error) {
	out, err := t.strings(`SELECT text FROM plan WHERE esc_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: read plan of %d: %w", id, err)
	}
	return out, nil
}

// strings runs query, which selects one text column.
func (t *txn) strings(query string, args ...any) ([]string, error) {
	rows, err := t.Query(query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Actions reads the actions of escalation id, by number (workflow.ViewTx).
func (t *txn) Actions(id int64) ([]workflow.Action, error) {
	rows, err := t.Query(`SELECT text, owner, done FROM actions WHERE esc_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("store: read actions of %d: %w", id, err)
	}
	defer rows.Close()
	var out []workflow.Action
	for rows.Next() {
		var a workflow.Action
		if err := rows.Scan(&a.Text, &a.Owner, &a.Done); err != nil {
			return nil, fmt.Errorf("store: read actions of %d: %w", id, err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// pos is a workflow.Position as the store compares it: unix ms, then row
// id. The zero Position sorts before every row.
type pos struct{ at, id int64 }

func toPos(p workflow.Position) pos {
	if p.ID == 0 {
		return pos{at: math.MinInt64}
	}
	return pos{at: ms(p.At), id: p.ID}
}

func (p pos) position() workflow.Position { return workflow.Position{At: fromMS(p.at), ID: p.id} }

// TimelineAfter reads the timeline entries of escalation id after p, in
// file order, and the position of the last one (workflow.ViewTx).
func (t *txn) TimelineAfter(id int64, start workflow.Position) ([]workflow.TimelineEntry, workflow.Position, error) {
	p := toPos(start)
	rows, err := t.Query(`SELECT id, at, text, actor FROM timeline WHERE esc_id = ? AND (at > ? OR (at = ? AND id > ?)) ORDER BY at, id`,
		id, p.at, p.at, p.id)
	if err != nil {
		return nil, start, fmt.Errorf("store: read timeline of %d: %w", id, err)
	}
	defer rows.Close()
	var out []workflow.TimelineEntry
	for rows.Next() {
		var e workflow.TimelineEntry
		if err := rows.Scan(&p.id, &p.at, &e.Text, &e.Actor); err != nil {
			return nil, start, fmt.Errorf("store: read timeline of %d: %w", id, err)
		}
		e.At = fromMS(p.at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, start, fmt.Errorf("store: read timeline of %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, start, nil
	}
	return out, p.position(), nil
}

// LogAfter reads the communication log entries of escalation id after p,
// in file order, with their attachments, and the position of the last one
// (workflow.ViewTx).
func (t *txn) LogAfter(id int64, start workflow.Position) ([]workflow.LogEntry, workflow.Position, error) {
	p := toPos(start)
	rows, err := t.Query(`SELECT id, at, inbound, from_name, from_email, recipients, subject, text, note FROM log
		WHERE esc_id = ? AND (at > ? OR (at = ? AND id > ?)) ORDER BY at, id`, id, p.at, p.at, p.id)
	if err != nil {
		return nil, start, fmt.Errorf("store: read log of %d: %w", id, err)
	}
	var out []workflow.LogEntry
	var ids []int64
	for rows.Next() {
		var l workflow.LogEntry
		var rcpts string
		if err := rows.Scan(&p.id, &p.at, &l.Inbound, &l.From.Name, &l.From.Email, &rcpts, &l.Subject, &l.Text, &l.Note); err != nil {
			rows.Close()
			return nil, start, fmt.Errorf("store: read log of %d: %w", id, err)
		}
		l.At = fromMS(p.at)
		if err := json.Unmarshal([]byte(rcpts), &l.To); err != nil {
			rows.Close()
			return nil, start, fmt.Errorf("store: log entry %d: recipients: %w", p.id, err)
		}
		out = append(out, l)
		ids = append(ids, p.id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, start, fmt.Errorf("store: read log of %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, start, nil
	}
	// The attachments of these entries: their row ids are at least the
	// smallest entry id read.
	rows, err = t.Query(`SELECT log_id, name, rel_path, size FROM attachments WHERE esc_id = ? AND log_id >= ? ORDER BY id`, id, slices.Min(ids))
	if err != nil {
		return nil, start, fmt.Errorf("store: read attachments of %d: %w", id, err)
	}
	defer rows.Close()
	index := make(map[int64]int, len(ids))
	for i, logID := range ids {
		index[logID] = i
	}
	for rows.Next() {
		var logID int64
		var a workflow.LoggedAttachment
		if err := rows.Scan(&logID, &a.Name, &a.RelPath, &a.Size); err != nil {
			return nil, start, fmt.Errorf("store: read attachments of %d: %w", id, err)
		}
		if i, ok := index[logID]; ok {
			out[i].Attachments = append(out[i].Attachments, a)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, start, fmt.Errorf("store: read attachments of %d: %w", id, err)
	}
	return out, p.position(), nil
}

// CountThrough counts the timeline entries of escalation id at or before
// timeline, and its log entries at or before log (workflow.ViewTx). Both
// are index ranges (timeline_esc, log_esc).
func (t *txn) CountThrough(id int64, timeline, log workflow.Position) (timelineN, logN int, err error) {
	tp, lp := toPos(timeline), toPos(log)
	err = t.QueryRow(`SELECT (SELECT count(*) FROM timeline WHERE esc_id = ?1 AND (at < ?2 OR (at = ?2 AND id <= ?3))),
			(SELECT count(*) FROM log WHERE esc_id = ?1 AND (at < ?4 OR (at = ?4 AND id <= ?5)))`,
		id, tp.at, tp.id, lp.at, lp.id).Scan(&timelineN, &logN)
	if err != nil {
		return 0, 0, fmt.Errorf("store: count entries of %d: %w", id, err)
	}
	return timelineN, logN, nil
}

// SetRendered records that the tracking file of escalation id shows
// version, unless it shows a later one already (workflow.ViewTx).
func (t *txn) SetRendered(id, version int64) error {
	if _, err := t.Exec(`UPDATE escalations SET rendered_version = ? WHERE id = ? AND rendered_version < ?`, version, id, version); err != nil {
		return fmt.Errorf("store: record rendered version of %d: %w", id, err)
	}
	return nil
}

// TrackingStates lists every escalation with its versions, by number
// (workflow.ViewTx).
func (t *txn) TrackingStates() ([]workflow.TrackingState, error) {
	return t.trackingStates(`SELECT id, version, rendered_version FROM escalations ORDER BY id`)
}

// Behind lists the escalations whose tracking file is behind the store, by
// number (workflow.ViewTx).
func (t *txn) Behind() ([]workflow.TrackingState, error) {
	return t.trackingStates(`SELECT id, version, rendered_version FROM escalations WHERE rendered_version < version ORDER BY id`)
}

// BehindSettled lists the escalations whose tracking file is behind the
// store and that have no mail queued, by number (workflow.ViewTx).
func (t *txn) BehindSettled() ([]workflow.TrackingState, error) {
	return t.trackingStates(`SELECT id, version, rendered_version FROM escalations WHERE rendered_version < version
			AND id NOT IN (SELECT esc_id FROM outbox WHERE status = 'queued') ORDER BY id`)
}

func (t *txn) trackingStates(query string) ([]workflow.TrackingState, error) {
	rows, err := t.Query(query)
	if err != nil {
		return nil, fmt.Errorf("store: list escalations: %w", err)
	}
	defer rows.Close()
	var out []workflow.TrackingState
	for rows.Next() {
		var s workflow.TrackingState
		if err := rows.Scan(&s.ID, &s.Version, &s.Rendered); err != nil {
			return nil, fmt.Errorf("store: list escalations: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list escalations: %w", err)
	}
	return out, nil
}
