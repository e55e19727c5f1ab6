package workflow

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// TestLongEscalationKeptSections checks that the tracking file of a long
// escalation, written from the sections kept since its last render, is
// byte for byte the file a full render gives: across a day change, with an
// attachment, and after an entry that sorts before the kept ones (which
// must make the engine start over).
func TestLongEscalationKeptSections(t *testing.T) {
	e, c := newTestEngine(t, func(cfg *config.Config) { cfg.Limits.AcksPerSenderPerHour = 1 << 20 })
	quiet(e)
	ctx := context.Background()
	res := ingest(t, e, msg("jane@acme.test", "Orders fail", "long-0@acme.test", nil))
	id := res.EscalationID
	reply := func(i int, edit func(*Inbound)) {
		t.Helper()
		c.t = c.t.Add(7 * time.Minute)
		in := msg("jane@acme.test", fmt.Sprintf("Re: [%s] Orders fail", e.Tag(id)), fmt.Sprintf("long-%d@acme.test", i), edit)
		in.Text = fmt.Sprintf("Update %d: still failing.\n\n> quoted *markdown* <b>here</b>", i)
		if r := ingest(t, e, in); r.EscalationID != id {
			t.Fatalf("reply %d went to %d", i, r.EscalationID)
		}
	}
	full := func(step string) {
		t.Helper()
		v, err := e.View(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		want := RenderTracking(v, e.loc)
		got, err := os.ReadFile(e.TrackingPath(id))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the file written from kept sections differs from a full render (%d bytes, want %d)", step, len(got), len(want))
		}
	}
	i := 1
	for ; i <= longSection+10; i++ { // long enough to be kept
		reply(i, nil)
	}
	full("long")
	if e.sections.byEsc[id] == nil {
		t.Fatal("the long escalation's sections are not kept")
	}
	for range 300 { // 35 hours: the timeline gets a new day heading
		reply(i, nil)
		i++
	}
	full("after a day change")
	reply(i, func(in *Inbound) { in.Attachments = []Attachment{spoolFile(t, "report.pdf", "pdf bytes")} })
	i++
	full("with an attachment")

	// An entry that sorts before the kept ones: the engine starts over.
	err := e.st.Update(ctx, func(tx Tx) error {
		if err := addTimeline(tx, id, t0.Add(-time.Hour), "Backdated note", ""); err != nil {
			return err
		}
		return bumpVersion(tx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.RenderBehind(ctx); err != nil {
		t.Fatal(err)
	}
	full("after a backdated entry")
	reply(i, nil)
	full("after starting over")
}

// TestSectionCacheBound: the kept text of all escalations stays within
// keptMaxBytes; the escalation kept first goes first, never the one just
// put.
func TestSectionCacheBound(t *testing.T) {
	var c sectionCache
	big := func(n int) *kept { return &kept{log: make([]byte, n)} }
	c.put(1, big(keptMaxBytes/2))
	c.put(2, big(keptMaxBytes/4))
	c.put(1, big(keptMaxBytes/2+1)) // replaced, not added twice
	if c.bytes != keptMaxBytes*3/4+1 || len(c.order) != 2 {
		t.Fatalf("after replacing: %d bytes, order %v", c.bytes, c.order)
	}
	c.put(3, big(keptMaxBytes/2))
	if c.byEsc[1] != nil || c.byEsc[2] == nil || c.byEsc[3] == nil || c.bytes != keptMaxBytes*3/4 {
		t.Fatalf("after overflow: kept %v, %d bytes; want 1 evicted", c.order, c.bytes)
	}
	c.put(4, big(keptMaxBytes+1)) // alone over the bound: kept, the others go
	if len(c.order) != 1 || c.order[0] != 4 || c.bytes != keptMaxBytes+1 {
		t.Fatalf("one over the bound: kept %v, %d bytes", c.order, c.bytes)
	}
	c.drop(4)
	if c.bytes != 0 || len(c.order) != 0 || len(c.byEsc) != 0 {
		t.Fatalf("after drop: %+v", c)
	}
}
