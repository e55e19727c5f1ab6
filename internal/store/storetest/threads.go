package storetest

import (
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// A Message-ID threads to the escalation it was first remembered for, until
// two different messages are found to share it.
func testThreads(t *testing.T, open Opener) {
	st := open(t)
	one := openEscalation(t, st, newEscalation("a", t0))
	two := openEscalation(t, st, newEscalation("b", t0))
	applied := func(uid uint32, mid string, esc int64) workflow.MessageRecord {
		return workflow.MessageRecord{Ref: workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid},
			MessageID: mid, EscalationID: esc, Disposition: workflow.Applied, HandledAt: time.Unix(1e9, 0)}
	}
	threadOf := func(tx workflow.Tx, mid string, wantID int64, wantOK bool) {
		t.Helper()
		if id, ok, err := tx.ThreadOf(mid); err != nil || id != wantID || ok != wantOK {
			t.Errorf("ThreadOf(%s) = %d, %v, %v; want %d, %v", mid, id, ok, err, wantID, wantOK)
		}
	}
	update(t, st, func(tx workflow.Tx) error {
		threadOf(tx, "in@x.test", 0, false)
		for _, r := range []struct {
			mid      string
			esc      int64
			outbound bool
		}{
			{"in@x.test", one, false},
			{"out@x.test", two, true},
			{"in@x.test", two, true}, // remembered before: keeps one
			{"shared@x.test", one, false},
			{"nobodys@x.test", two, false},
		} {
			if err := tx.AddThreadID(r.mid, r.esc, r.outbound); err != nil {
				return err
			}
		}
		threadOf(tx, "in@x.test", one, true)
		threadOf(tx, "out@x.test", two, true)

		for _, r := range []workflow.MessageRecord{
			applied(1, "shared@x.test", one),
			applied(2, "fresh@x.test", two),
			applied(3, "nobodys@x.test", 0),
		} {
			if err := tx.RecordMessage(r); err != nil {
				return err
			}
		}
		for _, m := range []struct {
			mid string
			uid int64
		}{{"shared@x.test", 1}, {"fresh@x.test", 2}, {"nobodys@x.test", 3}} {
			if err := tx.MarkThreadAmbiguous(m.mid, m.uid); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, st, func(tx workflow.Tx) error {
		threadOf(tx, "shared@x.test", 0, false)
		threadOf(tx, "fresh@x.test", 0, false)
		threadOf(tx, "nobodys@x.test", two, true) // its message belongs to no escalation
		threadOf(tx, "in@x.test", one, true)
		return nil
	})
	// Remembered again, an ambiguous Message-ID stays ambiguous.
	update(t, st, func(tx workflow.Tx) error { return tx.AddThreadID("fresh@x.test", two, false) })
	read(t, st, func(tx workflow.Tx) error {
		threadOf(tx, "fresh@x.test", 0, false)
		return nil
	})
}

// Participants are per escalation, and an address in any case is the same
// participant.
func testParticipants(t *testing.T, open Opener) {
	st := open(t)
	one := openEscalation(t, st, newEscalation("a", t0))
	two := openEscalation(t, st, newEscalation("b", t0))
	update(t, st, func(tx workflow.Tx) error {
		for _, email := range []string{"Jane@Acme.test", "jane@acme.test", "partner@ext.test"} {
			if err := tx.AddParticipant(one, email); err != nil {
				return err
			}
		}
		return tx.AddParticipant(two, "bob@globex.test")
	})
	read(t, st, func(tx workflow.Tx) error {
		for _, c := range []struct {
			id    int64
			email string
			want  bool
		}{
			{one, "jane@acme.test", true},
			{one, "JANE@ACME.TEST", true},
			{one, "partner@ext.test", true},
			{one, "bob@globex.test", false},
			{two, "bob@globex.test", true},
			{two, "jane@acme.test", false},
			{3, "jane@acme.test", false},
		} {
			if ok, err := tx.IsParticipant(c.id, c.email); err != nil || ok != c.want {
				t.Errorf("IsParticipant(%d, %s) = %v, %v; want %v", c.id, c.email, ok, err, c.want)
			}
		}
		return nil
	})
}
