package workflow

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// Real-world mail that ordinary clients accept (issue of the corpus run).

func TestReusedMessageIDIsNotADuplicate(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	const shared = "xxx@xxxx.xxx"
	first := inMail(c, "jane@acme.test", "Printer on fire", "The printer is on fire.")
	first.MessageID = shared
	r1 := ingest(t, e, first)
	second := inMail(c, "bob@globex.test", "VPN down", "The VPN is down for everyone.")
	second.MessageID = shared
	r2 := ingest(t, e, second)
	if r2.Disposition != Applied || !r2.New || r2.EscalationID == r1.EscalationID {
		t.Fatalf("second message with the same Message-ID: %+v, want a new escalation of its own", r2)
	}
	if s := snap(t, e, r2.EscalationID); !snapHas(s, "Message-ID <"+shared+"> reused") {
		t.Errorf("timeline lacks the reuse note: %v", s.timeline)
	}
	// The same message again, other transport bytes: a duplicate.
	again := inMail(c, "bob@globex.test", "VPN down", "The VPN is down for everyone.")
	again.MessageID, again.Date, again.RawSHA256 = shared, second.Date, "other-bytes"
	if r := ingest(t, e, again); r.Disposition != Duplicate {
		t.Errorf("same sender, date and text under the same Message-ID: %s, want duplicate", r.Disposition)
	}
	// A reply naming the shared id threads nowhere: it opens its own.
	reply := inMail(c, "jane@acme.test", "Re: something", "Any news?")
	reply.InReplyTo = []string{shared}
	r3 := ingest(t, e, reply)
	if !r3.New {
		t.Errorf("a reply to an ambiguous Message-ID went into %s", e.Tag(r3.EscalationID))
	}
}

func TestNoSenderIsQuarantined(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	recs := recordMessages(e)
	for _, from := range []string{"", "undisclosed-recipients:;", "jane", "@acme.test"} {
		in := inMail(c, from, "No sender", "Hello")
		r := ingest(t, e, in)
		if r.Disposition != Quarantined {
			t.Errorf("From %q: %s, want quarantined", from, r.Disposition)
		}
	}
	if len(*recs) != 4 {
		t.Errorf("%d messages recorded, want 4", len(*recs))
	}
	for _, r := range *recs {
		if r.Disposition != Quarantined || r.Reason != "no sender address" {
			t.Errorf("UID %d recorded %s with reason %q", r.Ref.UID, r.Disposition, r.Reason)
		}
	}
	if list, _ := e.List(context.Background()); len(list) != 0 {
		t.Errorf("%d escalations opened", len(list))
	}
}

func TestNoReplySenders(t *testing.T) {
	for _, from := range []string{
		"gmail-noreply@google.com", "noreply@x.test", "no_reply@x.test", "no-reply@x.test", "no.reply@x.test",
		"donotreply@x.test", "do-not-reply@x.test", "do_not_reply@x.test", "billing.donotreply@x.test",
		"noreply-alerts@x.test", "mailer-daemon@x.test", "MAILER-DAEMON@x.test", "postmaster@x.test", "bounces+123@x.test",
		"notifications-noreply@linkedin.test",
	} {
		if auto, _ := Automatic(&Inbound{From: Address{Email: from}, Date: time.Now()}, "escalations@example.com", nil); !auto {
			t.Errorf("%s is not recognised as a sender that does not read replies", from)
		}
	}
	for _, from := range []string{"noreen@x.test", "replyall@x.test", "bouncer@x.test", "donald@x.test", "jane.reply@x.test", "postmasters-guild@x.test"} {
		if auto, why := Automatic(&Inbound{From: Address{Email: from}}, "escalations@example.com", nil); auto {
			t.Errorf("%s taken for automatic mail: %s", from, why)
		}
	}
}

// TestOwnMessageIDLookupFailsClosed: when the store cannot say whether a
// Message-ID is the daemon's own, the message is not applied (it is tried
// again), rather than taken for a stranger's and answered: a loop.
func TestOwnMessageIDLookupFailsClosed(t *testing.T) {
	e, c := newTestEngine(t, func(cfg *config.Config) { cfg.Limits.AckMaxAge = time.Minute })
	quiet(e)
	wrapStore(e, func(tx Tx) Tx { return outboxGoneTx{tx} })
	in := inMail(c, "jane@acme.test", "Re: something", "text")
	in.MessageID = "esc-00001.ack.0123456789abcdef@example.com"
	in.InternalDate = c.t.Add(-time.Hour) // old: nothing is queued for it
	if res, err := e.Ingest(context.Background(), in); !errors.Is(err, errOutboxGone) {
		t.Fatalf("applied with the loop check unable to run: %+v, %v", res, err)
	}
	if list, _ := e.List(context.Background()); len(list) != 0 {
		t.Errorf("%d escalations opened", len(list))
	}
}

// outboxGoneTx is a transaction whose outbox cannot be read or written.
type outboxGoneTx struct{ Tx }

var errOutboxGone = errors.New("outbox gone")

func (outboxGoneTx) IsOwnMessageID(string) (bool, error)   { return false, errOutboxGone }
func (outboxGoneTx) QueuedFor(string) (int64, bool, error) { return 0, false, errOutboxGone }
func (outboxGoneTx) Enqueue(*Outgoing, time.Time) error    { return errOutboxGone }
