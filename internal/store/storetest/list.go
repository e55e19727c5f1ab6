package storetest

import (
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// An empty store lists nothing; fetched messages are counted by
// disposition.
func testListReads(t *testing.T, open Opener) {
	st := open(t)
	read(t, st, func(tx workflow.Tx) error {
		if s, err := tx.Summaries(); len(s) != 0 || err != nil {
			t.Errorf("new store: summaries %v, %v", s, err)
		}
		if m, err := tx.MessageCounts(); len(m) != 0 || err != nil {
			t.Errorf("new store: message counts %v, %v", m, err)
		}
		return nil
	})
	for _, uid := range []uint32{1, 2} {
		recordQuarantined(t, st, workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid})
	}
	read(t, st, func(tx workflow.Tx) error {
		if m, err := tx.MessageCounts(); len(m) != 1 || m[workflow.Quarantined] != 2 || err != nil {
			t.Errorf("message counts %v, %v; want 2 quarantined", m, err)
		}
		return nil
	})
}
