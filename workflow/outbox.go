package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/escalationd/escalationd/internal/backoff"
)

// Mailer delivers queued mail. mailout.Sender is the real one.
type Mailer interface {
	// SendEach delivers msgs in order, over one connection where it can,
	// and calls report with each message's result as soon as the server
	// has answered: nil once the server accepted it, an error wrapping
	// ErrPermanent when it refused it for good (5xx), and any other error
	// when a retry may succeed. It stops when report returns false.
	SendEach(ctx context.Context, msgs []*Outgoing, report func(i int, err error) bool)
}

// outboxChunk is how many queued mails one SendEach call (one SMTP
// connection) carries at most.
const outboxChunk = 100

// smtpConnections is how many SMTP connections a flush uses at once. A real
// MTA fsyncs each mail into its queue before it answers, so one connection
// waits for the disk most of the time; a few in parallel keep it busy. A
// connection gets at least minPerConnection mails.
const (
	smtpConnections  = 4
	minPerConnection = 10
)

// MaxUnrecorded bounds the mails that are being sent or have been accepted
// by the server without their result committed: the senders wait for the
// store before they send more. A crash can send at most this many mails a
// second time (each with its own Message-ID again, §8). Two per SMTP
// connection: one going out while the one before it is committed.
const MaxUnrecorded = 2 * smtpConnections

// After this many transient failures in a row one flush stops: the server is
// down and every further attempt would only wait for its time-out.
const outboxFailStreak = 3

// outboxBackoff is the wait before retry number attempts: smtp.retry_min,
// doubling, capped at smtp.retry_max (or retry_min, if that is longer), with
// jitter.
func (e *Engine) outboxBackoff(attempts int) time.Duration {
	lo, hi := e.cfg.Mail.RetryMin, e.cfg.Mail.RetryMax
	if lo <= 0 {
		lo = 30 * time.Second
	}
	// Up to 20% less, so a fleet of queued mail does not retry in one
	// burst, and the cap holds.
	return backoff.Delay(lo, max(hi, lo), attempts)
}

type queued struct {
	id       int64
	attempts int
	m        Outgoing
}

// FlushStats counts what one flush did.
type FlushStats struct {
	Sent, Failed, Deferred int
	Pending                int // queued mail left after the flush
}

// FlushOutbox sends the queued mail that is due (all queued mail when
// ignoreBackoff, as `once` does), in queue order, up to outboxChunk mails
// per SMTP connection. Results are committed in groups while the next mail
// goes out: accepted mail is marked sent and logged in its escalation; a
// permanent failure is recorded in the escalation's log and timeline and not
// retried; a transient failure is retried later with capped exponential
// backoff. A crash between the server's acceptance and the commit of its
// group sends that mail again, with the same Message-ID (§8). The tracking
// files of the escalations it touched are then behind the store:
// RenderBehind writes each once, however many mails touched it.
func (e *Engine) FlushOutbox(ctx context.Context, m Mailer, ignoreBackoff bool) (FlushStats, error) {
	var st FlushStats
	var lastID int64
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		due, err := e.dueMail(ctx, lastID, ignoreBackoff, outboxChunk*smtpConnections)
		if err != nil {
			return st, err
		}
		if len(due) == 0 {
			break
		}
		lastID = due[len(due)-1].id
		more, err := e.sendChunks(ctx, m, splitForConnections(due), &st)
		if err != nil {
			return st, err
		}
		if !more {
			break
		}
	}
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		st.Pending, err = tx.QueuedMailCount()
		return err
	})
	return st, err
}

// sendResult is what the server answered to one queued mail.
type sendResult struct {
	q   queued
	err error
}

// splitForConnections deals due into up to smtpConnections chunks of
// consecutive mails, each of at least minPerConnection mails (except a lone
// short one).
func splitForConnections(due []queued) [][]queued {
	n := min(smtpConnections, max(1, len(due)/minPerConnection))
	size := (len(due) + n - 1) / n
	var chunks [][]queued
	for len(due) > 0 {
		k := min(size, len(due))
		chunks = append(chunks, due[:k])
		due = due[k:]
	}
	return chunks
}

