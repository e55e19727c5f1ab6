package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Mailer delivers one queued mail. mailout.Sender is the real one. It returns
// nil once the server accepted the mail, an error wrapping ErrPermanent when
// the server refused it for good (5xx), and any other error when a retry may
// succeed.
type Mailer interface {
	Send(ctx context.Context, m *Outgoing) error
}

// After this many transient failures in a row one flush stops: the server is
// down and every further attempt would only wait for its time-out.
const outboxFailStreak = 3

// outboxBackoff is the wait before retry number attempts: smtp.retry_min,
// doubling, capped at smtp.retry_max, with jitter.
func (e *Engine) outboxBackoff(attempts int) time.Duration {
	lo, hi := e.cfg.SMTP.RetryMin, e.cfg.SMTP.RetryMax
	if lo <= 0 {
		lo = 30 * time.Second
	}
	hi = max(hi, lo)
	d := lo
	for i := 1; i < attempts && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	// Up to 20% less, so a fleet of queued mail does not retry in one
	// burst, and the cap holds.
	return d - time.Duration(rand.Int64N(int64(d/5)+1))
}

type queued struct {
	id       int64
	attempts int
	m        Outgoing
}

// FlushStats counts what one flush did.
type FlushStats struct {
	Sent, Failed, Deferred int
	Pending                int // queued mail left after the flush
}

// FlushOutbox sends the queued mail that is due (all queued mail when
// ignoreBackoff, as `once` does), in queue order. Each result is committed
// before the next mail: accepted mail is marked sent and logged in its
// escalation; a permanent failure is recorded in the escalation's log and
// timeline and not retried; a transient failure is retried later with capped
// exponential backoff.
func (e *Engine) FlushOutbox(ctx context.Context, m Mailer, ignoreBackoff bool) (FlushStats, error) {
	var st FlushStats
	streak := 0
	var lastID int64
	for streak < outboxFailStreak {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		q, ok, err := e.nextDue(ctx, lastID, ignoreBackoff)
		if err != nil {
			return st, err
		}
		if !ok {
			break
		}
		lastID = q.id
		sendErr := m.Send(ctx, &q.m)
		// Whatever the server answered is recorded even when shutdown has
		// begun: a delivered mail left "queued" would be sent again.
		rec := context.WithoutCancel(ctx)
		switch {
		case sendErr == nil:
			streak = 0
			st.Sent++
			e.log.Info("mail sent", "kind", q.m.Kind, "message_id", q.m.MessageID, "to", q.m.To[0].Email, "escalation", e.Tag(q.m.EscalationID))
			if err := e.outboxSent(rec, q); err != nil {
				return st, err
			}
		case errors.Is(sendErr, ErrPermanent):
			streak = 0
			st.Failed++
			e.log.Error("mail refused permanently; not retried", "kind", q.m.Kind, "message_id", q.m.MessageID, "to", q.m.To[0].Email, "err", sendErr)
			if err := e.outboxFailed(rec, q, sendErr); err != nil {
				return st, err
			}
		default:
			if ctx.Err() != nil {
				return st, ctx.Err()
			}
			streak++
			st.Deferred++
			wait := e.outboxBackoff(q.attempts + 1)
			e.log.Warn("mail not sent; stays queued", "kind", q.m.Kind, "message_id", q.m.MessageID, "attempt", q.attempts+1, "retry_in", wait.Round(time.Second), "err", sendErr)
			if _, err := e.st.db.ExecContext(rec, `UPDATE outbox SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`,
				ms(e.now().Add(wait)), sendErr.Error(), q.id); err != nil {
				return st, fmt.Errorf("store: defer mail: %w", err)
			}
		}
	}
	if err := e.st.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&st.Pending); err != nil {
		return st, fmt.Errorf("store: count queued mail: %w", err)
	}
	return st, nil
}

// NextOutboxDue is when the earliest queued mail is due; ok is false when
// nothing is queued.
func (e *Engine) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	if err := e.st.db.QueryRowContext(ctx, `SELECT min(next_attempt) FROM outbox WHERE status = 'queued'`).Scan(&at); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next queued mail: %w", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(at.Int64), true, nil
}

