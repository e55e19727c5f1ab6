package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// A checkpoint starts absent, is set by ResetCheckpoint, only moves up, and
// only under its own UIDVALIDITY.
func testCheckpoint(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	if _, _, ok, err := st.Checkpoint(ctx, "INBOX"); ok || err != nil {
		t.Fatalf("new store: checkpoint found (%v, %v)", ok, err)
	}
	if err := st.ResetCheckpoint(ctx, "INBOX", 7); err != nil {
		t.Fatal(err)
	}
	check := func(wantUV, wantUID uint32) {
		t.Helper()
		uv, uid, ok, err := st.Checkpoint(ctx, "INBOX")
		if !ok || err != nil || uv != wantUV || uid != wantUID {
			t.Fatalf("checkpoint = %d/%d (%v, %v), want %d/%d", uv, uid, ok, err, wantUV, wantUID)
		}
	}
	check(7, 0)
	for _, uid := range []uint32{5, 3, 9} {
		update(t, st, func(tx workflow.Tx) error {
			return tx.AdvanceCheckpoint(workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid})
		})
	}
	check(7, 9)
	update(t, st, func(tx workflow.Tx) error {
		return tx.AdvanceCheckpoint(workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 8, UID: 50})
	})
	check(7, 9) // another UIDVALIDITY does not move it
	if _, _, ok, _ := st.Checkpoint(ctx, "Other"); ok {
		t.Error("a mailbox never read has a checkpoint")
	}
	if err := st.ResetCheckpoint(ctx, "INBOX", 8); err != nil {
		t.Fatal(err)
	}
	check(8, 0)
}

// Marks: SetMarked takes messages off the unmarked list, of their own
// mailbox and UIDVALIDITY only.
func testMarks(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	if u, err := st.Unmarked(ctx, "INBOX", 7); len(u) != 0 || err != nil {
		t.Fatalf("new store: unmarked %v, %v", u, err)
	}
	for _, uid := range []uint32{4, 2, 3} {
		recordQuarantined(t, st, workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid})
	}
	recordQuarantined(t, st, workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 6, UID: 1})
	if u, err := st.Unmarked(ctx, "INBOX", 7); err != nil || fmt.Sprint(u) != "[{2 quarantined} {3 quarantined} {4 quarantined}]" {
		t.Fatalf("unmarked = %v, %v", u, err)
	}
	if err := st.SetMarked(ctx, "INBOX", 7, []uint32{2, 4, 99}); err != nil {
		t.Fatal(err)
	}
	if u, err := st.Unmarked(ctx, "INBOX", 7); err != nil || fmt.Sprint(u) != "[{3 quarantined}]" {
		t.Fatalf("after marking 2 and 4: %v, %v", u, err)
	}
	if u, _ := st.Unmarked(ctx, "INBOX", 6); len(u) != 1 {
		t.Errorf("UIDVALIDITY 6: %v", u)
	}
}

// recordQuarantined records ref as quarantined, the way Engine.Quarantine does.
func recordQuarantined(t *testing.T, st workflow.Store, ref workflow.MessageRef) {
	t.Helper()
	update(t, st, func(tx workflow.Tx) error {
		return quarantine(tx, ref, "test")
	})
}

// Parse starts are counted until finished, per message.
func testParseAttempts(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	for range 3 {
		if err := st.MarkParsing(ctx, "INBOX", 7, nil, []uint32{5}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, nil, []uint32{6}); err != nil {
		t.Fatal(err)
	}
	attempts := func(want string) {
		t.Helper()
		got, err := st.ParseAttempts(ctx, "INBOX", 7, []uint32{4, 5, 6, 7})
		if err != nil || fmt.Sprint(got) != want {
			t.Fatalf("ParseAttempts = %v, %v; want %s", got, err, want)
		}
	}
	attempts("map[5:3 6:1]")
	if got, _ := st.ParseAttempts(ctx, "INBOX", 8, []uint32{5, 6}); len(got) != 0 {
		t.Errorf("another UIDVALIDITY sees %v", got)
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, []uint32{6}, []uint32{7}); err != nil {
		t.Fatal(err)
	}
	attempts("map[5:3 7:1]")
	if err := st.MarkParsing(ctx, "INBOX", 7, []uint32{5, 7}, nil); err != nil {
		t.Fatal(err)
	}
	attempts("map[]")
	if err := st.MarkParsing(ctx, "INBOX", 7, nil, nil); err != nil {
		t.Errorf("nothing to record: %v", err)
	}
}

// An Update whose function fails commits nothing.
func testRollback(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx workflow.Tx) error {
		if err := tx.AdvanceCheckpoint(workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: 3}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the function's error", err)
	}
	if _, _, ok, _ := st.Checkpoint(ctx, "INBOX"); ok {
		t.Error("a rolled-back Update left a checkpoint")
	}
}

func quarantine(tx workflow.Tx, ref workflow.MessageRef, reason string) error {
	return tx.RecordMessage(workflow.MessageRecord{Ref: ref, Disposition: workflow.Quarantined, Reason: reason, HandledAt: time.Unix(1e9, 0)})
}

// A failed savepoint undoes only its own changes, nested ones included;
// the rest of the transaction commits.
func testSavepoint(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	ref := func(uid uint32) workflow.MessageRef {
		return workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid}
	}
	boom := errors.New("boom")
	update(t, st, func(tx workflow.Tx) error {
		if err := quarantine(tx, ref(1), "kept"); err != nil {
			return err
		}
		err := tx.Savepoint(func() error {
			if err := quarantine(tx, ref(2), "undone"); err != nil {
				return err
			}
			if err := tx.Savepoint(func() error { return quarantine(tx, ref(3), "inner, undone with the outer") }); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("Savepoint = %v, want its function's error", err)
		}
		return tx.Savepoint(func() error {
			if err := quarantine(tx, ref(4), "kept"); err != nil {
				return err
			}
			if err := tx.Savepoint(func() error { quarantine(tx, ref(5), "undone"); return boom }); !errors.Is(err, boom) {
				t.Errorf("inner Savepoint = %v", err)
			}
			return nil
		})
	})
	if u, err := st.Unmarked(ctx, "INBOX", 7); err != nil || fmt.Sprint(u) != "[{1 quarantined} {4 quarantined}]" {
		t.Errorf("recorded: %v, %v; want UIDs 1 and 4", u, err)
	}
}
