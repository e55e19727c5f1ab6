package sqlite

import "fmt"

// AddAction adds an action for owner to escalation id and returns its
// number (workflow.ActionTx).
func (t *txn) AddAction(id int64, text, owner string) (int, error) {
	var n int
	if err := t.QueryRow(`SELECT count(*) FROM actions WHERE esc_id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count actions: %w", err)
	}
	if _, err := t.Exec(`INSERT INTO actions(esc_id, seq, text, owner) VALUES(?, ?, ?, ?)`, id, n+1, text, owner); err != nil {
		return 0, fmt.Errorf("store: add action: %w", err)
	}
	return n + 1, nil
}

// CompleteAction marks action n of escalation id done; false when it has no
// action n (workflow.ActionTx).
func (t *txn) CompleteAction(id int64, n int) (bool, error) {
	res, err := t.Exec(`UPDATE actions SET done = 1 WHERE esc_id = ? AND seq = ?`, id, n)
	if err != nil {
		return false, fmt.Errorf("store: tick action: %w", err)
	}
	k, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: tick action: %w", err)
	}
	return k > 0, nil
}

// AddPlan adds a line to the resolution plan of escalation id and returns
// its number (workflow.ActionTx).
func (t *txn) AddPlan(id int64, text string) (int, error) {
	var n int
	if err := t.QueryRow(`SELECT count(*) FROM plan WHERE esc_id = ?`, id).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count plan: %w", err)
	}
	if _, err := t.Exec(`INSERT INTO plan(esc_id, seq, text) VALUES(?, ?, ?)`, id, n+1, text); err != nil {
		return 0, fmt.Errorf("store: add plan line: %w", err)
	}
	return n + 1, nil
}
