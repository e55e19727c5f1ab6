package storetest

import (
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// An empty outbox has nothing due, nothing queued and nothing listed; an
// escalation that does not exist has no reasons, timeline nor customer
// text. (Mail is queued and escalations opened by operations of the port
// still to come: their tests will cover the rest of SendTx.)
func testSendEmpty(t *testing.T, open Opener) {
	st := open(t)
	read(t, st, func(tx workflow.Tx) error {
		if due, err := tx.DueMail(0, time.Now().Add(time.Hour), 100); len(due) != 0 || err != nil {
			t.Errorf("due mail %v, %v", due, err)
		}
		if at, ok, err := tx.NextMailDue(); ok || !at.IsZero() || err != nil {
			t.Errorf("next due %v (%v, %v)", at, ok, err)
		}
		if n, err := tx.QueuedMailCount(); n != 0 || err != nil {
			t.Errorf("queued %d, %v", n, err)
		}
		if all, err := tx.Outbox(); len(all) != 0 || err != nil {
			t.Errorf("outbox %v, %v", all, err)
		}
		if r, err := tx.Reasons(1); len(r) != 0 || err != nil {
			t.Errorf("reasons %v, %v", r, err)
		}
		if tl, _, err := tx.TimelineAfter(1, workflow.Position{}); len(tl) != 0 || err != nil {
			t.Errorf("timeline %v, %v", tl, err)
		}
		if s, err := tx.FirstCustomerText(1, "a@x.test"); s != "" || err != nil {
			t.Errorf("first text %q, %v", s, err)
		}
		if s, err := tx.LatestCustomerText(1, "a@x.test"); s != "" || err != nil {
			t.Errorf("latest text %q, %v", s, err)
		}
		return nil
	})
}
