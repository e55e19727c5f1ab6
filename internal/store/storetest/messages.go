package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// The duplicate lookups find applied messages only: by raw digest, and by
// Message-ID in the order they were recorded.
func testAppliedLookups(t *testing.T, open Opener) {
	st := open(t)
	rec := func(uid uint32, mid, raw, content string, d workflow.Disposition) workflow.MessageRecord {
		return workflow.MessageRecord{Ref: workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid},
			MessageID: mid, RawSHA256: raw, ContentSHA: content, Disposition: d, HandledAt: time.Unix(1e9, 0)}
	}
	update(t, st, func(tx workflow.Tx) error {
		for _, r := range []workflow.MessageRecord{
			rec(9, "a@x.test", "raw9", "c9", workflow.Applied),
			rec(3, "a@x.test", "raw3", "", workflow.Applied),
			rec(4, "a@x.test", "raw4", "c4", workflow.Quarantined),
			rec(5, "b@x.test", "raw5", "c5", workflow.Duplicate),
		} {
			if err := tx.RecordMessage(r); err != nil {
				return err
			}
		}
		return nil
	})
	read(t, st, func(tx workflow.Tx) error {
		for _, c := range []struct {
			raw  string
			uid  int64
			want bool
		}{{"raw9", 9, true}, {"raw3", 3, true}, {"raw4", 0, false}, {"raw5", 0, false}, {"nope", 0, false}} {
			if uid, ok, err := tx.AppliedByDigest(c.raw); err != nil || ok != c.want || uid != c.uid {
				t.Errorf("AppliedByDigest(%s) = %d, %v, %v; want %d, %v", c.raw, uid, ok, err, c.uid, c.want)
			}
		}
		if got, err := tx.AppliedByMessageID("a@x.test"); err != nil || fmt.Sprint(got) != "[{9 c9} {3 }]" {
			t.Errorf("AppliedByMessageID(a@x.test) = %v, %v; want UIDs 9 and 3, in that order", got, err)
		}
		for _, mid := range []string{"b@x.test", "nope@x.test"} {
			if got, err := tx.AppliedByMessageID(mid); err != nil || len(got) != 0 {
				t.Errorf("AppliedByMessageID(%s) = %v, %v; want none", mid, got, err)
			}
		}
		return nil
	})
	// A message recorded again keeps being applied.
	update(t, st, func(tx workflow.Tx) error {
		return tx.RecordMessage(rec(9, "a@x.test", "raw9", "c9", workflow.Duplicate))
	})
	read(t, st, func(tx workflow.Tx) error {
		if _, ok, err := tx.AppliedByDigest("raw9"); !ok || err != nil {
			t.Errorf("UID 9 recorded again is no longer found applied (%v)", err)
		}
		return nil
	})
}

// Failed applies are counted per message until forgotten, apart from the
// parse starts, which ForgetAttempts forgets too.
func testAttempts(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	ref := func(uid uint32) workflow.MessageRef {
		return workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: uid}
	}
	count := func(r workflow.MessageRef, want int) {
		t.Helper()
		update(t, st, func(tx workflow.Tx) error {
			n, err := tx.CountAttempt(r, "boom")
			if err != nil {
				return err
			}
			if n != want {
				t.Errorf("CountAttempt(UID %d) = %d, want %d", r.UID, n, want)
			}
			return nil
		})
	}
	count(ref(5), 1)
	count(ref(5), 2)
	count(ref(6), 1)
	count(workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 8, UID: 5}, 1)
	count(ref(5), 3)
	if got, err := st.ParseAttempts(ctx, "INBOX", 7, []uint32{5, 6}); err != nil || len(got) != 0 {
		t.Errorf("failed applies counted as parse starts: %v, %v", got, err)
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, nil, []uint32{5}); err != nil {
		t.Fatal(err)
	}
	update(t, st, func(tx workflow.Tx) error { return tx.ForgetAttempts(ref(5)) })
	update(t, st, func(tx workflow.Tx) error { return tx.ForgetAttempts(ref(99)) })
	if got, err := st.ParseAttempts(ctx, "INBOX", 7, []uint32{5}); err != nil || len(got) != 0 {
		t.Errorf("parse starts kept after ForgetAttempts: %v, %v", got, err)
	}
	count(ref(5), 1)
	count(ref(6), 2)
}
