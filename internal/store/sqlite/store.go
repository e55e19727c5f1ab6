// Package sqlite is the SQLite engine of the store port (workflow.Store):
// one file in escalation.data_dir, in WAL mode, fsynced on every commit.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // pure-Go SQLite driver "sqlite"

	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/workflow"
)

// Store is the daemon's state in one SQLite file: escalations, their
// timelines and logs, every fetched message, the outbox and the IMAP
// checkpoint. It implements workflow.Store.
type Store struct {
	db *sql.DB

	mu     sync.Mutex
	stmts  map[string]*sql.Stmt // prepared once, reused by every Tx
	wanted map[string]bool      // seen in a Tx, prepared after its commit
}

// migrations are applied in order; PRAGMA user_version holds how many ran.
// Never edit one that has shipped: add another.
var migrations = []string{
	// 1: the foundation schema.
	`
CREATE TABLE mailboxes (
	name        TEXT PRIMARY KEY,
	uidvalidity INTEGER NOT NULL,
	last_uid    INTEGER NOT NULL
);
CREATE TABLE escalations (
	id               INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused
	type             TEXT NOT NULL,
	level            TEXT NOT NULL,
	status           TEXT NOT NULL,
	customer_name    TEXT NOT NULL,
	customer_email   TEXT NOT NULL,
	requester_name   TEXT NOT NULL,
	subject          TEXT NOT NULL,
	owner            TEXT NOT NULL DEFAULT '',
	opened_at        INTEGER NOT NULL, -- unix ms, IMAP INTERNALDATE of the first message
	clock_start      INTEGER NOT NULL, -- unix ms, when the SLA and update clocks started
	level_changed_at INTEGER NOT NULL,
	next_update_at   INTEGER NOT NULL,
	update_every     INTEGER NOT NULL, -- ns
	checklist        INTEGER NOT NULL DEFAULT 0, -- bit i: item i+1 ticked
	root_message_id  TEXT NOT NULL,
	version          INTEGER NOT NULL DEFAULT 1,
	rendered_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE reasons (
	esc_id INTEGER NOT NULL REFERENCES escalations(id),
	seq    INTEGER NOT NULL,
	text   TEXT NOT NULL,
	PRIMARY KEY (esc_id, seq)
);
CREATE TABLE timeline (
	id     INTEGER PRIMARY KEY,
	esc_id INTEGER NOT NULL REFERENCES escalations(id),
	at     INTEGER NOT NULL,
	text   TEXT NOT NULL,
	actor  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX timeline_esc ON timeline(esc_id, id);
CREATE TABLE messages (
	id            INTEGER PRIMARY KEY,
	mailbox       TEXT NOT NULL,
	uidvalidity   INTEGER NOT NULL,
	uid           INTEGER NOT NULL,
	message_id    TEXT NOT NULL,
	sha256        TEXT NOT NULL,
	esc_id        INTEGER,
	disposition   TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT '',
	internal_date INTEGER NOT NULL,
	handled_at    INTEGER NOT NULL,
	raw_path      TEXT NOT NULL DEFAULT '',
	marked        INTEGER NOT NULL DEFAULT 0,
	UNIQUE (mailbox, uidvalidity, uid)
);
CREATE INDEX messages_mid ON messages(message_id) WHERE message_id <> '';
CREATE INDEX messages_sha ON messages(sha256) WHERE sha256 <> '';
CREATE INDEX messages_unmarked ON messages(mailbox, uidvalidity) WHERE marked = 0;
CREATE TABLE thread_ids (
	message_id TEXT PRIMARY KEY,
	esc_id     INTEGER NOT NULL REFERENCES escalations(id),
	outbound   INTEGER NOT NULL
);
CREATE TABLE participants (
	esc_id INTEGER NOT NULL REFERENCES escalations(id),
	email  TEXT NOT NULL COLLATE NOCASE,
	PRIMARY KEY (esc_id, email)
);
CREATE TABLE log (
	id         INTEGER PRIMARY KEY,
	esc_id     INTEGER NOT NULL REFERENCES escalations(id),
	at         INTEGER NOT NULL,
	inbound    INTEGER NOT NULL,
	from_name  TEXT NOT NULL,
	from_email TEXT NOT NULL,
	recipients TEXT NOT NULL, -- JSON list of Address
	subject    TEXT NOT NULL,
	text       TEXT NOT NULL,
	note       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX log_esc ON log(esc_id, id);
CREATE TABLE attachments (
	id       INTEGER PRIMARY KEY,
	esc_id   INTEGER NOT NULL REFERENCES escalations(id),
	log_id   INTEGER NOT NULL REFERENCES log(id),
	name     TEXT NOT NULL,
	rel_path TEXT NOT NULL UNIQUE,
	size     INTEGER NOT NULL
);
CREATE TABLE actions (
	esc_id INTEGER NOT NULL REFERENCES escalations(id),
	seq    INTEGER NOT NULL,
	text   TEXT NOT NULL,
	owner  TEXT NOT NULL,
	done   INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (esc_id, seq)
);
CREATE TABLE plan (
	esc_id INTEGER NOT NULL REFERENCES escalations(id),
	seq    INTEGER NOT NULL,
	text   TEXT NOT NULL,
	PRIMARY KEY (esc_id, seq)
);
CREATE TABLE outbox (
	id           INTEGER PRIMARY KEY,
	esc_id       INTEGER NOT NULL,
	kind         TEXT NOT NULL,
	message_id   TEXT NOT NULL UNIQUE,
	recipient    TEXT NOT NULL COLLATE NOCASE, -- first To address, for the rate limit
	payload      TEXT NOT NULL,                -- JSON Outgoing, fixed at queue time
	status       TEXT NOT NULL,                -- queued | sent | failed
	attempts     INTEGER NOT NULL DEFAULT 0,
	next_attempt INTEGER NOT NULL,
	last_error   TEXT NOT NULL DEFAULT '',
	queued_at    INTEGER NOT NULL,
	sent_at      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox(status, next_attempt);
CREATE INDEX outbox_rate ON outbox(recipient, kind, queued_at);
`,
	// 2: the customer key counted by the repeat rule, and the vendor named.
	`
ALTER TABLE escalations ADD COLUMN customer_key TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN vendor TEXT NOT NULL DEFAULT '';
UPDATE escalations SET customer_key = lower(customer_email);
CREATE INDEX escalations_customer ON escalations(customer_key, opened_at);
`,
	// 3: the workflow engine: vendor case, timers fired, last update.
	`
ALTER TABLE escalations ADD COLUMN vendor_case TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN vendor_severity TEXT NOT NULL DEFAULT '';
ALTER TABLE escalations ADD COLUMN vendor_requested INTEGER NOT NULL DEFAULT 0; -- case request queued
ALTER TABLE escalations ADD COLUMN sla_alert_for INTEGER NOT NULL DEFAULT 0;    -- level_changed_at the SLA timer fired for
ALTER TABLE escalations ADD COLUMN reminded_for INTEGER NOT NULL DEFAULT 0;     -- next_update_at the reminder fired for
ALTER TABLE escalations ADD COLUMN resolved_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX escalations_open ON escalations(status);
`,
	// 4: failed attempts at applying a message, so a poison message is
	// quarantined after a bounded number of tries, across restarts too.
	`
CREATE TABLE attempts (
	mailbox     TEXT NOT NULL,
	uidvalidity INTEGER NOT NULL,
	uid         INTEGER NOT NULL,
	count       INTEGER NOT NULL,
	last_error  TEXT NOT NULL,
	PRIMARY KEY (mailbox, uidvalidity, uid)
);
`,
	// 5: full indexes for the duplicate checks. The partial ones of
	// migration 1 (WHERE message_id <> '') cannot serve "message_id = ?",
	// so every message scanned the whole table (ingest slowed with the store).
	`
DROP INDEX messages_mid;
DROP INDEX messages_sha;
CREATE INDEX messages_mid ON messages(message_id, disposition);
CREATE INDEX messages_sha ON messages(sha256, disposition);
CREATE INDEX attachments_esc ON attachments(esc_id);
`,
	// 6: the escalations whose tracking file is behind, found without
	// reading every escalation (RenderBehind runs after every batch).
	`
CREATE INDEX escalations_behind ON escalations(id) WHERE rendered_version < version;
`,
	// 7: timeline and log in file order (time, then row id), so that the
	// render of a long escalation reads only the entries after the ones it
	// kept, and counts the ones before with an index range.
	`
DROP INDEX timeline_esc;
DROP INDEX log_esc;
CREATE INDEX timeline_esc ON timeline(esc_id, at, id);
CREATE INDEX log_esc ON log(esc_id, at, id);
`,
	// 8: the trust boundary (§11). Secrets the daemon keeps (the reply-key
	// secret: the newest unretired one makes keys, retired ones are still
	// accepted for a while); the events the rate limits count, an hour
	// back; and whether staff confirmed the vendor of an escalation.
	`
CREATE TABLE secrets (
	id         INTEGER PRIMARY KEY,
	purpose    TEXT NOT NULL,
	secret     BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	retired_at INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE rate_events (
	kind TEXT NOT NULL,
	key  TEXT NOT NULL,
	at   INTEGER NOT NULL
);
CREATE INDEX rate_events_key ON rate_events(kind, key, at);
CREATE INDEX rate_events_at ON rate_events(at); -- the daily prune
ALTER TABLE escalations ADD COLUMN vendor_confirmed INTEGER NOT NULL DEFAULT 0;
`,
	// 9: messages that reuse a Message-ID. A digest of sender, date and
	// text tells a copy from another message under the same id, and a
	// Message-ID that two different messages share threads nothing.
	`
ALTER TABLE messages ADD COLUMN content_sha TEXT NOT NULL DEFAULT '';
ALTER TABLE thread_ids ADD COLUMN ambiguous INTEGER NOT NULL DEFAULT 0;
`,
	// 10: parses started and not finished, so that a message that kills the
	// process while it is parsed (out of memory, a crash in a library) is
	// quarantined after MaxAttempts without being parsed again (§11).
	`
ALTER TABLE attempts ADD COLUMN parsing INTEGER NOT NULL DEFAULT 0;
`,
}

