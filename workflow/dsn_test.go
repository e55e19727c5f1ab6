package workflow

import (
	"os"
	"strings"
	"testing"
)

// dsn is a delivery report as mailin gives it for mail with Message-ID mid.
func dsn(mid string, rep DeliveryReport) *Inbound {
	rep.OriginalMessageID = mid
	return msg("MAILER-DAEMON@example.com", "Undelivered Mail Returned to Sender", "", func(in *Inbound) {
		in.MessageID = "dsn-" + in.RawSHA256 + "@mx.example.com"
		in.From.Name = "Mail Delivery System"
		in.Header = map[string][]string{
			"Return-Path":    {"<>"},
			"Auto-Submitted": {"auto-replied"},
			"Content-Type":   {"multipart/report; report-type=delivery-status; boundary=x"},
		}
		in.Text = "I'm sorry to have to inform you that your message could not be delivered"
		in.DeliveryReport = &rep
	})
}

// A DSN quoting our acknowledgement's Message-ID lands in that escalation's
// log and timeline as a delivery failure, and changes nothing else.
func TestDSNDeliveryFailure(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	quiet(e)
	if res := ingest(t, e, msg("ghost@acme.test", "Database outage", "a1@acme.test", nil)); res.EscalationID != 1 {
		t.Fatalf("open: %+v", res)
	}
	ack := queuedMail(t, e)[0]
	before := snap(t, e, 1)
	res := ingest(t, e, dsn(ack.MessageID, DeliveryReport{
		Recipient: "ghost@acme.test", Action: "failed", Status: "5.1.1",
		Diagnostic: "550 5.1.1 <ghost@acme.test> User doesn't exist: ghost@acme.test",
	}))
	if res.EscalationID != 1 || res.New || res.Via != "delivery report" {
		t.Fatalf("DSN: %+v, want logged in 1", res)
	}
	want := "Delivery failure: ghost@acme.test: 550 5.1.1 <ghost@acme.test> User doesn't exist: ghost@acme.test"
	after := snap(t, e, 1)
	if got := newEntries(before, after); len(got) != 1 || got[0].Text != want {
		t.Errorf("new timeline %+v, want only %q", got, want)
	}
	if after.esc != before.esc {
		t.Errorf("escalation changed:\n%+v\n%+v", before.esc, after.esc)
	}
	if len(after.outbox) != len(before.outbox) {
		t.Errorf("mail queued: %v", kinds(added(before, after)))
	}
	v, err := e.View(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	last := v.Log[len(v.Log)-1]
	if !last.Inbound || !strings.Contains(last.Note, want) {
		t.Errorf("last log entry %+v lacks %q", last, want)
	}
	track, err := os.ReadFile(e.TrackingPath(1))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(track), "Delivery failure: ghost@acme.test: 550 5.1.1") {
		t.Errorf("tracking file lacks the delivery failure:\n%s", track)
	}
	if countEscalations(t, e) != 1 {
		t.Error("the DSN opened an escalation")
	}

	// A delay is logged as a report, not as a failure.
	res = ingest(t, e, dsn(ack.MessageID, DeliveryReport{Recipient: "ghost@acme.test", Action: "delayed", Status: "4.4.1", Diagnostic: "connect timed out"}))
	if res.EscalationID != 1 || !hasTimeline(t, e, 1, "Delivery report for ghost@acme.test: delayed (connect timed out)") {
		t.Errorf("delay: %+v", res)
	}
}

// A DSN for a Message-ID the daemon never sent opens nothing and is logged
// nowhere; so is one that quotes none.
func TestDSNUnknownMessageID(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	quiet(e)
	ingest(t, e, msg("jane@acme.test", "Database outage", "a1@acme.test", nil))
	before := snap(t, e, 1)
	for _, mid := range []string{"someone-else@elsewhere.test", "a1@acme.test", ""} {
		in := dsn(mid, DeliveryReport{Recipient: "x@acme.test", Action: "failed", Status: "5.1.1"})
		res := ingest(t, e, in)
		if res.EscalationID != 0 || res.New {
			t.Errorf("DSN for %q: %+v, want none", mid, res)
		}
	}
	if countEscalations(t, e) != 1 {
		t.Error("a DSN opened an escalation")
	}
	if after := snap(t, e, 1); len(after.timeline) != len(before.timeline) {
		t.Errorf("ESC-00001 changed: %v", newEntries(before, after))
	}
}
