package storetest

import (
	"errors"
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// Queued mail makes its Message-ID the daemon's own, of its escalation; a
// Message-ID is queued once, and mail needs a recipient.
func testEnqueue(t *testing.T, open Opener) {
	st := open(t)
	id := openEscalation(t, st, newEscalation("a", t0))
	mail := func(esc int64, mid string) *workflow.Outgoing {
		return &workflow.Outgoing{EscalationID: esc, Kind: "ack", MessageID: mid,
			From: workflow.Address{Email: "escalations@example.com"}, EnvelopeFrom: "escalations@example.com",
			To: []workflow.Address{{Name: "Jane", Email: "jane@acme.test"}}, Subject: "RE: x", Date: t0, Body: "Dear Jane"}
	}
	read(t, st, func(tx workflow.Tx) error {
		if own, err := tx.IsOwnMessageID("ack1@example.com"); err != nil || own {
			t.Errorf("empty outbox: IsOwnMessageID = %v, %v", own, err)
		}
		if esc, ok, err := tx.QueuedFor("ack1@example.com"); err != nil || ok || esc != 0 {
			t.Errorf("empty outbox: QueuedFor = %d, %v, %v", esc, ok, err)
		}
		return nil
	})
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.Enqueue(mail(id, "ack1@example.com"), t0); err != nil {
			return err
		}
		return tx.Enqueue(mail(0, "error1@example.com"), t0) // of no escalation
	})
	// Mail queued in a transaction rolled back is not queued.
	st.Update(t.Context(), func(tx workflow.Tx) error {
		if err := tx.Enqueue(mail(id, "gone@example.com"), t0); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.Enqueue(mail(id, "ack1@example.com"), t0); err == nil {
			t.Error("a Message-ID queued twice")
		}
		return nil
	})
	update(t, st, func(tx workflow.Tx) error {
		m := mail(id, "nobody@example.com")
		m.To = nil
		if err := tx.Enqueue(m, t0); err == nil {
			t.Error("mail without a recipient queued")
		}
		return nil
	})
	read(t, st, func(tx workflow.Tx) error {
		for _, c := range []struct {
			mid string
			esc int64
			own bool
		}{
			{"ack1@example.com", id, true},
			{"error1@example.com", 0, true},
			{"gone@example.com", 0, false},
			{"nobody@example.com", 0, false},
			{"ACK1@example.com", 0, false}, // Message-IDs are compared exactly
		} {
			if own, err := tx.IsOwnMessageID(c.mid); err != nil || own != c.own {
				t.Errorf("IsOwnMessageID(%s) = %v, %v; want %v", c.mid, own, err, c.own)
			}
			if esc, ok, err := tx.QueuedFor(c.mid); err != nil || ok != c.own || esc != c.esc {
				t.Errorf("QueuedFor(%s) = %d, %v, %v; want %d, %v", c.mid, esc, ok, err, c.esc, c.own)
			}
		}
		return nil
	})
}
