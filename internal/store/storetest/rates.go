package storetest

import (
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

var rateT0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// Rate events are counted per kind and key after a time, the events of a
// kind since the last of another are counted with the earliest's time, and
// a prune forgets the older ones.
func testRateEvents(t *testing.T, open Opener) {
	st := open(t)
	count := func(kind, key string, since time.Time) int {
		t.Helper()
		var n int
		read(t, st, func(tx workflow.Tx) (err error) {
			n, err = tx.RateEvents(kind, key, since)
			return err
		})
		return n
	}
	if n := count("ack_address", "a@x.test", time.Time{}); n != 0 {
		t.Fatalf("new store: %d events", n)
	}
	update(t, st, func(tx workflow.Tx) error {
		for i, ev := range []struct{ kind, key string }{
			{"ack_address", "a@x.test"}, {"ack_address", "a@x.test"}, {"ack_address", "b@x.test"}, {"ack_all", ""},
		} {
			if err := tx.NoteRateEvent(ev.kind, ev.key, rateT0.Add(time.Duration(i)*time.Minute)); err != nil {
				return err
			}
		}
		return nil
	})
	if n := count("ack_address", "a@x.test", rateT0.Add(-time.Hour)); n != 2 {
		t.Errorf("a@x.test: %d events, want 2", n)
	}
	if n := count("ack_address", "a@x.test", rateT0); n != 1 {
		t.Errorf("a@x.test after the first: %d events, want 1 (after, not at)", n)
	}
	if n := count("ack_all", "", rateT0.Add(-time.Hour)); n != 1 {
		t.Errorf("ack_all: %d events, want 1", n)
	}

	since := func() (int, time.Time) {
		t.Helper()
		var n int
		var first time.Time
		read(t, st, func(tx workflow.Tx) (err error) {
			n, first, err = tx.EventsSinceLast("held", "alert")
			return err
		})
		return n, first
	}
	if n, first := since(); n != 0 || !first.IsZero() {
		t.Fatalf("nothing held: %d since %v", n, first)
	}
	note := func(kind string, at time.Time) {
		t.Helper()
		update(t, st, func(tx workflow.Tx) error { return tx.NoteRateEvent(kind, "", at) })
	}
	note("held", rateT0.Add(10*time.Minute))
	note("held", rateT0.Add(11*time.Minute))
	if n, first := since(); n != 2 || !first.Equal(rateT0.Add(10*time.Minute)) {
		t.Errorf("no alert yet: %d held since %v, want 2 since the first", n, first)
	}
	note("alert", rateT0.Add(12*time.Minute))
	if n, _ := since(); n != 0 {
		t.Errorf("after the alert: %d held, want 0", n)
	}
	note("held", rateT0.Add(13*time.Minute))
	if n, first := since(); n != 1 || !first.Equal(rateT0.Add(13*time.Minute)) {
		t.Errorf("after the alert: %d held since %v, want 1 since the new one", n, first)
	}

	update(t, st, func(tx workflow.Tx) error { return tx.PruneRateEvents(rateT0.Add(time.Minute)) })
	if n := count("ack_address", "a@x.test", time.Time{}); n != 1 {
		t.Errorf("after the prune: %d events of a@x.test, want the 1 not before the prune time", n)
	}
	if n, _ := since(); n != 1 {
		t.Errorf("after the prune: %d held, want 1", n)
	}
}
