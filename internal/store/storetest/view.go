package storetest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
	"github.com/escalationd/escalationd/workflow"
)

// viewT0 is the clock of the engine that fills a store for the view tests.
var viewT0 = time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC)

// mailEngine is an engine over st, whose clock is *now: the view tests
// fill the store the way the daemon does, by mail, and read it back
// through the port.
func mailEngine(t *testing.T, st workflow.Store, now *time.Time) *workflow.Engine {
	t.Helper()
	cfg := config.Default()
	cfg.Escalation.Dir = filepath.Join(t.TempDir(), "escalations")
	cfg.Escalation.DataDir = t.TempDir()
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := workflow.New(st, workflow.OptionsFrom(cfg).With(tmpl, func() time.Time { return *now }, slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// mailIn is message n of a thread from jane@acme.test, received at at;
// with a tag in subject it is a reply.
func mailIn(t *testing.T, n uint32, at time.Time, subject string, attach bool) *workflow.Inbound {
	in := &workflow.Inbound{
		Mailbox: "INBOX", UIDValidity: 7, UID: n, InternalDate: at,
		MessageID: fmt.Sprintf("view-%d@acme.test", n), From: workflow.Address{Name: "Jane Doe", Email: "jane@acme.test"},
		To:      []workflow.Address{{Email: "escalations@example.com"}},
		Subject: subject, Text: fmt.Sprintf("message %d", n), RawSHA256: fmt.Sprintf("view-sha-%d", n),
	}
	if attach {
		path := filepath.Join(t.TempDir(), "spool")
		if err := os.WriteFile(path, []byte("pdf bytes"), 0o600); err != nil {
			t.Fatal(err)
		}
		in.Attachments = []workflow.Attachment{{Name: "report.pdf", ContentType: "application/pdf", Size: 9, Path: path}}
	}
	return in
}

// An escalation opened and answered by mail reads back as it was written:
// its head, reasons, timeline and log (with attachments), in file order.
// Reading after a position gives the entries that sort after it, and
// counting through one the entries up to it, a late-comer that sorts
// before it included.
func testView(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	now := viewT0
	e := mailEngine(t, st, &now)
	read(t, st, func(tx workflow.Tx) error {
		if _, err := tx.ViewHead(1); !errors.Is(err, workflow.ErrNotFound) {
			t.Errorf("ViewHead of an empty store = %v, want ErrNotFound", err)
		}
		return nil
	})
	ingest := func(n uint32, at time.Time, subject string, attach bool) int64 {
		t.Helper()
		res, err := e.Ingest(ctx, mailIn(t, n, at, subject, attach))
		if err != nil {
			t.Fatal(err)
		}
		return res.EscalationID
	}
	id := ingest(1, viewT0.Add(-time.Minute), "Orders fail", false)
	subject := fmt.Sprintf("Re: [%s] Orders fail", e.Tag(id))
	now = now.Add(time.Hour)
	ingest(2, now, subject, false)

	// Where the first two messages end.
	var t2, l2 workflow.Position
	var nt2 int
	read(t, st, func(tx workflow.Tx) error {
		h, err := tx.ViewHead(id)
		if err != nil {
			return err
		}
		if h.Status == "" || h.Subject != "Orders fail" || h.CustomerEmail != "jane@acme.test" ||
			!h.Opened.Equal(viewT0.Add(-time.Minute)) || h.Version < 1 || h.Type == "" || h.Level == "" {
			t.Errorf("ViewHead = %+v", h)
		}
		if r, err := tx.Reasons(id); err != nil || len(r) == 0 {
			t.Errorf("Reasons = %q, %v; want the classification's", r, err)
		}
		tl, tEnd, err := tx.TimelineAfter(id, workflow.Position{})
		if err != nil {
			return err
		}
		if len(tl) < 2 || tEnd.ID == 0 || !tEnd.At.Equal(tl[len(tl)-1].At) || tl[0].Actor != "jane@acme.test" {
			t.Fatalf("timeline %+v ending at %+v", tl, tEnd)
		}
		if !slices.IsSortedFunc(tl, func(a, b workflow.TimelineEntry) int { return a.At.Compare(b.At) }) {
			t.Errorf("timeline not in time order: %+v", tl)
		}
		more, p, err := tx.TimelineAfter(id, tEnd)
		if err != nil || len(more) != 0 || p != tEnd {
			t.Errorf("after the last entry: %d entries, %+v, %v", len(more), p, err)
		}
		lg, lEnd, err := tx.LogAfter(id, workflow.Position{})
		if err != nil {
			return err
		}
		if len(lg) != 2 || lEnd.ID == 0 || !lEnd.At.Equal(now) {
			t.Fatalf("log: %d entries ending at %+v, want 2 ending at %v", len(lg), lEnd, now)
		}
		t2, l2, nt2 = tEnd, lEnd, len(tl)
		return nil
	})

	now = now.Add(time.Hour)
	ingest(3, now, subject, true)
	now = now.Add(time.Hour)
	ingest(4, now, subject, false)
	read(t, st, func(tx workflow.Tx) error {
		lg, lEnd, err := tx.LogAfter(id, workflow.Position{})
		if err != nil {
			return err
		}
		if len(lg) != 4 || !lEnd.At.Equal(now) {
			t.Fatalf("log: %d entries ending at %+v, want 4 ending at %v", len(lg), lEnd, now)
		}
		for i, l := range lg {
			if !l.Inbound || l.Text != fmt.Sprintf("message %d", i+1) || len(l.To) != 1 || l.To[0].Email != "escalations@example.com" {
				t.Errorf("log entry %d: %+v", i, l)
			}
			if want := i == 2; (len(l.Attachments) == 1) != want {
				t.Errorf("log entry %d: attachments %+v", i, l.Attachments)
			}
		}
		if a := lg[2].Attachments; len(a) == 1 && (a[0].Size != 9 || a[0].Name == "" || a[0].RelPath == "") {
			t.Errorf("attachment %+v", a[0])
		}
		rest, end, err := tx.LogAfter(id, l2)
		if err != nil {
			return err
		}
		if len(rest) != 2 || rest[0].Text != "message 3" || len(rest[0].Attachments) != 1 || end != lEnd {
			t.Errorf("log after the second message: %+v ending at %+v, want messages 3 and 4 ending at %+v", rest, end, lEnd)
		}
		tl, _, err := tx.TimelineAfter(id, t2)
		if err != nil {
			return err
		}
		if len(tl) == 0 || !tl[0].At.After(t2.At) && !tl[0].At.Equal(t2.At) {
			t.Errorf("timeline after the second message: %+v", tl)
		}
		nt, nl, err := tx.CountThrough(id, t2, l2)
		if err != nil || nt != nt2 || nl != 2 {
			t.Errorf("CountThrough(second message) = %d, %d, %v; want %d, 2", nt, nl, err, nt2)
		}
		nt, nl, err = tx.CountThrough(id, workflow.Position{}, lEnd)
		if err != nil || nt != 0 || nl != 4 {
			t.Errorf("CountThrough(zero, last log entry) = %d, %d, %v; want 0, 4", nt, nl, err)
		}
		return nil
	})

	// A message received between the first two sorts before the second:
	// it is not after the second's position, and is counted through it.
	ingest(5, viewT0, subject, false)
	read(t, st, func(tx workflow.Tx) error {
		rest, _, err := tx.LogAfter(id, l2)
		if err != nil {
			return err
		}
		if len(rest) != 2 {
			t.Errorf("log after the second message: %d entries, want the 2 after it", len(rest))
		}
		if _, nl, err := tx.CountThrough(id, t2, l2); err != nil || nl != 3 {
			t.Errorf("log entries through the second message: %d, %v; want 3", nl, err)
		}
		return nil
	})
}

// The rendered version of an escalation only moves up; the escalations
// behind are those whose store version is past it, and the settled ones
// those of them with no mail queued.
func testRendered(t *testing.T, open Opener) {
	ctx := context.Background()
	st := open(t)
	e, ids := twoEscalations(t, st)
	states := func(list func(workflow.Tx) ([]workflow.TrackingState, error)) map[int64]workflow.TrackingState {
		t.Helper()
		out := map[int64]workflow.TrackingState{}
		read(t, st, func(tx workflow.Tx) error {
			l, err := list(tx)
			if !slices.IsSortedFunc(l, func(a, b workflow.TrackingState) int { return int(a.ID - b.ID) }) {
				t.Errorf("not by number: %+v", l)
			}
			for _, s := range l {
				out[s.ID] = s
			}
			return err
		})
		return out
	}
	all := states(workflow.Tx.TrackingStates)
	if len(all) != 2 {
		t.Fatalf("TrackingStates = %+v, want both escalations", all)
	}
	a, b := all[ids[0]], all[ids[1]]
	// Both current (the engine wrote their files), then a behind by one.
	update(t, st, func(tx workflow.Tx) error {
		if err := tx.SetRendered(a.ID, a.Version); err != nil {
			return err
		}
		if err := tx.SetRendered(b.ID, b.Version); err != nil {
			return err
		}
		s, err := tx.Escalation(a.ID)
		if err != nil {
			return err
		}
		return tx.SaveEscalation(s)
	})
	all = states(workflow.Tx.TrackingStates)
	if got := all[a.ID]; got.Version != a.Version+1 || got.Rendered != a.Version {
		t.Errorf("after a change: %+v, want version %d rendered %d", got, a.Version+1, a.Version)
	}
	if got := all[b.ID]; got.Rendered != b.Version || got.Version != b.Version {
		t.Errorf("unchanged escalation: %+v", got)
	}
	behind := states(workflow.Tx.Behind)
	if _, ok := behind[a.ID]; !ok || len(behind) != 1 {
		t.Errorf("Behind = %+v, want %d only", behind, a.ID)
	}
	queued := false
	items, err := e.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		queued = queued || it.EscalationID == a.ID && it.Status == "queued"
	}
	if !queued {
		t.Fatal("no mail queued for the new escalation: the test cannot tell settled from behind")
	}
	if settled := states(workflow.Tx.BehindSettled); len(settled) != 0 {
		t.Errorf("BehindSettled = %+v, want none: mail is queued", settled)
	}
	if _, err := e.FlushOutbox(ctx, acceptAll{}, true); err != nil {
		t.Fatal(err)
	}
	update(t, st, func(tx workflow.Tx) error { // the flush wrote the log: behind again
		s, err := tx.Escalation(a.ID)
		if err != nil {
			return err
		}
		return tx.SaveEscalation(s)
	})
	if settled := states(workflow.Tx.BehindSettled); len(settled) == 0 || settled[a.ID].ID != a.ID {
		t.Errorf("BehindSettled = %+v, want %d once its mail is sent", settled, a.ID)
	}

	// An older version recorded late does not move it back.
	cur := states(workflow.Tx.TrackingStates)[a.ID]
	update(t, st, func(tx workflow.Tx) error { return tx.SetRendered(a.ID, cur.Version) })
	update(t, st, func(tx workflow.Tx) error { return tx.SetRendered(a.ID, cur.Version-1) })
	if got := states(workflow.Tx.TrackingStates)[a.ID]; got.Rendered != cur.Version {
		t.Errorf("rendered %d after recording %d then %d", got.Rendered, cur.Version, cur.Version-1)
	}
	if _, ok := states(workflow.Tx.Behind)[a.ID]; ok {
		t.Errorf("%d behind once its version is recorded", a.ID)
	}
}

// acceptAll is a mail server that accepts every message.
type acceptAll struct{}

func (acceptAll) SendEach(_ context.Context, msgs []*workflow.Outgoing, report func(int, error) bool) {
	for i := range msgs {
		if !report(i, nil) {
			return
		}
	}
}

// twoEscalations opens two escalations by mail, from two customers.
func twoEscalations(t *testing.T, st workflow.Store) (*workflow.Engine, []int64) {
	t.Helper()
	now := viewT0
	e := mailEngine(t, st, &now)
	var ids []int64
	for n := uint32(1); n <= 2; n++ {
		in := mailIn(t, n, viewT0, "Orders fail", false)
		in.From.Email = fmt.Sprintf("buyer%d@cust%d.test", n, n)
		res, err := e.Ingest(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.EscalationID)
	}
	return e, ids
}
