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
	ThreadTx
	OutboxTx
	SendTx
	RateTx
	SecretTx
	ListTx
	ViewTx
	ActionTx
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
	// AppliedByDigest returns the UID of a message applied with the raw
	// digest rawSHA256; ok is false when there is none.
	AppliedByDigest(rawSHA256 string) (uid int64, ok bool, err error)
	// AppliedByMessageID returns the messages applied with Message-ID mid,
	// in the order they were recorded; none (nil) when there are none.
	AppliedByMessageID(mid string) ([]AppliedMessage, error)
	// CountAttempt records one more failed apply of the message ref, with
	// its error, and returns how many ref has had, this one counted.
	CountAttempt(ref MessageRef, cause string) (int, error)
	// ForgetAttempts forgets the failed applies recorded for ref, and its
	// unfinished parse starts (MarkParsing) with them; none is no error.
	ForgetAttempts(ref MessageRef) error
}

// AppliedMessage is a message recorded as applied, as the duplicate check
// sees it.
type AppliedMessage struct {
	UID        int64
	ContentSHA string // contentDigest; "" when recorded before digests existed
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
	// OpenEscalation records a new escalation, numbered by the store, with
	// its reasons, and returns its number. n.ID is not read.
	OpenEscalation(n NewEscalation) (int64, error)
	// CountOpenedSince counts the escalations of customerKey opened after
	// since; 0 when there are none.
	CountOpenedSince(customerKey string, since time.Time) (int, error)
	// EscalationExists reports whether escalation id exists.
	EscalationExists(id int64) (bool, error)
	// CustomerKey returns the key escalation id counts for in the repeat
	// rule (NewEscalation.CustomerKey); ErrNotFound when there is none.
	CustomerKey(id int64) (string, error)
	// BumpVersion marks escalation id changed: its tracking file is behind.
	// An id that does not exist is no error.
	BumpVersion(id int64) error
	// AddTimeline adds an entry to the timeline of escalation id; actor is
	// "" for the daemon.
	AddTimeline(id int64, at time.Time, text, actor string) error
	// LogInbound adds a received message to the communication log of
	// escalation id, and returns the number of its log entry. e.To holds
	// every recipient (To and Cc); e.Inbound and e.Attachments are not read.
	LogInbound(id int64, e LogEntry) (logID int64, err error)
	// AddAttachment records a saved attachment of log entry logID of
	// escalation id.
	AddAttachment(id, logID int64, a LoggedAttachment) error
	// AttachmentKnown reports whether an attachment is recorded at relPath.
	AttachmentKnown(relPath string) (bool, error)
}

// NewEscalation is an escalation as it is opened.
type NewEscalation struct {
	Escalation            // as classified; ID is not read
	CustomerKey string    // whom the repeat rule counts it for
	ClockStart  time.Time // when its SLA and update clocks started
	Reasons     []string  // why it was classified so, in order
}

// ThreadTx knows which escalation a Message-ID threads to, which
// Message-IDs are the daemon's own, and who takes part in an escalation.
type ThreadTx interface {
	// ThreadOf returns the escalation Message-ID mid threads to; ok is
	// false when it names none, or names no thread since two different
	// messages had it (MarkThreadAmbiguous).
	ThreadOf(mid string) (escID int64, ok bool, err error)
	// AddThreadID remembers that Message-ID mid, of a message received
	// (outbound false) or of mail queued (true), threads to escalation
	// escID. A Message-ID remembered before keeps what it had.
	AddThreadID(mid string, escID int64, outbound bool) error
	// MarkThreadAmbiguous records that Message-ID mid, which the applied
	// message of UID uid has too, threads to nothing any more. It does
	// nothing when that message belongs to no escalation.
	MarkThreadAmbiguous(mid string, uid int64) error
	// IsOwnMessageID reports whether mid is the Message-ID of mail the
	// daemon queued.
	IsOwnMessageID(mid string) (bool, error)
	// QueuedFor returns the escalation of the mail queued with Message-ID
	// mid; ok is false when no mail has it.
	QueuedFor(mid string) (escID int64, ok bool, err error)
	// AddParticipant makes email a participant of escalation id; one
	// already there (in any case) is no error.
	AddParticipant(id int64, email string) error
	// IsParticipant reports whether email (in any case) is a participant
	// of escalation id.
	IsParticipant(id int64, email string) (bool, error)
}