func (e *Engine) nextDue(ctx context.Context, after int64, ignoreBackoff bool) (queued, bool, error) {
	due := ms(e.now())
	if ignoreBackoff {
		due = 1<<62 - 1
	}
	var q queued
	var payload string
	err := e.st.db.QueryRowContext(ctx, `SELECT id, attempts, payload FROM outbox
		WHERE status = 'queued' AND id > ? AND next_attempt <= ? ORDER BY id LIMIT 1`, after, due).Scan(&q.id, &q.attempts, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return q, false, nil
	}
	if err != nil {
		return q, false, fmt.Errorf("store: next queued mail: %w", err)
	}
	if err := json.Unmarshal([]byte(payload), &q.m); err != nil {
		return q, false, fmt.Errorf("store: queued mail %d is unreadable: %w", q.id, err)
	}
	q.m.ID = q.id
	return q, true, nil
}

func (e *Engine) outboxSent(ctx context.Context, q queued) error {
	now := e.now()
	id := q.m.EscalationID
	err := e.st.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' WHERE id = ?`, ms(now), q.id); err != nil {
			return fmt.Errorf("store: mark mail sent: %w", err)
		}
		if id == 0 {
			return nil
		}
		if err := logOutbound(tx, &q.m, now, kindNote(q.m.Kind)); err != nil {
			return err
		}
		if q.m.Kind == "ack" {
			if err := addTimeline(tx, id, now, "Escalation acknowledged", ""); err != nil {
				return err
			}
			// Checklist item 7: customer notified of escalation.
			if _, err := tx.Exec(`UPDATE escalations SET checklist = checklist | 64 WHERE id = ?`, id); err != nil {
				return fmt.Errorf("store: tick checklist: %w", err)
			}
		}
		return bumpVersion(tx, id)
	})
	if err != nil {
		return err
	}
	if id != 0 {
		return e.render(ctx, id)
	}
	return nil
}

func (e *Engine) outboxFailed(ctx context.Context, q queued, cause error) error {
	now := e.now()
	id := q.m.EscalationID
	reason := strings.TrimSpace(strings.TrimPrefix(cause.Error(), ErrPermanent.Error()+":"))
	err := e.st.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.Exec(`UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?`, cause.Error(), q.id); err != nil {
			return fmt.Errorf("store: mark mail failed: %w", err)
		}
		if id == 0 {
			return nil
		}
		text := fmt.Sprintf("Delivery failure: %s: %s", q.m.To[0].Email, OneLine(reason))
		if err := logOutbound(tx, &q.m, now, "not delivered ("+kindNote(q.m.Kind)+"): "+OneLine(reason)); err != nil {
			return err
		}
		if err := addTimeline(tx, id, now, text, ""); err != nil {
			return err
		}
		return bumpVersion(tx, id)
	})
	if err != nil {
		return err
	}
	if id != 0 {
		return e.render(ctx, id)
	}
	return nil
}

func kindNote(kind string) string {
	switch kind {
	case "ack":
		return "acknowledgement"
	case "notify":
		return "notification"
	case "update":
		return "customer update"
	case "vendor":
		return "vendor case request"
	case "error":
		return "command errors"
	case "reminder":
		return "update reminder"
	case "alert":
		return "SLA alert"
	}
	return kind
}

// logOutbound records a mail the daemon sent in its escalation's log. Only
// what the customer or a vendor reads is logged with its text.
func logOutbound(tx *sql.Tx, m *Outgoing, at time.Time, note string) error {
	rcpts, _ := json.Marshal(append(append([]Address{}, m.To...), m.Cc...))
	text := m.Body
	switch m.Kind {
	case "notify", "reminder", "alert", "error":
		text = ""
	}
	if _, err := tx.Exec(`INSERT INTO log(esc_id, at, inbound, from_name, from_email, recipients, subject, text, note) VALUES(?, ?, 0, ?, ?, ?, ?, ?, ?)`,
		m.EscalationID, ms(at), m.From.Name, m.From.Email, string(rcpts), m.Subject, text, note); err != nil {
		return fmt.Errorf("store: log sent mail: %w", err)
	}
	return nil
}

// OutboxItem is one row of the outbox, for inspection.
type OutboxItem struct {
	Outgoing
	Status    string // "queued", "sent" or "failed"
	Attempts  int
	LastError string
}

// Outbox lists every queued, sent and failed mail, oldest first.
func (e *Engine) Outbox(ctx context.Context) ([]OutboxItem, error) {
	rows, err := e.st.db.QueryContext(ctx, `SELECT id, payload, status, attempts, last_error FROM outbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxItem
	for rows.Next() {
		var it OutboxItem
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
	return out, rows.Err()
}