// Open opens (creating if needed) the store in dataDir/escalationd.db, in WAL
// mode with full fsync on commit, and applies pending migrations.
func Open(dataDir string) (*Store, error) {
	if err := os.MkdirAll(dataDir, durable.DirMode); err != nil {
		return nil, fmt.Errorf("store: create escalation.data_dir %s: %w", dataDir, err)
	}
	path, err := prepareStoreFile(dataDir)
	if err != nil {
		return nil, err
	}
	// busy_timeout first: the switch to WAL itself may wait for another process.
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_txlock=immediate"
	return openDSN(dsn, path)
}

// OpenMemory opens an empty in-memory store, for tests.
func OpenMemory() (*Store, error) {
	return openDSN("file::memory:?_pragma=foreign_keys(ON)&_txlock=immediate", ":memory:")
}

// openBusyFor is how long opening a store keeps trying while it answers
// SQLITE_BUSY. The switch to WAL that causes it takes milliseconds; the
// limit is a safety net against a store that stays locked, set by time
// rather than by a number of tries, which a busy machine would use up.
const openBusyFor = time.Minute

func openDSN(dsn, name string) (*Store, error) {
	// A fresh file opened by two processes at once can answer SQLITE_BUSY
	// while one of them switches it to WAL, before busy_timeout applies:
	// try again, pausing a little longer each time (at most 200 ms).
	deadline := time.Now().Add(openBusyFor)
	for attempt := 1; ; attempt++ {
		s, err := openOnce(dsn, name)
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			return s, err
		}
		time.Sleep(min(time.Duration(attempt)*10*time.Millisecond, 200*time.Millisecond))
	}
}

