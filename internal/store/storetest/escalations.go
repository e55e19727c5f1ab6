package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// t0 is a time the stores keep exactly (they may keep milliseconds only).
var t0 = time.Date(2026, 11, 28, 18, 5, 0, 0, time.UTC)

// newEscalation is an escalation of customerKey opened at opened.
func newEscalation(customerKey string, opened time.Time) workflow.NewEscalation {
	return workflow.NewEscalation{
		Escalation: workflow.Escalation{
			Type: workflow.Technical, Level: "Tier 1", Status: workflow.StatusActive,
			Subject: "Database outage", CustomerName: "Acme", CustomerEmail: "jane@acme.test",
			RequesterName: "Jane", RootMessageID: "root@acme.test", Vendor: "aws",
			Opened: opened, LevelChanged: opened.Add(time.Minute), NextUpdate: opened.Add(4 * time.Hour),
			UpdateEvery: 4 * time.Hour, Checklist: 0b1000,
		},
		CustomerKey: customerKey,
		ClockStart:  opened.Add(time.Minute),
		Reasons:     []string{"first reason", "second reason"},
	}
}

// openEscalation opens n and returns its number.
func openEscalation(t *testing.T, st workflow.Store, n workflow.NewEscalation) int64 {
	t.Helper()
	var id int64
	update(t, st, func(tx workflow.Tx) (err error) {
		id, err = tx.OpenEscalation(n)
		return err
	})
	return id
}

// An opened escalation is numbered by the store, from 1, and reads back as
// it was opened.
func testOpenEscalation(t *testing.T, open Opener) {
	st := open(t)
	n := newEscalation("customer:acme.test", t0)
	n.ID = 42 // not read
	if id := openEscalation(t, st, n); id != 1 {
		t.Fatalf("first escalation is %d, want 1", id)
	}
	if id := openEscalation(t, st, newEscalation("bob@globex.test", t0)); id != 2 {
		t.Fatalf("second escalation is %d, want 2", id)
	}
	read(t, st, func(tx workflow.Tx) error {
		got, err := tx.Escalation(1)
		if err != nil {
			return err
		}
		want := n.Escalation
		want.ID = 1
		if !reflect.DeepEqual(*got, want) {
			t.Errorf("escalation 1 reads\n%+v\nwant\n%+v", *got, want)
		}
		for id, want := range map[int64]bool{1: true, 2: true, 3: false, 0: false} {
			if ok, err := tx.EscalationExists(id); err != nil || ok != want {
				t.Errorf("EscalationExists(%d) = %v, %v; want %v", id, ok, err, want)
			}
		}
		if key, err := tx.CustomerKey(1); err != nil || key != "customer:acme.test" {
			t.Errorf("CustomerKey(1) = %q, %v", key, err)
		}
		if key, err := tx.CustomerKey(2); err != nil || key != "bob@globex.test" {
			t.Errorf("CustomerKey(2) = %q, %v", key, err)
		}
		if _, err := tx.CustomerKey(3); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("CustomerKey(3) = %v, want ErrNotFound", err)
		}
		return nil
	})
	// An escalation opened in a transaction rolled back is not there.
	st.Update(t.Context(), func(tx workflow.Tx) error {
		if _, err := tx.OpenEscalation(newEscalation("x", t0)); err != nil {
			return err
		}
		return errors.New("roll back")
	})
	read(t, st, func(tx workflow.Tx) error {
		if ok, err := tx.EscalationExists(3); ok || err != nil {
			t.Errorf("escalation of a rolled-back transaction: %v, %v", ok, err)
		}
		return nil
	})
}

// The repeat rule counts a customer's escalations opened after a time.
func testCountOpenedSince(t *testing.T, open Opener) {
	st := open(t)
	for _, n := range []workflow.NewEscalation{
		newEscalation("customer:acme.test", t0),
		newEscalation("customer:acme.test", t0.Add(time.Hour)),
		newEscalation("customer:acme.test", t0.Add(2*time.Hour)),
		newEscalation("bob@globex.test", t0.Add(2*time.Hour)),
	} {
		openEscalation(t, st, n)
	}
	read(t, st, func(tx workflow.Tx) error {
		for _, c := range []struct {
			key   string
			since time.Time
			want  int
		}{
			{"customer:acme.test", t0.Add(-time.Second), 3},
			{"customer:acme.test", t0, 2}, // after, not at
			{"customer:acme.test", t0.Add(90 * time.Minute), 1},
			{"customer:acme.test", t0.Add(3 * time.Hour), 0},
			{"bob@globex.test", t0, 1},
			{"nobody@x.test", t0.Add(-time.Hour), 0},
		} {
			if n, err := tx.CountOpenedSince(c.key, c.since); err != nil || n != c.want {
				t.Errorf("CountOpenedSince(%s, %s) = %d, %v; want %d", c.key, c.since, n, err, c.want)
			}
		}
		return nil
	})
}

// The timeline, the log and the attachments of an escalation take what is
// added; a version bump is no error even for an escalation not there.
func testEscalationRecords(t *testing.T, open Opener) {
	st := open(t)
	id := openEscalation(t, st, newEscalation("customer:acme.test", t0))
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.AddTimeline(id, t0, "Initial escalation received", "jane@acme.test"); err != nil {
			return err
		}
		if err := tx.AddTimeline(id, t0, "Classified", ""); err != nil {
			return err
		}
		entry := workflow.LogEntry{At: t0, From: workflow.Address{Name: "Jane", Email: "jane@acme.test"},
			To: []workflow.Address{{Email: "escalations@example.com"}}, Subject: "Database outage", Text: "It is down."}
		first, err := tx.LogInbound(id, entry)
		if err != nil {
			return err
		}
		entry.To, entry.Note = nil, "automatic mail"
		second, err := tx.LogInbound(id, entry)
		if err != nil {
			return err
		}
		if first == second {
			t.Errorf("two log entries numbered %d", first)
		}
		if known, err := tx.AttachmentKnown("ESC-00001/report.pdf"); err != nil || known {
			t.Errorf("AttachmentKnown before it is added: %v, %v", known, err)
		}
		if err := tx.AddAttachment(id, second, workflow.LoggedAttachment{Name: "report.pdf", RelPath: "ESC-00001/report.pdf", Size: 1234}); err != nil {
			return err
		}
		if err := tx.BumpVersion(id); err != nil {
			return err
		}
		return tx.BumpVersion(id + 1)
	})
	read(t, st, func(tx workflow.Tx) error {
		for rel, want := range map[string]bool{"ESC-00001/report.pdf": true, "ESC-00001/other.pdf": false, "report.pdf": false} {
			if known, err := tx.AttachmentKnown(rel); err != nil || known != want {
				t.Errorf("AttachmentKnown(%s) = %v, %v; want %v", rel, known, err, want)
			}
		}
		return nil
	})
}
