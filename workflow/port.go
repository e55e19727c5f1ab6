package workflow

import (
	"context"
	"errors"
	"time"
)

// The store port: what the core needs from a store, in its own words. An
// engine (internal/store/sqlite) implements it; internal/store/storetest is
// the contract every engine passes. The core never sees SQL, and an engine's
// errors reach it as the core's own (ErrNotFound) or wrapped with what was
// being done.

// ErrNotFound is returned by a store when what was asked for does not exist.
var ErrNotFound = errors.New("not found")

// Store is the daemon's state: escalations, their timelines and logs, every
// fetched message, the outbox and the mailbox checkpoints.
type Store interface {
	// Update runs fn in one read-write transaction: everything fn changed
	// is committed, durably, when it returns nil, and nothing otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// Read runs fn in one read-only transaction: one consistent snapshot.
	Read(ctx context.Context, fn func(Tx) error) error

	MailboxStore

	Close() error
}

// MailboxStore is the part of the store the IMAP door uses: the checkpoint
// of each mailbox, which committed messages are not yet marked on the
// server, and the parse attempts of messages that may kill the process.
type MailboxStore interface {
	// Checkpoint returns the UIDVALIDITY and last handled UID stored for
	// mailbox; ok is false when the mailbox was never read.
	Checkpoint(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, ok bool, err error)
	// ResetCheckpoint records a new UIDVALIDITY for mailbox with no UID
	// handled yet. Messages handled under the old one stay in the store,
	// so their Message-IDs still de-duplicate what is fetched again.
	ResetCheckpoint(ctx context.Context, mailbox string, uidValidity uint32) error
	// Unmarked lists the messages of mailbox (under uidValidity) whose
	// effects are committed but which are not yet marked handled on the
	// server, by UID.
	Unmarked(ctx context.Context, mailbox string, uidValidity uint32) ([]Unmarked, error)
	// SetMarked records that the server has marked uids of mailbox handled.
	SetMarked(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) error

	// A message that kills the daemon while it is parsed (out of memory, a
	// crash in a library) cannot report its own failure: the parse start
	// is recorded, durably, before the parse, and recorded finished after
	// it, whatever the outcome. A start left unfinished is a process that
	// died during that parse (or, for a batch started together, during one
	// in the batch). The poller reads these counts before it parses,
	// parses the messages of a batch with unfinished starts one at a time,
	// and quarantines, unparsed, a message with MaxAttempts of them. They
	// are kept apart from Poisoned's count of failed applies.

	// ParseAttempts returns the unfinished parse starts recorded for those
	// of uids (of mailbox under uidValidity) that have any, by UID.
	ParseAttempts(ctx context.Context, mailbox string, uidValidity uint32, uids []uint32) (map[uint32]int, error)
	// MarkParsing records, in one commit made durable before it returns,
	// that the parses of done are finished (whatever came of them) and
	// that the parses of start begin. Either may be empty.
	MarkParsing(ctx context.Context, mailbox string, uidValidity uint32, done, start []uint32) error
}

// Unmarked is a committed message not yet marked handled on the server.
type Unmarked struct {
	UID         uint32
	Disposition Disposition
}

// Tx is one transaction of the store.
type Tx interface {
	// Savepoint runs fn so that, when it returns an error, what it changed
	// is undone and the rest of the transaction stands. Savepoints nest.
	Savepoint(fn func() error) error

	MessageTx
	EscalationTx
	ViewTx
	ActionTx

	rawSQL
}

// MessageTx records fetched messages and what became of them.
type MessageTx interface {
	// AdvanceCheckpoint moves the checkpoint of ref's mailbox up to ref's
	// UID, under ref's UIDVALIDITY only.
	AdvanceCheckpoint(ref MessageRef) error
	// RecordMessage records what became of a fetched message, unmarked. The
	// same message recorded again (a checkpoint that went back) is unmarked
	// again, but one once applied stays recorded as applied, with its
	// reason.
	RecordMessage(m MessageRecord) error
}

