package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/escalationd/escalationd/workflow"
)

// The newest unretired reply-key secret is the current one; retired ones
// are listed newest first, when retired after the time asked.
func testReplyKeySecrets(t *testing.T, open Opener) {
	st := open(t)
	read(t, st, func(tx workflow.Tx) error {
		if _, s, ok, err := tx.ReplyKeySecret(); ok || s != nil || err != nil {
			t.Errorf("new store: secret %q (%v, %v)", s, ok, err)
		}
		if old, err := tx.RetiredReplyKeySecrets(time.Time{}); len(old) != 0 || err != nil {
			t.Errorf("new store: retired %q, %v", old, err)
		}
		return nil
	})
	a, b, c := []byte("secret-a-0123456789"), []byte("secret-b-0123456789"), []byte("secret-c-0123456789")
	current := func(want []byte) int64 {
		t.Helper()
		var id int64
		read(t, st, func(tx workflow.Tx) error {
			var s []byte
			var ok bool
			var err error
			id, s, ok, err = tx.ReplyKeySecret()
			if !ok || err != nil || !bytes.Equal(s, want) {
				t.Errorf("current secret %q (%v, %v), want %q", s, ok, err, want)
			}
			return nil
		})
		return id
	}
	update(t, st, func(tx workflow.Tx) error { return tx.AddReplyKeySecret(a, rateT0) })
	idA := current(a)
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.RetireReplyKeySecret(idA, rateT0.Add(time.Hour)); err != nil {
			return err
		}
		return tx.AddReplyKeySecret(b, rateT0.Add(time.Hour))
	})
	idB := current(b)
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.RetireReplyKeySecret(idB, rateT0.Add(3*time.Hour)); err != nil {
			return err
		}
		return tx.AddReplyKeySecret(c, rateT0.Add(3*time.Hour))
	})
	current(c)
	retired := func(since time.Time) [][]byte {
		t.Helper()
		var out [][]byte
		read(t, st, func(tx workflow.Tx) (err error) {
			out, err = tx.RetiredReplyKeySecrets(since)
			return err
		})
		return out
	}
	if got := retired(rateT0); len(got) != 2 || !bytes.Equal(got[0], b) || !bytes.Equal(got[1], a) {
		t.Errorf("retired since t0: %q, want b then a", got)
	}
	if got := retired(rateT0.Add(time.Hour)); len(got) != 1 || !bytes.Equal(got[0], b) {
		t.Errorf("retired after a's retirement: %q, want b only", got)
	}
}
