package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ReplyKeySecret returns the newest unretired reply-key secret and its id;
// ok is false when there is none (workflow.SecretTx).
func (t *txn) ReplyKeySecret() (id int64, secret []byte, ok bool, err error) {
	err = t.QueryRow(`SELECT id, secret FROM secrets WHERE purpose = 'reply_key' AND retired_at = 0 ORDER BY id DESC LIMIT 1`).Scan(&id, &secret)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, false, nil
	}
	if err != nil {
		return 0, nil, false, fmt.Errorf("store: read the reply-key secret: %w", err)
	}
	return id, secret, true, nil
}

// RetireReplyKeySecret retires reply-key secret id at at (workflow.SecretTx).
func (t *txn) RetireReplyKeySecret(id int64, at time.Time) error {
	if _, err := t.Exec(`UPDATE secrets SET retired_at = ? WHERE id = ?`, ms(at), id); err != nil {
		return fmt.Errorf("store: retire the reply-key secret: %w", err)
	}
	return nil
}

// AddReplyKeySecret keeps secret as the newest reply-key secret
// (workflow.SecretTx).
func (t *txn) AddReplyKeySecret(secret []byte, at time.Time) error {
	if _, err := t.Exec(`INSERT INTO secrets(purpose, secret, created_at) VALUES('reply_key', ?, ?)`, secret, ms(at)); err != nil {
		return fmt.Errorf("store: keep the reply-key secret: %w", err)
	}
	return nil
}

// RetiredReplyKeySecrets returns the reply-key secrets retired after since,
// newest first (workflow.SecretTx).
func (t *txn) RetiredReplyKeySecrets(since time.Time) ([][]byte, error) {
	rows, err := t.Query(`SELECT secret FROM secrets WHERE purpose = 'reply_key' AND retired_at > ? ORDER BY id DESC`, ms(since))
	if err != nil {
		return nil, fmt.Errorf("store: read retired reply-key secrets: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var s []byte
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("store: read retired reply-key secrets: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: read retired reply-key secrets: %w", err)
	}
	return out, nil
}
