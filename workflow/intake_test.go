package workflow

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// commitFails is a store whose read-write transactions all fail at the
// end, as a commit does when the disk is full: nothing they did stands.
type commitFails struct{ Store }

var errCommit = errors.New("store: commit: disk I/O error (test)")

func (s commitFails) Update(ctx context.Context, fn func(Tx) error) error {
	return s.Store.Update(ctx, func(tx Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errCommit
	})
}

func fetched(ins ...*Inbound) []Fetched {
	var out []Fetched
	for _, in := range ins {
		out = append(out, Fetched{Ref: MessageRef{Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID}, In: in})
	}
	return out
}

// A transaction that fails as a whole (its commit) blames no message: the
// error is not a MessageError and names no UID, nothing is applied, and no
// attempt is counted against the first message.
func TestWholeTransactionFailureBlamesNoMessage(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	real := e.st
	e.st = commitFails{real}
	a, b := msg("jane@acme.test", "One", "a1@acme.test", nil), msg("joe@acme.test", "Two", "b1@acme.test", nil)
	var st IntakeStats
	err := e.ApplyFetched(context.Background(), fetched(a, b), &st)
	if !errors.Is(err, errCommit) {
		t.Fatalf("ApplyFetched = %v, want the commit's error", err)
	}
	var me *MessageError
	if errors.As(err, &me) || strings.Contains(err.Error(), "UID") {
		t.Errorf("a failed commit is reported against a message: %v", err)
	}
	if st != (IntakeStats{}) {
		t.Errorf("stats %+v after a failed commit", st)
	}
	e.st = real
	if list, _ := e.List(context.Background()); len(list) != 0 {
		t.Errorf("%d escalations after a failed commit", len(list))
	}
	// Nothing was counted against UID a: it applies at once now.
	if err := e.ApplyFetched(context.Background(), fetched(a, b), &st); err != nil || st.Applied != 2 {
		t.Fatalf("retry: %+v, %v; want both applied", st, err)
	}
}

// A message that fails on its own is named: the ones before it commit.
func TestMessageFailureNamesTheMessage(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	a, b, c := msg("jane@acme.test", "One", "a2@acme.test", nil), msg("joe@acme.test", "poison", "b2@acme.test", nil), msg("ann@acme.test", "Three", "c2@acme.test", nil)
	e.beforeApply = func(in *Inbound) {
		if in.Subject == "poison" {
			panic("boom")
		}
	}
	var st IntakeStats
	err := e.ApplyFetched(context.Background(), fetched(a, b, c), &st)
	var me *MessageError
	if !errors.As(err, &me) || me.UID != b.UID || !errors.Is(err, ErrPoison) {
		t.Fatalf("ApplyFetched = %v, want a MessageError for UID %d wrapping ErrPoison", err, b.UID)
	}
	if st.Applied != 1 {
		t.Errorf("applied %d, want 1 (the message before the poison)", st.Applied)
	}
}
