// Package storetest is the contract of the store port (workflow.Store): one
// suite that every store engine passes. An engine's test calls Run with a
// function that opens an empty store of that engine.
package storetest

import (
	"context"
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// Opener opens an empty store for one test and closes it when the test ends.
type Opener func(t *testing.T) workflow.Store

// Run runs the whole contract against the stores open returns.
func Run(t *testing.T, open Opener) {
	for _, c := range []struct {
		name string
		run  func(*testing.T, Opener)
	}{
		{"Checkpoint", testCheckpoint},
		{"Marks", testMarks},
		{"ParseAttempts", testParseAttempts},
		{"Rollback", testRollback},
		{"Savepoint", testSavepoint},
		{"AppliedLookups", testAppliedLookups},
		{"Attempts", testAttempts},
		{"OpenEscalation", testOpenEscalation},
		{"CountOpenedSince", testCountOpenedSince},
		{"EscalationRecords", testEscalationRecords},
		{"Threads", testThreads},
		{"Participants", testParticipants},
		{"Enqueue", testEnqueue},
		{"SendEmpty", testSendEmpty},
		{"SendPath", testSendPath},
		{"RateEvents", testRateEvents},
		{"ReplyKeySecrets", testReplyKeySecrets},
		{"ListReads", testListReads},
		{"View", testView},
		{"Rendered", testRendered},
		{"Actions", testActions},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, open) })
	}
}

func update(t *testing.T, st workflow.Store, fn func(workflow.Tx) error) {
	t.Helper()
	if err := st.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, st workflow.Store, fn func(workflow.Tx) error) {
	t.Helper()
	if err := st.Read(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}
