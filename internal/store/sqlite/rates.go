package sqlite

import (
	"fmt"
	"time"
)

// RateEvents counts the events of kind and key after since
// (workflow.RateTx).
func (t *txn) RateEvents(kind, key string, since time.Time) (int, error) {
	var n int
	err := t.QueryRow(`SELECT count(*) FROM rate_events WHERE kind = ? AND key = ? AND at > ?`, kind, key, ms(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count %s events: %w", kind, err)
	}
	return n, nil
}

// NoteRateEvent records one event of kind and key at at (workflow.RateTx).
func (t *txn) NoteRateEvent(kind, key string, at time.Time) error {
	if _, err := t.Exec(`INSERT INTO rate_events(kind, key, at) VALUES(?, ?, ?)`, kind, key, ms(at)); err != nil {
		return fmt.Errorf("store: record %s event: %w", kind, err)
	}
	return nil
}

// EventsSinceLast counts the events of kind after the last one of kind
// last, and the time of the earliest of them (workflow.RateTx). Row ids
// order the events.
func (t *txn) EventsSinceLast(kind, last string) (int, time.Time, error) {
	var lastID int64
	if err := t.QueryRow(`SELECT coalesce(max(rowid), 0) FROM rate_events WHERE kind = ?`, last).Scan(&lastID); err != nil {
		return 0, time.Time{}, fmt.Errorf("store: read the last %s event: %w", last, err)
	}
	var n int
	var first int64
	if err := t.QueryRow(`SELECT count(*), coalesce(min(at), 0) FROM rate_events WHERE kind = ? AND rowid > ?`, kind, lastID).Scan(&n, &first); err != nil {
		return 0, time.Time{}, fmt.Errorf("store: count %s events: %w", kind, err)
	}
	return n, fromMS(first), nil
}

// PruneRateEvents forgets the events before before (workflow.RateTx).
func (t *txn) PruneRateEvents(before time.Time) error {
	if _, err := t.Exec(`DELETE FROM rate_events WHERE at < ?`, ms(before)); err != nil {
		return fmt.Errorf("store: prune rate events: %w", err)
	}
	return nil
}
