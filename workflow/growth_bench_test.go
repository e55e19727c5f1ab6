package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// The cost of a long escalation (issue 6, item 4): an escalation whose log
// holds 5,000 customer messages of about 500 bytes, in a store on disk with
// the daemon's durability (WAL, synchronous=FULL, fsync'd tracking file).
//
//	go test ./workflow -run '^$' -bench LongEscalation -benchtime 30x

const (
	longEntries   = 5000
	longEntryText = 500
)

// longEscalation opens an escalation and applies longEntries-1 replies to
// it by tag, in groups as the poller does, then writes its tracking file.
func longEscalation(b *testing.B) (*Engine, int64, *clock) {
	b.Helper()
	cfg := config.Default()
	cfg.Escalation.Dir = filepath.Join(b.TempDir(), "escalations")
	cfg.Escalation.DataDir = b.TempDir()
	cfg.Limits.AcksPerSenderPerHour = 1 << 20
	c := &clock{t: t0}
	e := openDiskEngine(b, cfg, c)
	ctx := context.Background()
	first := longMessage(c, 0, "Orders fail since the upgrade")
	res, err := e.Ingest(ctx, first)
	if err != nil || !res.New {
		b.Fatalf("opening message: %+v %v", res, err)
	}
	id := res.EscalationID
	var group []*Inbound
	for i := 1; i < longEntries; i++ {
		group = append(group, longMessage(c, i, fmt.Sprintf("Re: [%s] Orders fail since the upgrade", e.Tag(id))))
		if len(group) == 50 || i == longEntries-1 {
			results, err := e.IngestBatch(ctx, group)
			if err != nil || len(results) != len(group) {
				b.Fatalf("replies: %d of %d applied: %v", len(results), len(group), err)
			}
			for _, r := range results {
				if r.EscalationID != id {
					b.Fatalf("reply went to %d, want %d (%+v)", r.EscalationID, id, r)
				}
			}
			group = group[:0]
		}
	}
	if _, err := e.RenderBehind(ctx); err != nil {
		b.Fatal(err)
	}
	v, err := e.View(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	if len(v.Log) < longEntries {
		b.Fatalf("log holds %d entries, want %d", len(v.Log), longEntries)
	}
	return e, id, c
}

// longMessage is customer message i: about longEntryText bytes of text.
func longMessage(c *clock, i int, subject string) *Inbound {
	c.t = c.t.Add(time.Second)
	line := fmt.Sprintf("Update %d: the nightly order sync failed again with a deadlock on the orders table. ", i)
	text := strings.Repeat(line, longEntryText/len(line)+1)[:longEntryText]
	return &Inbound{
		Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), InternalDate: c.t,
		MessageID: fmt.Sprintf("long-%d@acme.test", i), From: Address{Name: "Jane Doe", Email: "jane@acme.test"},
		To: []Address{{Email: "escalations@example.com"}}, Subject: subject, Text: text,
		RawSHA256: fmt.Sprintf("long-sha-%d", i),
	}
}

// BenchmarkRenderLongEscalation rewrites the tracking file of a 5,000-entry
// escalation: read it from the store, render it, write it durably.
func BenchmarkRenderLongEscalation(b *testing.B) {
	e, id, _ := longEscalation(b)
	ctx := context.Background()
	fi, err := os.Stat(e.TrackingPath(id))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(fi.Size())/(1<<20), "MiB/file")
	b.ResetTimer()
	for b.Loop() {
		if err := e.render(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderLongEscalationCold is the same without the kept sections:
// the first render after the daemon starts.
func BenchmarkRenderLongEscalationCold(b *testing.B) {
	e, id, _ := longEscalation(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		e.sections = sectionCache{}
		if err := e.render(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestIntoLongEscalation applies one more customer message to a
// 5,000-entry escalation and rewrites its tracking file: what the daemon
// does for one message that arrives alone.
func BenchmarkIngestIntoLongEscalation(b *testing.B) {
	e, id, c := longEscalation(b)
	ctx := context.Background()
	i := longEntries
	b.ResetTimer()
	for b.Loop() {
		in := longMessage(c, i, fmt.Sprintf("Re: [%s] Orders fail since the upgrade", e.Tag(id)))
		i++
		res, err := e.Ingest(ctx, in)
		if err != nil || res.EscalationID != id {
			b.Fatalf("reply: %+v %v", res, err)
		}
	}
	b.StopTimer()
	data, err := os.ReadFile(e.TrackingPath(id))
	if err != nil || !strings.Contains(string(data), fmt.Sprintf("Update %d:", i-1)) {
		b.Fatalf("tracking file lacks the last message: %v", err)
	}
}