func openOnce(dsn, name string) (*Store, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", name, err)
	}
	// One connection: every write is serialised, and an in-memory database is
	// the same database for every caller.
	db.SetMaxOpenConns(1)
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: %s: %w", name, err)
	}
	return s, nil
}

func (s *Store) migrate() error {
	var version int
	if err := s.db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this escalationd knows (%d): refusing to touch it", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		// The transaction is IMMEDIATE (it holds the write lock), and the
		// version is read again inside it: another process opening the same
		// store at the same moment may have applied this migration already.
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		var now int
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&now); err != nil {
			tx.Rollback()
			return fmt.Errorf("read schema version: %w", err)
		}
		if now > i {
			tx.Rollback()
			i = now - 1
			continue
		}
		if _, err := tx.Exec(migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, i+1)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	return nil
}

// SchemaVersion is the number of migrations applied.
func (s *Store) SchemaVersion() (int, error) {
	var v int
	err := s.db.QueryRow(`PRAGMA user_version`).Scan(&v)
	return v, err
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	for _, p := range s.stmts {
		p.Close()
	}
	s.stmts = nil
	s.mu.Unlock()
	return s.db.Close()
}

// Update runs fn in one read-write transaction and commits it, or rolls
// back when fn returns an error.
func (s *Store) Update(ctx context.Context, fn func(workflow.Tx) error) error {
	return s.tx(ctx, nil, func(t *txn) error { return fn(t) })
}

