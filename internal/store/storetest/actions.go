package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// Actions and plan lines are numbered from 1 in the order they are added,
// per escalation; completing one that does not exist reports it.
func testActions(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	_, ids := twoEscalations(t, st)
	id, other := ids[0], ids[1]
	read(t, st, func(tx workflow.Tx) error {
		a, err := tx.Actions(id)
		p, perr := tx.Plan(id)
		if len(a) != 0 || len(p) != 0 || err != nil || perr != nil {
			t.Errorf("new escalation: actions %v (%v), plan %q (%v)", a, err, p, perr)
		}
		return nil
	})
	update(t, st, func(tx workflow.Tx) error {
		for i, a := range []workflow.Action{{Text: "Collect logs", Owner: "@bob"}, {Text: "Call vendor", Owner: "@carol"}} {
			n, err := tx.AddAction(id, a.Text, a.Owner)
			if err != nil || n != i+1 {
				t.Errorf("AddAction %q = %d, %v; want %d", a.Text, n, err, i+1)
			}
		}
		if n, err := tx.AddAction(other, "Elsewhere", "@dan"); err != nil || n != 1 {
			t.Errorf("first action of another escalation = %d, %v", n, err)
		}
		for i, line := range []string{"Roll back", "Patch"} {
			n, err := tx.AddPlan(id, line)
			if err != nil || n != i+1 {
				t.Errorf("AddPlan %q = %d, %v; want %d", line, n, err, i+1)
			}
		}
		if ok, err := tx.CompleteAction(id, 2); !ok || err != nil {
			t.Errorf("CompleteAction 2 = %v, %v", ok, err)
		}
		if ok, err := tx.CompleteAction(id, 3); ok || err != nil {
			t.Errorf("CompleteAction of no action = %v, %v; want false", ok, err)
		}
		return nil
	})
	read(t, st, func(tx workflow.Tx) error {
		a, err := tx.Actions(id)
		if err != nil {
			return err
		}
		if got := fmt.Sprint(a); got != "[{Collect logs @bob false} {Call vendor @carol true}]" {
			t.Errorf("Actions = %s", got)
		}
		p, err := tx.Plan(id)
		if err != nil || fmt.Sprint(p) != "[Roll back Patch]" {
			t.Errorf("Plan = %q, %v", p, err)
		}
		if a, _ := tx.Actions(other); len(a) != 1 || a[0].Done {
			t.Errorf("other escalation's actions: %v", a)
		}
		return nil
	})

	// Added in a transaction that fails: not there, and the next number
	// is not used up.
	err := st.Update(ctx, func(tx workflow.Tx) error {
		if _, err := tx.AddAction(id, "Undone", "@eve"); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("a failing Update succeeded")
	}
	update(t, st, func(tx workflow.Tx) error {
		if n, err := tx.AddAction(id, "Next", "@eve"); err != nil || n != 3 {
			t.Errorf("after a rollback AddAction = %d, %v; want 3", n, err)
		}
		return nil
	})
}
