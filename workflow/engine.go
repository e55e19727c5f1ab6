package workflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/escalationd/escalationd/internal/config"
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

func (e *Engine) apply(tx Tx, in *Inbound) (Result, error) {
	if e.beforeApply != nil {
		e.beforeApply(in)
	}
	now := e.now()
	ref := MessageRef{Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID, InternalDate: in.InternalDate, Size: in.Size}
	dupOf, reusedUID, err := e.duplicateOf(tx, in)
	if err != nil {
		return Result{}, err
	}
	if dupOf != "" {
		e.log.Info("duplicate message: applied before, not applied again", "uid", in.UID, "message_id", in.MessageID, "same_as", dupOf)
		if err := recordMessage(tx, ref, in, 0, Duplicate, "same as "+dupOf, now); err != nil {
			return Result{}, err
		}
		in.RemoveSpool()
		return Result{Disposition: Duplicate}, tx.AdvanceCheckpoint(ref)
	}

	if in.DeliveryReport == nil && !usableSender(in.From.Email) {
		// Nobody to answer and nobody to thread by: a person looks at it.
		const reason = "no sender address"
		e.log.Warn("message quarantined", "uid", in.UID, "message_id", in.MessageID, "reason", reason)
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, now); err != nil {
			return Result{}, err
		}
		in.RemoveSpool()
		return Result{Disposition: Quarantined}, tx.AdvanceCheckpoint(ref)
	}
	if reusedUID != 0 {
		// Two different messages share this Message-ID: it no longer
		// says which thread a reply belongs to.
		if err := tx.MarkThreadAmbiguous(in.MessageID, reusedUID); err != nil {
			return Result{}, err
		}
	}

	id, via, err := e.router.route(tx, in)
	if err != nil {
		return Result{}, err
	}
	ours, err := ownMessageID(tx, in.MessageID)
	if err != nil {
		return Result{}, err
	}
	auto, why := Automatic(in, e.cfg.Escalation.Address, func(string) bool { return ours })
	if auto {
		// A delivery report belongs to the escalation of the mail it
		// returns, whoever reports it.
		if rid, err := reportedEscalation(tx, in); err != nil {
			return Result{}, err
		} else if rid != 0 {
			return e.deliveryReport(tx, ref, in, rid, why, now)
		}
	}
	// §10: only staff and participants write into an escalation by naming it.
	var named int64
	if id != 0 {
		ok, err := e.mayWrite(tx, id, in.From.Email)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			e.log.Warn("sender is not a participant of the escalation it names: not written into it", "uid", in.UID, "from", in.From.Email, "named", e.Tag(id), "via", via)
			named, id = id, 0
		}
	}
	if auto {
		return e.automatic(tx, ref, in, id, named, why, now)
	}
	res := Result{Disposition: Applied, EscalationID: id, Via: via}
	if id == 0 {
		if id, err = e.open(tx, in, now); err != nil {
			return Result{}, err
		}
		res.EscalationID, res.New, res.Via = id, true, "new"
		if named != 0 {
			if err := addTimeline(tx, id, now, fmt.Sprintf("Named %s but is not a participant of it: opened as a new escalation", e.Tag(named)), in.From.Email); err != nil {
				return Result{}, err
			}
		}
	} else if err := e.reply(tx, id, in, via, now); err != nil {
		return Result{}, err
	}
	if reusedUID != 0 {
		if err := addTimeline(tx, id, now, fmt.Sprintf("Message-ID <%s> reused: another message (UID %d) has it too; applied as a message of its own", OneLine(in.MessageID), reusedUID), in.From.Email); err != nil {
			return Result{}, err
		}
	}
	if err := e.logInbound(tx, id, in, now); err != nil {
		return Result{}, err
	}
	if res.New {
		if err := e.announce(tx, id, in, now); err != nil {
			return Result{}, err
		}
	}
	if in.MessageID != "" {
		if err := tx.AddThreadID(in.MessageID, id, false); err != nil {
			return Result{}, err
		}
	}
	if err := addParticipants(tx, id, e.cfg.Escalation.Address, append(append([]Address{in.From}, in.To...), in.Cc...)); err != nil {
		return Result{}, err
	}
	if err := recordMessage(tx, ref, in, id, Applied, "", now); err != nil {
		return Result{}, err
	}
	if err := bumpVersion(tx, id); err != nil {
		return Result{}, err
	}
	return res, tx.AdvanceCheckpoint(ref)
}

// usableSender reports whether addr is an address mail can go back to.
func usableSender(addr string) bool {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	return at > 0 && at < len(addr)-1 && !strings.ContainsAny(addr, " \t\r\n<>()")
}