// Read runs fn in one read-only transaction: what it reads is one snapshot.
func (s *Store) Read(ctx context.Context, fn func(workflow.Tx) error) error {
	return s.tx(ctx, &sql.TxOptions{ReadOnly: true}, func(t *txn) error { return fn(t) })
}

// tx runs f in one transaction and commits it, or rolls back on error.
func (s *Store) tx(ctx context.Context, opts *sql.TxOptions, f func(*txn) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := f(&txn{Tx: tx, st: s}); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	s.prepareWanted(ctx)
	return nil
}

// txn is a store transaction. Its Exec, Query and QueryRow run statements
// the store prepared once and keeps (SQLite compiles each statement anew
// otherwise, which cost a fifth of the daemon's CPU under a backlog). The
// rows of a Query must be closed before the same query runs again.
type txn struct {
	*sql.Tx
	st    *Store
	depth int // savepoints open
}

// Savepoint runs fn under a savepoint of its own (workflow.Tx): its error
// rolls back what it changed, and only that.
func (t *txn) Savepoint(fn func() error) (err error) {
	t.depth++
	name := fmt.Sprintf("sp%d", t.depth)
	defer func() { t.depth-- }()
	if _, err := t.Exec(`SAVEPOINT ` + name); err != nil {
		return fmt.Errorf("store: savepoint: %w", err)
	}
	if err = fn(); err != nil {
		if _, rerr := t.Exec(`ROLLBACK TO ` + name); rerr != nil {
			err = errors.Join(err, fmt.Errorf("store: roll back savepoint: %w", rerr))
		}
	}
	if _, rerr := t.Exec(`RELEASE ` + name); rerr != nil && err == nil {
		err = fmt.Errorf("store: release savepoint: %w", rerr)
	}
	return err
}

// Exec runs query in the transaction.
func (t *txn) Exec(query string, args ...any) (sql.Result, error) {
	if p := t.st.prepared(query); p != nil {
		return t.Tx.Stmt(p).Exec(args...)
	}
	return t.Tx.Exec(query, args...)
}

// Query runs query in the transaction.
func (t *txn) Query(query string, args ...any) (*sql.Rows, error) {
	if p := t.st.prepared(query); p != nil {
		return t.Tx.Stmt(p).Query(args...)
	}
	return t.Tx.Query(query, args...)
}

// QueryRow runs query in the transaction.
func (t *txn) QueryRow(query string, args ...any) *sql.Row {
	if p := t.st.prepared(query); p != nil {
		return t.Tx.Stmt(p).QueryRow(args...)
	}
	return t.Tx.QueryRow(query, args...)
}

