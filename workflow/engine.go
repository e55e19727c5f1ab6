package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/templates"
)

// Engine applies inbound messages to escalations, queues the mail they cause
// and keeps the tracking files. Its methods are safe for concurrent use.
type Engine struct {
	st     Store
	cfg    Options
	loc    *time.Location
	tmpl   *templates.Set
	now    func() time.Time
	log    *slog.Logger
	router router
	class  *Classifier
	keys   replyKeys // secrets of the staff reply addresses (§11)

	fromName, fromEmail string

	renderMu sync.Mutex   // one tracking-file write at a time
	sections sectionCache // rendered sections of long escalations; under renderMu
	// beforeApply, when set (tests only), runs first in every apply: a
	// test makes a message poison with it.
	beforeApply func(*Inbound)
	wake        chan struct{} // signalled when mail is queued
	// stale: the next Settle looks for missing and half-written tracking
	// files (RenderStale); set at start and by a failure.
	stale atomic.Bool
}

// New returns an engine over st, configured by opts, which must come from a
// validated configuration (OptionsFrom).
func New(st Store, opts Options) (*Engine, error) {
	cfg, tmpl, now, log := opts, opts.Templates, opts.Now, opts.Log
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	loc, err := time.LoadLocation(cfg.Escalation.Timezone)
	if err != nil {
		return nil, fmt.Errorf("escalation.timezone: %w", err)
	}
	from, err := mail.ParseAddress(cfg.Mail.From)
	if err != nil {
		return nil, fmt.Errorf("smtp.from: %w", err)
	}
	if err := os.MkdirAll(cfg.Escalation.Dir, durable.DirMode); err != nil {
		return nil, fmt.Errorf("create escalation.dir %s: %w", cfg.Escalation.Dir, err)
	}
	class, err := NewClassifier(cfg.Classification)
	if err != nil {
		return nil, fmt.Errorf("classification: %w", err)
	}
	keys, err := loadReplyKeys(context.Background(), st, cfg.Staff.ReplyKeySecretFile, now())
	if err != nil {
		return nil, err
	}
	e := &Engine{
		class: class, keys: keys,
		st: st, cfg: cfg, loc: loc, tmpl: tmpl, now: now, log: log,
		router:   newRouter(cfg.Escalation.IDPrefix, cfg.Escalation.Address),
		fromName: from.Name, fromEmail: from.Address,
		wake: make(chan struct{}, 1),
	}
	e.stale.Store(true)
	return e, nil
}

// Store returns the engine's store.
func (e *Engine) Store() Store { return e.st }

// OutboxWake is signalled (without blocking) each time mail is queued.
func (e *Engine) OutboxWake() <-chan struct{} { return e.wake }

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Tag formats an escalation number with the configured prefix: "ESC-00042".
func (e *Engine) Tag(id int64) string { return FormatTag(e.cfg.Escalation.IDPrefix, id) }

// TrackingPath is the tracking file of escalation id.
func (e *Engine) TrackingPath(id int64) string {
	return filepath.Join(e.cfg.Escalation.Dir, e.Tag(id)+"-tracking.md")
}

// trackingPathForMail is the tracking file of escalation id as mail to staff
// names it: absolute, since escalation.dir may be relative to wherever the
// daemon was started.
func (e *Engine) trackingPathForMail(id int64) string {
	p := e.TrackingPath(id)
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// trackingDirForMail is escalation.dir as an absolute path, for mail.
func (e *Engine) trackingDirForMail() string {
	if abs, err := filepath.Abs(e.cfg.Escalation.Dir); err == nil {
		return abs
	}
	return e.cfg.Escalation.Dir
}

// Result tells what Ingest did with a message.
type Result struct {
	Disposition  Disposition
	EscalationID int64 // 0 when none
	New          bool  // a new escalation was opened
	Via          string
}

// Ingest applies one inbound message, IngestBatch of one, and rewrites the
// tracking file of its escalation. An error means nothing was committed,
// except when it wraps ErrRender: then the message is committed and only its
// tracking file is behind (RenderBehind retries it).
func (e *Engine) Ingest(ctx context.Context, in *Inbound) (Result, error) {
	res, err := e.IngestBatch(ctx, []*Inbound{in})
	if err != nil {
		return Result{}, err
	}
	if res[0].Disposition == Applied && res[0].EscalationID != 0 {
		return res[0], e.render(ctx, res[0].EscalationID)
	}
	return res[0], nil
}

// IngestBatch applies inbound messages in order, in one transaction: each
// message is de-duplicated, routed to its escalation or opens a new one,
// has its attachments saved, queues the mail it causes and advances the
// mailbox checkpoint, under a savepoint of its own. Before the commit, the
// files the messages refer to (raw message, attachments) are made durable
// with one sync. The tracking files of the escalations it touched are then
// behind the store: RenderBehind writes each of them once, however many
// messages of the batch (or of several batches) touched it.
//
// It returns the results of the messages it committed, a prefix of ins.
// When that prefix is shorter than ins, err is the error of the first
// message not committed (ins[len(results)]), and nothing after it was
// tried: a message that fails is rolled back alone, the ones before it are
// committed.
func (e *Engine) IngestBatch(ctx context.Context, ins []*Inbound) ([]Result, error) {
	var results []Result
	var failed error
	err := e.st.Update(ctx, func(tx Tx) error {
		for _, in := range ins {
			res, err := e.applySavepoint(tx, in)
			if err != nil {
				failed = &MessageError{UID: in.UID, Err: err}
				break
			}
			results = append(results, res)
		}
		if len(results) == 0 {
			return failed // nothing to commit
		}
		return e.syncFiles(ins[:len(results)])
	})
	if err != nil {
		return nil, err
	}
	e.signal() // the mail they queued is committed
	for i, res := range results {
		in := ins[i]
		if res.Disposition == Applied && res.Via != "automatic" && res.Via != "delivery report" {
			e.log.Info("message applied", "uid", in.UID, "message_id", in.MessageID, "escalation", e.Tag(res.EscalationID), "via", res.Via)
		}
	}
	return results, failed
}

// applySavepoint applies one message under a savepoint, so that its failure
// undoes only its own changes. A bug tripped by the message must not stop
// the daemon, nor leave the transaction open: a panic becomes its error,
// wrapping ErrPoison.
func (e *Engine) applySavepoint(tx Tx, in *Inbound) (res Result, err error) {
	err = tx.Savepoint(func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: panic while applying message UID %d: %v", ErrPoison, in.UID, r)
				e.log.Error("panic while applying a message", "uid", in.UID, "message_id", in.MessageID, "panic", r, "stack", string(debug.Stack()))
			}
		}()
		res, err = e.apply(tx, in)
		return err
	})
	return res, err
}

// syncFiles makes the files the messages ins refer to durable before their
// commit: the raw messages and the attachments moved into escalation.dir.
func (e *Engine) syncFiles(ins []*Inbound) error {
	var dirs []string
	for _, in := range ins {
		if in.RawPath != "" && !slices.Contains(dirs, filepath.Dir(in.RawPath)) {
			dirs = append(dirs, filepath.Dir(in.RawPath))
		}
		if len(in.Attachments) > 0 && !slices.Contains(dirs, e.cfg.Escalation.Dir) {
			dirs = append(dirs, e.cfg.Escalation.Dir)
		}
	}
	return durable.Sync(dirs...)
}

// ErrPoison marks a failure caused by the message itself (a panic while
// applying it), not by the store or the disk: retrying will not help.
var ErrPoison = errors.New("message cannot be applied")

// ErrRender wraps a failure to write a tracking file after its change was
// committed.
var ErrRender = errors.New("tracking file not written")
