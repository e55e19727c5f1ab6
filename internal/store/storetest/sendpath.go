package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// The life of queued mail: due by its next attempt, in id order after a
// given id; a deferred mail waits for its next attempt and counts it; sent
// and failed mail leaves the queue; the outbox lists all three, with what
// was queued decoded as it went in.
func testSendPath(t *testing.T, open Opener) {
	st := open(t)
	id := openEscalation(t, st, newEscalation("s", t0))
	mail := func(mid, to string) *workflow.Outgoing {
		return &workflow.Outgoing{EscalationID: id, Kind: "notify", MessageID: mid,
			From: workflow.Address{Email: "escalations@example.com"}, EnvelopeFrom: "escalations@example.com",
			To: []workflow.Address{{Name: "Ann", Email: to}}, Subject: "New escalation", Date: t0, Body: "Body of " + mid}
	}
	update(t, st, func(tx workflow.Tx) error {
		for i, to := range []string{"a@x.test", "b@x.test", "c@x.test"} {
			if err := tx.Enqueue(mail(fmt.Sprintf("n%d@example.com", i+1), to), t0); err != nil {
				return err
			}
		}
		return nil
	})
	var due []workflow.QueuedMail
	read(t, st, func(tx workflow.Tx) error {
		var err error
		if due, err = tx.DueMail(0, t0, 10); err != nil {
			return err
		}
		if n, err := tx.QueuedMailCount(); n != 3 || err != nil {
			t.Errorf("queued %d, %v; want 3", n, err)
		}
		if at, ok, err := tx.NextMailDue(); !ok || !at.Equal(t0) || err != nil {
			t.Errorf("next due %v, %v, %v; want %v", at, ok, err, t0)
		}
		return nil
	})
	if len(due) != 3 || due[0].Mail.MessageID != "n1@example.com" || due[2].Mail.Body != "Body of n3@example.com" || due[0].Attempts != 0 {
		t.Fatalf("due: %+v", due)
	}
	if due[0].Mail.To[0].Email != "a@x.test" || due[0].ID >= due[1].ID {
		t.Errorf("due mail decoded %+v", due[0].Mail)
	}
	later := t0.Add(time.Hour)
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.MailSent(due[0].ID, t0.Add(time.Second)); err != nil {
			return err
		}
		if err := tx.MailDeferred(due[1].ID, later, "421 try later"); err != nil {
			return err
		}
		return tx.MailFailed(due[2].ID, "550 no such user")
	})
	read(t, st, func(tx workflow.Tx) error {
		if got, err := tx.DueMail(0, t0.Add(time.Minute), 10); len(got) != 0 || err != nil {
			t.Errorf("due before the deferred mail's next attempt: %+v, %v", got, err)
		}
		got, err := tx.DueMail(0, later, 10)
		if err != nil || len(got) != 1 || got[0].ID != due[1].ID || got[0].Attempts != 1 {
			t.Errorf("due at the next attempt: %+v, %v; want the deferred mail, 1 attempt", got, err)
		}
		if got, _ := tx.DueMail(due[1].ID, later, 10); len(got) != 0 {
			t.Errorf("due after its own id: %+v", got)
		}
		if at, ok, _ := tx.NextMailDue(); !ok || !at.Equal(later) {
			t.Errorf("next due %v, %v; want %v", at, ok, later)
		}
		if n, _ := tx.QueuedMailCount(); n != 1 {
			t.Errorf("queued %d, want 1", n)
		}
		all, err := tx.Outbox()
		if err != nil || len(all) != 3 {
			t.Fatalf("outbox %+v, %v", all, err)
		}
		var got2 []string
		for _, it := range all {
			got2 = append(got2, fmt.Sprintf("%s/%d/%s", it.Status, it.Attempts, it.LastError))
		}
		if want := "[sent/1/ queued/1/421 try later failed/1/550 no such user]"; fmt.Sprint(got2) != want {
			t.Errorf("outbox %v, want %s", got2, want)
		}
		return nil
	})
	// Sent mail is logged in its escalation; the customer texts are the
	// first and the last the customer wrote.
	update(t, st, func(tx workflow.Tx) error {
		return tx.LogOutbound(mail("n1@example.com", "a@x.test"), t0.Add(time.Second), "what was said", "")
	})
	read(t, st, func(tx workflow.Tx) error {
		log, _, err := tx.LogAfter(id, workflow.Position{})
		if err != nil {
			return err
		}
		last := log[len(log)-1]
		if last.Inbound || last.Text != "what was said" || len(last.To) != 1 || last.To[0].Email != "a@x.test" {
			t.Errorf("logged outbound mail %+v", last)
		}
		return nil
	})
}