// sendChunks sends each chunk over a connection of its own, all at once,
// while recordResults commits the answers. more is false when the flush
// should stop: the server failed outboxFailStreak times in a row (it is
// down, and every further attempt would only wait for its time-out), or
// shutdown began.
func (e *Engine) sendChunks(ctx context.Context, m Mailer, chunks [][]queued, st *FlushStats) (more bool, err error) {
	total := 0
	for _, c := range chunks {
		total += len(c)
	}
	results := make(chan sendResult, total)
	// At most MaxUnrecorded mails are between "about to be sent" and
	// "answer committed" at any time.
	slots := make(chan struct{}, MaxUnrecorded)
	recorded := make(chan error, 1)
	var stop atomic.Bool // the recorder failed, or the server is down
	go func() {
		// Whatever the server answered is recorded even when shutdown has
		// begun: a delivered mail left "queued" would be sent again.
		recorded <- e.recordResults(context.WithoutCancel(ctx), results, slots, &stop)
	}()
	var mu sync.Mutex // st and streak
	streak := 0
	var senders sync.WaitGroup
	for _, chunk := range chunks {
		msgs := make([]*Outgoing, len(chunk))
		for i := range chunk {
			msgs[i] = &chunk[i].m
		}
		senders.Go(func() {
			// A slot is held from before a mail goes out until its answer
			// is committed (the recorder gives it back).
			slots <- struct{}{}
			held := true
			defer func() {
				if held {
					<-slots
				}
			}()
			m.SendEach(ctx, msgs, func(i int, sendErr error) bool {
				q := chunk[i]
				if sendErr != nil && !errors.Is(sendErr, ErrPermanent) && ctx.Err() != nil {
					return false // stopped by shutdown, not by the server: not an attempt
				}
				mu.Lock()
				switch {
				case sendErr == nil:
					streak = 0
					st.Sent++
				case errors.Is(sendErr, ErrPermanent):
					streak = 0
					st.Failed++
				default:
					streak++
					st.Deferred++
				}
				if streak >= outboxFailStreak {
					stop.Store(true)
				}
				mu.Unlock()
				switch {
				case sendErr == nil:
					e.log.Info("mail sent", "kind", q.m.Kind, "message_id", q.m.MessageID, "to", q.m.To[0].Email, "escalation", e.Tag(q.m.EscalationID))
				case errors.Is(sendErr, ErrPermanent):
					e.log.Error("mail refused permanently; not retried", "kind", q.m.Kind, "message_id", q.m.MessageID, "to", q.m.To[0].Email, "err", sendErr)
				}
				results <- sendResult{q: q, err: sendErr} // with its slot
				held = false
				if stop.Load() {
					return false
				}
				slots <- struct{}{} // for the next mail: waits while MaxUnrecorded are out
				held = true
				// The wait may have been long: the recorder may have
				// failed (it sets stop before it gives back a slot), the
				// server gone down or shutdown begun meanwhile.
				return !stop.Load() && ctx.Err() == nil
			})
		})
	}
	senders.Wait()
	close(results)
	if err := <-recorded; err != nil {
		return false, err
	}
	return !stop.Load() && ctx.Err() == nil, nil
}