// EscalationTx reads and changes escalations.
type EscalationTx interface {
	// Escalation reads escalation id; ErrNotFound when there is none.
	Escalation(id int64) (*Escalation, error)
	// SaveEscalation writes s back and bumps its version, so that its
	// tracking file is behind.
	SaveEscalation(s *Escalation) error
	// OpenEscalations reads every escalation not resolved, by number.
	OpenEscalations() ([]*Escalation, error)
}

// MessageRecord is what became of one fetched message.
type MessageRecord struct {
	Ref          MessageRef
	MessageID    string // without brackets; "" for none
	RawSHA256    string // of the raw bytes; "" when not read
	ContentSHA   string // contentDigest, when it has a Message-ID
	RawPath      string // its copy in the raw archive; "" for none
	EscalationID int64  // 0 for none
	Disposition  Disposition
	Reason       string
	HandledAt    time.Time
}

// ViewTx reads what a tracking file shows, and records which version of
// each escalation its file shows.
type ViewTx interface {
	// ViewHead reads the escalation part of what the tracking file of
	// escalation id shows; ErrNotFound when there is none.
	ViewHead(id int64) (ViewHead, error)
	// Reasons reads the classification reasons of escalation id, in order;
	// none when it has none.
	Reasons(id int64) ([]string, error)
	// Plan reads the resolution plan lines of escalation id, oldest first;
	// none when it has none.
	Plan(id int64) ([]string, error)
	// Actions reads the actions of escalation id, by number; none when it
	// has none.
	Actions(id int64) ([]Action, error)
	// TimelineAfter reads the timeline entries of escalation id that sort
	// after p, in file order, and the position of the last one (p when
	// there is none).
	TimelineAfter(id int64, p Position) ([]TimelineEntry, Position, error)
	// LogAfter reads the communication log entries of escalation id that
	// sort after p, in file order, with their attachments, and the position
	// of the last one (p when there is none).
	LogAfter(id int64, p Position) ([]LogEntry, Position, error)
	// CountThrough counts the timeline entries of escalation id that sort
	// at or before timeline, and its log entries at or before log: 0 for
	// the zero Position.
	CountThrough(id int64, timeline, log Position) (timelineN, logN int, err error)

	// SetRendered records that the tracking file of escalation id shows
	// version; a record of a later version stays.
	SetRendered(id, version int64) error
	// TrackingStates lists every escalation, by number, with the versions
	// of the store and of its tracking file; none in an empty store.
	TrackingStates() ([]TrackingState, error)
	// Behind lists the escalations whose tracking file shows an older
	// version than the store holds, by number; none when all are current.
	Behind() ([]TrackingState, error)
	// BehindSettled is Behind without the escalations that have mail
	// queued in the outbox.
	BehindSettled() ([]TrackingState, error)
}

// ViewHead is the escalation part of what a tracking file shows, and the
// store version it is at.
type ViewHead struct {
	Type          Type
	Level         string
	Status        Status
	CustomerName  string
	CustomerEmail string
	Subject       string
	Owner         string // "" when nobody owns it
	Opened        time.Time
	LevelChanged  time.Time
	NextUpdate    time.Time // zero: none
	ResolvedAt    time.Time // zero: not resolved
	Checklist     int       // bit i: item i+1 ticked
	Version       int64
}

// Position is where an entry sorts in its section of the tracking file
// (the timeline or the communication log): by time, then by ID, the
// store's number for the entry, which grows as entries are added. The zero
// Position sorts before every entry.
type Position struct {
	At time.Time
	ID int64 // 0 only in the zero Position
}

// TrackingState is the store version of an escalation and the version its
// tracking file shows.
type TrackingState struct {
	ID       int64
	Version  int64
	Rendered int64 // 0 when its file was never written
}

// ActionTx changes the actions and the resolution plan of escalations.
type ActionTx interface {
	// AddAction adds an action for owner to escalation id and returns its
	// number: 1 for the first.
	AddAction(id int64, text, owner string) (int, error)
	// CompleteAction marks action n of escalation id done; ok is false when
	// it has no action n.
	CompleteAction(id int64, n int) (ok bool, err error)
	// AddPlan adds a line to the resolution plan of escalation id and
	// returns its number: 1 for the first.
	AddPlan(id int64, text string) (int, error)
}
