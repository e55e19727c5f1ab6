package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
	"github.com/escalationd/escalationd/workflow"
)

// Parse starts are counted per message until they are finished, across a
// reopened store; finishing forgets them but keeps Poisoned's count of
// failed applies; quarantining a message forgets both.
func TestParseAttempts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Three processes die while parsing UID 5; UID 6 was started with it.
	for range 3 {
		if err := st.MarkParsing(ctx, "INBOX", 7, nil, []uint32{5}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, nil, []uint32{6}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
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
	if got, _ := st.ParseAttempts(ctx, "INBOX", 7, []uint32{5}); fmt.Sprint(got) != "map[5:3]" {
		t.Errorf("only UID 5 asked: %v", got)
	}

	// UID 6 also failed to apply once: finishing its parse keeps that count.
	cfg := config.Default()
	cfg.Escalation.Dir, cfg.Escalation.DataDir = filepath.Join(dir, "escalations"), dir
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := workflow.New(st, workflow.OptionsFrom(cfg).With(tmpl, time.Now, nil))
	if err != nil {
		t.Fatal(err)
	}
	ref6 := workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: 6}
	if q, err := e.Poisoned(ctx, ref6, "", fmt.Errorf("%w: test", workflow.ErrPoison)); err != nil || q {
		t.Fatalf("Poisoned: %v, %v", q, err)
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, []uint32{6}, []uint32{7}); err != nil {
		t.Fatal(err)
	}
	attempts("map[5:3 7:1]")
	var count int
	if err := st.db.QueryRow(`SELECT count FROM attempts WHERE uid = 6`).Scan(&count); err != nil || count != 1 {
		t.Errorf("failed applies of UID 6: %d, %v; want 1", count, err)
	}

	if err := e.Quarantine(ctx, workflow.MessageRef{Mailbox: "INBOX", UIDValidity: 7, UID: 5}, "", "killed"); err != nil {
		t.Fatal(err)
	}
	attempts("map[7:1]")
	if err := st.MarkParsing(ctx, "INBOX", 7, []uint32{7}, nil); err != nil {
		t.Fatal(err)
	}
	attempts("map[]")
	var rows int
	if err := st.db.QueryRow(`SELECT count(*) FROM attempts`).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("%d attempts rows left, %v; want 1 (UID 6's failed apply)", rows, err)
	}
	if err := st.MarkParsing(ctx, "INBOX", 7, nil, nil); err != nil {
		t.Errorf("nothing to record: %v", err)
	}
}