// recordResults commits the answers from results as they come, as many as
// have arrived in one transaction, giving back a slot for each. After a
// failed commit it sets stop, and only then gives back the slots (so a
// sender that gets one sees stop and sends no more), and it goes on giving
// them back, so the sender never waits for a recorder that has stopped.
func (e *Engine) recordResults(ctx context.Context, results <-chan sendResult, slots <-chan struct{}, stop *atomic.Bool) (err error) {
	defer func() {
		if err != nil {
			for range results {
				<-slots
			}
		}
	}()
	for r := range results {
		group := []sendResult{r}
	more:
		for {
			select {
			case r, ok := <-results:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		now := e.now()
		err := e.st.Update(ctx, func(tx Tx) error {
			for _, r := range group {
				var err error
				switch {
				case r.err == nil:
					err = outboxSent(tx, r.q, now)
				case errors.Is(r.err, ErrPermanent):
					err = outboxFailed(tx, r.q, r.err, now)
				default:
					err = e.outboxDeferred(tx, r.q, r.err, now)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			stop.Store(true)
		}
		for range group {
			<-slots
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// outboxDeferred records a transient failure: the mail stays queued and is
// tried again after the backoff.
func (e *Engine) outboxDeferred(tx Tx, q queued, cause error, now time.Time) error {
	wait := e.outboxBackoff(q.attempts + 1)
	e.log.Warn("mail not sent; stays queued", "kind", q.m.Kind, "message_id", q.m.MessageID, "attempt", q.attempts+1, "retry_in", wait.Round(time.Second), "err", cause)
	return tx.MailDeferred(q.id, now.Add(wait), cause.Error())
}

// NextOutboxDue is when the earliest queued mail is due; ok is false when
// nothing is queued.
func (e *Engine) NextOutboxDue(ctx context.Context) (time.Time, bool, error) {
	var at time.Time
	var ok bool
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		at, ok, err = tx.NextMailDue()
		return err
	})
	return at, ok, err
}

// dueMail returns up to limit queued mails after the one with id after that
// are due, in queue order.
func (e *Engine) dueMail(ctx context.Context, after int64, ignoreBackoff bool, limit int) ([]queued, error) {
	due := e.now()
	if ignoreBackoff {
		due = time.UnixMilli(1<<62 - 1) // every queued mail
	}
	var rows []QueuedMail
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		rows, err = tx.DueMail(after, due, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]queued, len(rows))
	for i, r := range rows {
		out[i] = queued{id: r.ID, attempts: r.Attempts, m: r.Mail}
	}
	return out, nil
}

// outboxSent records in tx that the server accepted q.
func outboxSent(tx Tx, q queued, now time.Time) error {
	id := q.m.EscalationID
	if err := tx.MailSent(q.id, now); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	if err := logOutbound(tx, &q.m, now, kindNote(q.m.Kind)); err != nil {
		return err
	}
	if q.m.Kind == "ack" {
		if err := addTimeline(tx, id, now, "Escalation acknowledged", ""); err != nil {
			return err
		}
		// Checklist item 7: customer notified of escalation.
		if err := tx.TickCustomerNotified(id); err != nil {
			return err
		}
	}
	return bumpVersion(tx, id)
}

// outboxFailed records in tx that the server refused q for good.
func outboxFailed(tx Tx, q queued, cause error, now time.Time) error {
	id := q.m.EscalationID
	reason := strings.TrimSpace(strings.TrimPrefix(cause.Error(), ErrPermanent.Error()+":"))
	if err := tx.MailFailed(q.id, cause.Error()); err != nil {
		return err
	}
	if id == 0 {
		return nil
	}
	text := fmt.Sprintf("Delivery failure: %s: %s", q.m.To[0].Email, OneLine(reason))
	if err := logOutbound(tx, &q.m, now, "not delivered ("+kindNote(q.m.Kind)+"): "+OneLine(reason)); err != nil {
		return err
	}
	if err := addTimeline(tx, id, now, text, ""); err != nil {
		return err
	}
	return bumpVersion(tx, id)
}

func kindNote(kind string) string {
	switch kind {
	case "ack":
		return "acknowledgement"
	case "notify":
		return "notification"
	case "update":
		return "customer update"
	case "vendor":
		return "vendor case request"
	case "error":
		return "command errors"
	case "reminder":
		return "update reminder"
	case "alert":
		return "SLA alert"
	}
	return kind
}

// logOutbound records a mail the daemon sent in its escalation's log. Only
// what the customer or a vendor reads is logged with its text.
func logOutbound(tx Tx, m *Outgoing, at time.Time, note string) error {
	text := m.Body
	switch m.Kind {
	case "notify", "reminder", "alert", "error":
		text = ""
	}
	return tx.LogOutbound(m, at, text, note)
}

// OutboxItem is one row of the outbox, for inspection.
type OutboxItem struct {
	Outgoing
	Status    string // "queued", "sent" or "failed"
	Attempts  int
	LastError string
}

// Outbox lists every queued, sent and failed mail, oldest first.
func (e *Engine) Outbox(ctx context.Context) ([]OutboxItem, error) {
	var out []OutboxItem
	err := e.st.Read(ctx, func(tx Tx) (err error) {
		out, err = tx.Outbox()
		return err
	})
	return out, err
}
