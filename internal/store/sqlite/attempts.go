package sqlite

import (
	"context"
	"fmt"
	"slices"
)

// ParseAttempts returns the unfinished parse starts recorded for those of
// uids (of mailbox under uidValidity) that have any, by UID.
func (s *Store) ParseAttempts(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) (map[uint32]int, error) {
	out := map[uint32]int{}
	if len(uids) == 0 {
		return out, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT uid, parsing FROM attempts
		WHERE mailbox = ? AND uidvalidity = ? AND uid BETWEEN ? AND ? AND parsing > 0`,
		mailbox, uidValidity, slices.Min(uids), slices.Max(uids))
	if err != nil {
		return nil, fmt.Errorf("store: read parse attempts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var uid uint32
		var n int
		if err := rows.Scan(&uid, &n); err != nil {
			return nil, fmt.Errorf("store: read parse attempts: %w", err)
		}
		if slices.Contains(uids, uid) {
			out[uid] = n
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read parse attempts: %w", err)
	}
	return out, nil
}

// MarkParsing records, in one commit made durable before it returns, that the
// parses of done are finished (whatever came of them: they did not kill the
// process) and that the parses of start begin. Either may be empty.
func (s *Store) MarkParsing(ctx context.Context, mailbox string, uidValidity uint32, done, start []uint32) error {
	if len(done) == 0 && len(start) == 0 {
		return nil
	}
	return s.tx(ctx, nil, func(tx *txn) error {
		for _, uid := range done {
			if _, err := tx.Exec(`DELETE FROM attempts WHERE mailbox = ? AND uidvalidity = ? AND uid = ? AND count = 0`,
				mailbox, uidValidity, uid); err != nil {
				return fmt.Errorf("store: finish parse of UID %d: %w", uid, err)
			}
			if _, err := tx.Exec(`UPDATE attempts SET parsing = 0 WHERE mailbox = ? AND uidvalidity = ? AND uid = ?`,
				mailbox, uidValidity, uid); err != nil {
				return fmt.Errorf("store: finish parse of UID %d: %w", uid, err)
			}
		}
		for _, uid := range start {
			if _, err := tx.Exec(`INSERT INTO attempts(mailbox, uidvalidity, uid, count, last_error, parsing) VALUES(?, ?, ?, 0, '', 1)
				ON CONFLICT(mailbox, uidvalidity, uid) DO UPDATE SET parsing = parsing + 1`,
				mailbox, uidValidity, uid); err != nil {
				return fmt.Errorf("store: record parse start of UID %d: %w", uid, err)
			}
		}
		return nil
	})
}