// ownMessageID reports whether mid is a Message-ID the daemon generated. A
// store error is returned, never taken for "not ours": loop detection must
// not fail open.
func ownMessageID(tx Tx, mid string) (bool, error) {
	if mid == "" {
		return false, nil
	}
	return tx.IsOwnMessageID(mid)
}

// automatic records automatic mail (§10): it opens nothing, changes no
// status and is answered by nothing; where it belongs to an escalation it
// is logged there, marked automatic.
// named is the escalation it named when its sender is no participant of it
// (§10): it is then recorded as belonging to none.
func (e *Engine) automatic(tx Tx, ref MessageRef, in *Inbound, id, named int64, why string, now time.Time) (Result, error) {
	e.log.Info("automatic mail: not acted on", "uid", in.UID, "message_id", in.MessageID, "from", in.From.Email, "reason", why, "escalation", e.Tag(id))
	if id == 0 {
		in.RemoveSpool()
		reason := "automatic mail (" + why + "), belongs to no escalation: not acted on"
		if named != 0 {
			reason = "automatic mail (" + why + ") named " + e.Tag(named) + " but its sender is not a participant: belongs to no escalation, not acted on"
		}
		if err := recordMessage(tx, ref, in, 0, Applied, reason, now); err != nil {
			return Result{}, err
		}
		return Result{Disposition: Applied, Via: "automatic"}, tx.AdvanceCheckpoint(ref)
	}
	in.Notes = append(in.Notes, "automatic mail ("+why+"): not acted on")
	if err := e.logInbound(tx, id, in, now); err != nil {
		return Result{}, err
	}
	if err := addTimeline(tx, id, now, fmt.Sprintf("Automatic mail from %s logged (%s)", in.From.Email, why), ""); err != nil {
		return Result{}, err
	}
	if err := recordMessage(tx, ref, in, id, Applied, "automatic: "+why, now); err != nil {
		return Result{}, err
	}
	if err := bumpVersion(tx, id); err != nil {
		return Result{}, err
	}
	return Result{Disposition: Applied, EscalationID: id, Via: "automatic"}, tx.AdvanceCheckpoint(ref)
}

// duplicateOf returns a description of the earlier message in is a copy of
// (the same bytes, or the same Message-ID with the same content), or "";
// reused is the UID of an applied message that has in's Message-ID with
// other content (0 for none).
func (e *Engine) duplicateOf(tx Tx, in *Inbound) (dupOf string, reused int64, err error) {
	if in.RawSHA256 != "" {
		uid, ok, err := tx.AppliedByDigest(in.RawSHA256)
		if err != nil {
			return "", 0, err
		}
		if ok {
			return fmt.Sprintf("identical bytes (UID %d)", uid), 0, nil
		}
	}
	if in.MessageID == "" {
		return "", 0, nil
	}
	// The same Message-ID is a copy only with the same content: some
	// clients and scripts give every message one Message-ID (§10). A
	// message recorded before content digests existed ('') counts as a
	// copy, as it did then.
	applied, err := tx.AppliedByMessageID(in.MessageID)
	if err != nil {
		return "", 0, err
	}
	digest := contentDigest(in)
	for _, m := range applied {
		if m.ContentSHA == digest || m.ContentSHA == "" {
			return fmt.Sprintf("Message-ID <%s> with the same sender, date and text (UID %d)", in.MessageID, m.UID), 0, nil
		}
		if reused == 0 {
			reused = m.UID
		}
	}
	return "", reused, nil
}

// contentDigest identifies a message's content apart from its transport
// headers: the sender, the Date and the body text.
func contentDigest(in *Inbound) string {
	h := sha256.New()
	date := int64(0)
	if !in.Date.IsZero() {
		date = in.Date.Unix()
	}
	fmt.Fprintf(h, "%s\x00%d\x00%s", strings.ToLower(strings.TrimSpace(in.From.Email)), date, in.Text)
	return hex.EncodeToString(h.Sum(nil))
}

// recordMessage records what became of a fetched message. The same UID seen
// again (a checkpoint that went back) is marked again, but a message once
// applied stays recorded as applied.
func recordMessage(tx Tx, ref MessageRef, in *Inbound, escID int64, d Disposition, reason string, now time.Time) error {
	rec := MessageRecord{Ref: ref, EscalationID: escID, Disposition: d, Reason: reason, HandledAt: now}
	if in != nil {
		rec.MessageID, rec.RawSHA256, rec.RawPath = in.MessageID, in.RawSHA256, in.RawPath
		if in.MessageID != "" {
			rec.ContentSHA = contentDigest(in)
		}
	}
	return tx.RecordMessage(rec)
}