// prepared returns the store's prepared statement for query, or nil when
// there is none yet: the query is then noted, and prepared after the
// transaction (the store's one connection is the transaction's until then).
func (s *Store) prepared(query string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.stmts[query]; p != nil {
		return p
	}
	if s.wanted == nil {
		s.wanted = map[string]bool{}
	}
	s.wanted[query] = true
	return nil
}

// prepareWanted prepares the queries transactions have noted. A query that
// fails to prepare (the store busy, say) runs unprepared and is noted again.
func (s *Store) prepareWanted(ctx context.Context) {
	s.mu.Lock()
	wanted := s.wanted
	s.wanted = nil
	s.mu.Unlock()
	for q := range wanted {
		p, err := s.db.PrepareContext(context.WithoutCancel(ctx), q)
		if err != nil {
			continue
		}
		s.mu.Lock()
		if s.stmts == nil {
			s.stmts = map[string]*sql.Stmt{}
		}
		if s.stmts[q] == nil {
			s.stmts[q] = p
		} else {
			p.Close()
		}
		s.mu.Unlock()
	}
}

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

// Checkpoint returns the UIDVALIDITY and last handled UID stored for mailbox;
// ok is false when the mailbox was never read.
func (s *Store) Checkpoint(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT uidvalidity, last_uid FROM mailboxes WHERE name = ?`, mailbox).Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("store: read checkpoint of %s: %w", mailbox, err)
	}
	return uidValidity, lastUID, true, nil
}

// ResetCheckpoint records a new UIDVALIDITY for mailbox with no UID handled
// yet. Messages handled under the old UIDVALIDITY stay in the store, so their
// Message-IDs still de-duplicate what is fetched again.
func (s *Store) ResetCheckpoint(ctx context.Context, mailbox string, uidValidity uint32) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO mailboxes(name, uidvalidity, last_uid) VALUES(?, ?, 0)
		ON CONFLICT(name) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0`, mailbox, uidValidity)
	if err != nil {
		return fmt.Errorf("store: reset checkpoint of %s: %w", mailbox, err)
	}
	return nil
}

// AdvanceCheckpoint moves the checkpoint of ref's mailbox up to ref's UID,
// under ref's UIDVALIDITY only.
func (t *txn) AdvanceCheckpoint(ref workflow.MessageRef) error {
	tx := t
	_, err := tx.Exec(`INSERT INTO mailboxes(name, uidvalidity, last_uid) VALUES(?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET last_uid = max(last_uid, excluded.last_uid)
		WHERE uidvalidity = excluded.uidvalidity`, ref.Mailbox, ref.UIDValidity, ref.UID)
	if err != nil {
		return fmt.Errorf("store: advance checkpoint: %w", err)
	}
	return nil
}

// Unmarked lists the messages of mailbox (under uidValidity) whose effects are
// committed but which are not yet marked handled on the server, by UID.
func (s *Store) Unmarked(ctx context.Context, mailbox string, uidValidity uint32) ([]workflow.Unmarked, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT uid, disposition FROM messages
		WHERE mailbox = ? AND uidvalidity = ? AND marked = 0 ORDER BY uid`, mailbox, uidValidity)
	if err != nil {
		return nil, fmt.Errorf("store: list unmarked: %w", err)
	}
	defer rows.Close()
	var out []workflow.Unmarked
	for rows.Next() {
		var u workflow.Unmarked
		if err := rows.Scan(&u.UID, &u.Disposition); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// SetMarked records that the server has marked uids of mailbox handled.
func (s *Store) SetMarked(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) error {
	return s.tx(ctx, nil, func(tx *txn) error {
		for _, uid := range uids {
			if _, err := tx.Exec(`UPDATE messages SET marked = 1 WHERE mailbox = ? AND uidvalidity = ? AND uid = ?`, mailbox, uidValidity, uid); err != nil {
				return fmt.Errorf("store: set marked: %w", err)
			}
		}
		return nil
	})
}
