package workflow

import (
	"database/sql"
	"time"
)

// rawSQL is what the core still asks of a transaction in SQL, while its
// queries move behind the port's domain operations. It goes when they have.
type rawSQL interface {
	Exec(query string, args ...any) (sql.Result, error)
	Query(query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
}

// rawDB gives the core the database for its reads not yet behind the port.
type rawDB interface {
	DB() *sql.DB
}

func (e *Engine) db() *sql.DB { return e.st.(rawDB).DB() }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// strings1 runs query, which selects one text column, in tx. It goes with
// rawSQL: reasons are read with tx.Reasons.
func strings1(tx Tx, query string, args ...any) ([]string, error) {
	rows, err := tx.Query(query, args...)
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