// MaxAttempts is how often a message that fails with ErrPoison is tried
// before it is quarantined.
const MaxAttempts = 3

// Poisoned records a failed attempt at applying the message ref with an
// error wrapping ErrPoison. On the MaxAttempts-th attempt it records the
// message as quarantined, with the reason, and returns true: the caller
// moves it to the quarantine mailbox and goes on with the messages behind
// it. Attempts are counted in the store, so restarts do not reset them.
func (e *Engine) Poisoned(ctx context.Context, ref MessageRef, rawPath string, cause error) (bool, error) {
	var quarantined bool
	err := e.st.Update(ctx, func(tx Tx) error {
		n, err := tx.CountAttempt(ref, cause.Error())
		if err != nil {
			return err
		}
		if n < MaxAttempts {
			e.log.Warn("message failed; it will be tried again", "uid", ref.UID, "attempt", n, "of", MaxAttempts, "err", cause)
			return nil
		}
		quarantined = true
		reason := fmt.Sprintf("failed %d times: %v", n, cause)
		e.log.Error("quarantining a message that keeps failing", "uid", ref.UID, "reason", reason)
		in := &Inbound{RawPath: rawPath}
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, e.now()); err != nil {
			return err
		}
		if err := tx.AdvanceCheckpoint(ref); err != nil {
			return err
		}
		return e.syncFiles([]*Inbound{in})
	})
	return quarantined, err
}

// Quarantine records that the message ref is set aside without being applied,
// and why, and advances the checkpoint past it; its attempts are forgotten.
// The caller then moves it to the quarantine mailbox.
func (e *Engine) Quarantine(ctx context.Context, ref MessageRef, rawPath, reason string) error {
	return e.st.Update(ctx, func(tx Tx) error {
		in := &Inbound{RawPath: rawPath}
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, e.now()); err != nil {
			return err
		}
		if err := tx.ForgetAttempts(ref); err != nil {
			return err
		}
		if err := tx.AdvanceCheckpoint(ref); err != nil {
			return err
		}
		return e.syncFiles([]*Inbound{in})
	})
}

func bumpVersion(tx Tx, id int64) error {
	return tx.BumpVersion(id)
}

func addTimeline(tx Tx, id int64, at time.Time, text, actor string) error {
	return tx.AddTimeline(id, at, text, actor)
}

func addParticipants(tx Tx, id int64, own string, addrs []Address) error {
	for _, a := range addrs {
		email := strings.TrimSpace(a.Email)
		if email == "" || strings.EqualFold(email, own) {
			continue
		}
		if err := tx.AddParticipant(id, email); err != nil {
			return err
		}
	}
	return nil
}

// customer returns the customers entry of email's domain, or a customer named
// by the address itself.
func (e *Engine) customer(email string) (config.Customer, bool) {
	domain := ""
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	for _, c := range e.cfg.Customers {
		if strings.EqualFold(c.Domain, domain) {
			return c, true
		}
	}
	return config.Customer{Domain: domain, Name: email}, false
}

