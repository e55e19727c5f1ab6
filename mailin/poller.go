// Package mailin is the inbound door: it watches the escalation mailbox over
// IMAP (go-imap v2), parses each new message with go-message into a
// workflow.Inbound, hands it to the core (workflow), and marks on the server
// what the core says it may mark: only what it committed and wrote out.
package mailin

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/escalationd/escalationd/internal/backoff"
	"github.com/escalationd/escalationd/workflow"
)

// ErrAuth means the server refused the login: retrying soon will not help.
var ErrAuth = errors.New("IMAP login refused")

// Options configure the poller. Zero values are noted per field.
type Options struct {
	Host              string
	Port              int
	TLS               string      // "implicit", "starttls" or "none"
	TLSConfig         *tls.Config // nil means verify the server as Host
	Username          string
	Password          string
	Mailbox           string        // "" means INBOX
	ProcessedMailbox  string        // "" means flag handled mail \Seen and leave it
	QuarantineMailbox string        // "" means Quarantine
	PollInterval      time.Duration // 0 means one minute; also the longest IDLE
	Idle              bool          // use IDLE when the server has it
	MaxMessageBytes   int64         // larger mail is quarantined unread; 0 means no limit
	MaxHeaderBytes    int64         // per header block (the message's and each part's); more is quarantined; 0 means 256 KiB
	MaxHeaderFields   int           // per header block; more is quarantined; 0 means 2000
	DataDir           string        // raw archive (DataDir/raw) and attachment spool (DataDir/spool)
	BatchSize         int           // messages fetched per round trip; 0 means 50
	MaxBackoff        time.Duration // longest wait before reconnecting; 0 means 5 minutes
}

// Stats count what a cycle did: the messages fetched, and what the core
// made of them.
type Stats struct {
	Fetched int
	workflow.IntakeStats
}

// Core is what the door needs of the core (workflow.Engine): it applies
// what the door fetched and says what the door may mark.
type Core interface {
	// ApplyFetched applies a fetch batch in UID order (workflow.Engine).
	ApplyFetched(ctx context.Context, batch []workflow.Fetched, st *workflow.IntakeStats) error
	// Settle writes what is behind and returns what may be marked.
	Settle(ctx context.Context, mailbox string, uidValidity uint32) ([]workflow.Unmarked, error)
}

// Poller reads the mailbox and feeds the core.
type Poller struct {
	opts Options
	st   workflow.MailboxStore // checkpoints, marks, parse attempts
	core Core
	// beforeParse, when set (tests only), runs before each message is
	// parsed: a test watches the parses, or dies in one.
	beforeParse func(uid uint32)
	log         *slog.Logger
	newMail     chan struct{}

	// swept is set once the spool was swept of what an earlier process or
	// a failed batch left there; a failed batch clears it.
	swept bool
}

// New returns a poller that keeps its place in st and hands what it fetches
// to core. log nil means slog.Default().
func New(opts Options, st workflow.MailboxStore, core Core, log *slog.Logger) *Poller {
	if opts.Mailbox == "" {
		opts.Mailbox = "INBOX"
	}
	if opts.QuarantineMailbox == "" {
		opts.QuarantineMailbox = "Quarantine"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Poller{opts: opts, st: st, core: core, log: log, newMail: make(chan struct{}, 1)}
}

func (p *Poller) addr() string { return net.JoinHostPort(p.opts.Host, strconv.Itoa(p.opts.Port)) }

// Run watches the mailbox until ctx ends: it handles what is pending, then
// waits with IDLE (renewed every PollInterval) or polls every PollInterval.
// A lost connection is re-established with capped, jittered exponential
// backoff; a refused login waits the longest backoff at once. Run returns nil
// when ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	b := backoff.Backoff{Min: time.Second, Max: p.opts.MaxBackoff}
	for {
		err := p.session(ctx, &b)
		if ctx.Err() != nil {
			return nil
		}
		wait := b.Next()
		var le localError
		switch {
		case errors.Is(err, ErrAuth):
			wait = b.Max
			p.log.Error("IMAP login refused; check imap.username and the password", "server", p.addr(), "retry_in", wait, "err", err)
		case errors.As(err, &le):
			p.log.Error("cannot handle mail: local disk or store error; the mail stays unhandled on the server and is retried",
				"retry_in", wait.Round(time.Millisecond), "err", err)
		default:
			p.log.Warn("IMAP session ended; reconnecting", "server", p.addr(), "retry_in", wait.Round(time.Millisecond), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// localError is a failure on this side (escalation.dir, data_dir, the store),
// not of the IMAP connection: a full or read-only disk, say.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

func local(err error) error {
	if err == nil {
		return nil
	}
	return localError{err}
}

// session runs cycles on one connection until it fails or ctx ends.
func (p *Poller) session(ctx context.Context, b *backoff.Backoff) error {
	sess, err := p.Connect(ctx)
	if err != nil {
		return err
	}
	defer sess.Close()
	// Shutdown finishes the message in hand; should a server stall, the
	// connection is cut so the daemon still exits within its 10 s.
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, func() { sess.Close() }) })
	defer stop()
	for {
		if _, err := sess.cycle(ctx, false); err != nil {
			return err
		}
		b.Reset()
		if ctx.Err() != nil {
			sess.Logout()
			return nil
		}
		if err := p.wait(ctx, sess.c); err != nil {
			return err
		}
		if ctx.Err() != nil {
			sess.Logout()
			return nil
		}
	}
}

// shutdownGrace is how long a session may go on after shutdown began.
const shutdownGrace = 7 * time.Second