// OutboxTx is the outbox: mail queued, to be sent after the commit.
type OutboxTx interface {
	// Enqueue queues m, due at once, queued at at. Its Message-ID must be
	// new: one queued before is an error.
	Enqueue(m *Outgoing, at time.Time) error
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

// SendTx reads the outbox and records what became of its mail, and reads
// what the mail of an escalation quotes.
type SendTx interface {
	// DueMail returns up to limit queued mails with an outbox id above
	// after and a next attempt not later than due, by id; none is nil.
	DueMail(after int64, due time.Time, limit int) ([]QueuedMail, error)
	// NextMailDue returns the earliest next attempt of the queued mail; ok
	// is false when nothing is queued.
	NextMailDue() (at time.Time, ok bool, err error)
	// QueuedMailCount counts the queued mail; 0 when none is.
	QueuedMailCount() (int, error)
	// Outbox lists every queued, sent and failed mail, by id; none is nil.
	Outbox() ([]OutboxItem, error)
	// MailSent records that the server accepted outbox mail id at at.
	MailSent(id int64, at time.Time) error
	// MailDeferred records a transient failure of outbox mail id: one more
	// attempt, the next one at next.
	MailDeferred(id int64, next time.Time, cause string) error
	// MailFailed records that the server refused outbox mail id for good.
	MailFailed(id int64, cause string) error
	// LogOutbound adds mail m, sent at at, to its escalation's log, with
	// text as what was said (its To and Cc as the recipients).
	LogOutbound(m *Outgoing, at time.Time, text, note string) error
	// TickCustomerNotified ticks checklist item 7 (customer notified of
	// escalation) of escalation id.
	TickCustomerNotified(id int64) error
	// FirstCustomerText returns the text of the first message logged in
	// escalation id from the address email; "" when there is none.
	FirstCustomerText(id int64, email string) (string, error)
	// LatestCustomerText returns the text of the last message logged in
	// escalation id from the address email; "" when there is none.
	LatestCustomerText(id int64, email string) (string, error)
}

// QueuedMail is a mail of the outbox waiting to be sent.
type QueuedMail struct {
	ID       int64    // in the outbox
	Attempts int      // made so far, all failed
	Mail     Outgoing // its Mail.ID is ID
}

// RateTx keeps the events the rate limits count (§11).
type RateTx interface {
	// RateEvents counts the events of kind and key after since.
	RateEvents(kind, key string, since time.Time) (int, error)
	// NoteRateEvent records one event of kind and key at at.
	NoteRateEvent(kind, key string, at time.Time) error
	// EventsSinceLast counts the events of kind recorded after the last
	// one of kind last (all of them when there is none), and returns the
	// time of the earliest counted; 0 and the zero time when none is.
	EventsSinceLast(kind, last string) (n int, first time.Time, err error)
	// PruneRateEvents forgets the events before before.
	PruneRateEvents(before time.Time) error
}

// SecretTx keeps the reply-key secrets (§11).
type SecretTx interface {
	// ReplyKeySecret returns the newest unretired reply-key secret and its
	// id; ok is false when there is none.
	ReplyKeySecret() (id int64, secret []byte, ok bool, err error)
	// RetireReplyKeySecret retires reply-key secret id at at.
	RetireReplyKeySecret(id int64, at time.Time) error
	// AddReplyKeySecret keeps secret as the newest reply-key secret,
	// created at at.
	AddReplyKeySecret(secret []byte, at time.Time) error
	// RetiredReplyKeySecrets returns the reply-key secrets retired after
	// since, newest first; none is nil.
	RetiredReplyKeySecrets(since time.Time) ([][]byte, error)
}

// ListTx reads the overviews of `list`, the demo and the benchmarks.
type ListTx interface {
	// Summaries returns every escalation's summary, by number, with what
	// the store holds filled in (not Tag, TrackingPath, SLAConsumed nor
	// Overdue); none is nil.
	Summaries() ([]SummaryRecord, error)
	// MessageCounts counts the fetched messages by disposition; an empty
	// map when there are none.
	MessageCounts() (map[Disposition]int, error)
}

// SummaryRecord is a Summary as the store has it, with what the core needs
// to fill in the rest.
type SummaryRecord struct {
	Summary
	LevelChanged time.Time
	ResolvedAt   time.Time // zero while not resolved
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