// open creates a new escalation from in and queues its acknowledgement.
func (e *Engine) open(tx Tx, in *Inbound, now time.Time) (int64, error) {
	cust, known := e.customer(in.From.Email)
	opened := in.InternalDate
	if opened.IsZero() {
		opened = now
	}
	key := strings.ToLower(in.From.Email)
	if known {
		key = "customer:" + strings.ToLower(cust.Domain)
	}
	recent, err := tx.CountOpenedSince(key, opened.Add(-e.cfg.Classification.RepeatWindow))
	if err != nil {
		return 0, err
	}
	dec := e.class.Decide(in, cust, recent+1) // this one counted
	age := now.Sub(opened)
	tooOld := e.cfg.Limits.AckMaxAge > 0 && age > e.cfg.Limits.AckMaxAge
	clock := opened
	if tooOld {
		clock = now // §7: a backlog does not set off alerts at once
	}
	every := e.cfg.Escalation.UpdateInterval
	id, err := tx.OpenEscalation(NewEscalation{
		Escalation: Escalation{
			Type: dec.Type, Level: dec.Level, Status: dec.Status,
			CustomerName: cust.Name, CustomerEmail: in.From.Email, Vendor: dec.Vendor,
			RequesterName: in.From.Name, Subject: e.router.cleanSubject(in.Subject),
			Opened: opened, LevelChanged: clock, NextUpdate: clock.Add(every), UpdateEvery: every,
			RootMessageID: in.MessageID, Checklist: diagnosticData(in),
		},
		CustomerKey: key,
		ClockStart:  clock,
		Reasons:     dec.Reasons,
	})
	if err != nil {
		return 0, err
	}
	if err := e.claimTracking(id); err != nil {
		return 0, err
	}
	if err := addTimeline(tx, id, opened, "Initial escalation received from "+in.From.Email, in.From.Email); err != nil {
		return 0, err
	}
	if err := addTimeline(tx, id, now, fmt.Sprintf("Classified %s, level %s, status %s", dec.Type, dec.Level, dec.Status), ""); err != nil {
		return 0, err
	}
	switch {
	case tooOld:
		err = addTimeline(tx, id, now, fmt.Sprintf("No acknowledgement or notification sent: the message arrived %s ago, more than limits.ack_max_age (%s)", roundAge(age), e.cfg.Limits.AckMaxAge), "")
	default:
		var held string
		held, err = e.ackHeld(tx, in, known, now)
		if err != nil {
			return 0, err
		}
		if held != "" {
			e.log.Warn("acknowledgement not sent", "to", in.From.Email, "escalation", e.Tag(id), "reason", held)
			err = addTimeline(tx, id, now, held, "")
		} else {
			err = e.queueAck(tx, id, in, cust, dec.Type, dec.Level, clock.Add(every), now)
		}
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// announce tells the roster of a new escalation's starting level, and the
// vendor when it is a vendor escalation, once its opening message is logged
// (so both quote the customer's words). A backlog older than ack_max_age
// mails nobody (§10).
func (e *Engine) announce(tx Tx, id int64, in *Inbound, now time.Time) error {
	if e.cfg.Limits.AckMaxAge > 0 && !in.InternalDate.IsZero() && now.Sub(in.InternalDate) > e.cfg.Limits.AckMaxAge {
		return nil
	}
	st, err := loadEsc(tx, id)
	if err != nil {
		return err
	}
	held, err := e.notifyHeld(tx, now)
	if err != nil {
		return err
	}
	if held {
		e.log.Warn("notification not sent: limits.notifications_per_hour reached", "escalation", e.Tag(id), "limit", e.cfg.Limits.NotificationsPerHour)
		if err := addTimeline(tx, id, now, fmt.Sprintf("notification suppressed: rate limit (limits.notifications_per_hour is %d)", e.cfg.Limits.NotificationsPerHour), ""); err != nil {
			return err
		}
	} else if err := e.queueNotify(tx, st, "new escalation", "", now); err != nil {
		return err
	}
	if err := e.maybeVendorRequest(tx, st, now); err != nil {
		return err
	}
	return st.save(tx)
}

func roundAge(d time.Duration) time.Duration {
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

func (e *Engine) logInbound(tx Tx, id int64, in *Inbound, now time.Time) error {
	note := strings.Join(in.Notes, "; ")
	if in.TextFromHTML {
		note = strings.TrimPrefix(note+"; text taken from the HTML part", "; ")
	}
	text, stripped := StripQuoted(in.Text) // the log shows the new text; the archive keeps it all
	if stripped {
		note = strings.TrimPrefix(note+"; quoted text stripped", "; ")
	}
	at := in.InternalDate
	if at.IsZero() {
		at = now
	}
	logID, err := tx.LogInbound(id, LogEntry{
		At: at, Inbound: true, From: in.From, To: append(append([]Address{}, in.To...), in.Cc...),
		Subject: in.Subject, Text: text, Note: note,
	})
	if err != nil {
		return err
	}
	if len(in.Attachments) == 0 {
		return nil
	}
	root, err := e.openDir()
	if err != nil {
		return err
	}
	defer root.Close()
	tag := e.Tag(id)
	taken := map[string]bool{}
	for _, a := range in.Attachments {
		name, err := e.placeAttachment(tx, root, tag, taken, a)
		if err != nil {
			return err
		}
		if err := tx.AddAttachment(id, logID, LoggedAttachment{Name: name, RelPath: tag + "/" + name, Size: a.Size}); err != nil {
			return err
		}
	}
	return nil
}

// newMessageID returns a fresh Message-ID (without brackets) in the domain of
// the escalation address.
func (e *Engine) newMessageID(tag, kind string) string {
	var b [8]byte
	rand.Read(b[:])
	domain := "escalationd.invalid"
	if i := strings.LastIndexByte(e.cfg.Escalation.Address, '@'); i >= 0 {
		domain = e.cfg.Escalation.Address[i+1:]
	}
	return fmt.Sprintf("%s.%s.%s@%s", strings.ToLower(tag), kind, hex.EncodeToString(b[:]), domain)
}

// plusAddress is the escalation's own address: escalations+ESC-00042@example.com.
func (e *Engine) plusAddress(tag string) string {
	a := e.cfg.Escalation.Address
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i] + "+" + tag + a[i:]
	}
	return a
}

// enqueue stores m in the outbox within tx. Its Message-ID is fixed here and
// remembered for threading.
func (e *Engine) enqueue(tx Tx, m *Outgoing, now time.Time) error {
	if len(m.To) == 0 {
		return fmt.Errorf("queue %s mail: no recipient", m.Kind)
	}
	if err := tx.Enqueue(m, now); err != nil {
		return err
	}
	if m.EscalationID != 0 {
		if err := tx.AddThreadID(m.MessageID, m.EscalationID, true); err != nil {
			return err
		}
		// Whoever we write to may write back (§10 participants).
		if err := addParticipants(tx, m.EscalationID, e.cfg.Escalation.Address, append(append([]Address{}, m.To...), m.Cc...)); err != nil {
			return err
		}
	}
	return nil
}

// mailHeaders are the §8 headers every mail carries, after Auto-Submitted.
func (e *Engine) mailHeaders(autoSubmitted string) [][2]string {
	return [][2]string{
		{"Auto-Submitted", autoSubmitted},
		{"X-Auto-Response-Suppress", "All"},
		{"X-Escalationd-Loop", e.cfg.Escalation.Address},
	}
}

// queueAck queues the acknowledgement of a new escalation (§8).
func (e *Engine) queueAck(tx Tx, id int64, in *Inbound, cust config.Customer, typ Type, level string, nextUpdate, now time.Time) error {
	tag := e.Tag(id)
	subject := e.router.cleanSubject(in.Subject)
	body, err := e.tmpl.Render(templates.Ack, templates.AckData{
		Salutation:  salutation(in.From.Name, cust.Name, in.From.Email),
		Subject:     subject,
		Tag:         tag,
		UpdateEvery: durationWords(e.cfg.Escalation.UpdateInterval),
		NextUpdate:  e.fieldTime(nextUpdate),
		Signature:   e.signature(typ, level),
	})
	if err != nil {
		return err
	}
	refs := append(append([]string{}, in.References...), in.MessageID)
	if in.MessageID == "" {
		refs = in.References
	}
	m := &Outgoing{
		EscalationID: id,
		Kind:         "ack",
		MessageID:    e.newMessageID(tag, "ack"),
		From:         Address{Name: e.fromName, Email: e.fromEmail},
		EnvelopeFrom: e.cfg.Escalation.Address,
		To:           []Address{{Name: OneLine(in.From.Name), Email: in.From.Email}},
		ReplyTo:      e.plusAddress(tag),
		Subject:      fmt.Sprintf("RE: %s - Escalation Acknowledged [%s]", subject, tag),
		InReplyTo:    in.MessageID,
		References:   refs,
		Date:         now,
		Headers:      e.mailHeaders("auto-replied"),
		Body:         body,
	}
	return e.enqueue(tx, m, now)
}

// signature is the first roster contact of the level that has a name, else
// the team name from smtp.from and the escalation address (§8).
func (e *Engine) signature(t Type, level string) templates.Signature {
	for _, c := range e.cfg.Roster.Contacts(string(t), level) {
		if c.Name == "" {
			continue
		}
		s := templates.Signature{Name: c.Name, Title: c.Title}
		if c.Phone != "" {
			s.Contact = append(s.Contact, c.Phone)
		}
		if c.Email != "" {
			s.Contact = append(s.Contact, c.Email)
		}
		return s
	}
	name := e.fromName
	if name == "" {
		name = "Escalations team"
	}
	return templates.Signature{Name: name, Contact: []string{e.cfg.Escalation.Address}}
}

// fieldTime writes t as the tracking file and mail do (FormatTime).
func (e *Engine) fieldTime(t time.Time) string {
	return FormatTime(t, e.loc)
}

// durationWords writes an interval as people say it: "4 hours", "90 minutes".
func durationWords(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return plural(int64(d/time.Minute), "minute")
	default:
		return plural(int64(d.Round(time.Second)/time.Second), "second")
	}
}

// salutation is who "Dear …" addresses (§8): the sender's display name when
// it is fit to print (usableName, §11), else
// the customer's name (a customers entry; an unknown customer is named by its
// address, which does not count), else "Customer".
func salutation(displayName, customerName, email string) string {
	if n := strings.TrimSpace(displayName); usableName(n) {
		return OneLine(n)
	}
	if n := strings.TrimSpace(customerName); n != "" && !strings.EqualFold(n, email) {
		return OneLine(n)
	}
	return "Customer"
}
