package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

var t0 = time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestEngine(t *testing.T, edit func(*config.Config)) (*Engine, *clock) {
	t.Helper()
	cfg := config.Default()
	cfg.Escalation.Dir = filepath.Join(t.TempDir(), "escalations")
	cfg.Escalation.DataDir = t.TempDir()
	if edit != nil {
		edit(&cfg)
	}
	st, err := OpenTestStore("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: t0}
	e, err := New(st, OptionsFrom(cfg).With(tmpl, c.now, nil))
	if err != nil {
		t.Fatal(err)
	}
	return e, c
}

var nextUID uint32

func msg(from, subject, mid string, edit func(*Inbound)) *Inbound {
	nextUID++
	in := &Inbound{
		Mailbox: "INBOX", UIDValidity: 7, UID: nextUID, InternalDate: t0.Add(-time.Minute),
		MessageID: mid, From: Address{Name: "Jane Doe", Email: from},
		To:      []Address{{Email: "escalations@example.com"}},
		Subject: subject, Text: "help", RawSHA256: fmt.Sprintf("sha-%d", nextUID),
	}
	if edit != nil {
		edit(in)
	}
	return in
}

func ingest(t *testing.T, e *Engine, in *Inbound) Result {
	t.Helper()
	res, err := e.Ingest(context.Background(), in)
	if err != nil {
		t.Fatalf("Ingest %q: %v", in.Subject, err)
	}
	return res
}

// queuedMail lists the queued acknowledgements.
func queuedMail(t *testing.T, e *Engine) []Outgoing {
	t.Helper()
	return queuedKind(t, e, "ack")
}

// queuedKind lists the queued mail of one kind ("" for all).
func queuedKind(t *testing.T, e *Engine, kind string) []Outgoing {
	t.Helper()
	all, err := e.dueMail(context.Background(), 0, true, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var out []Outgoing
	for _, q := range all {
		if kind == "" || q.m.Kind == kind {
			out = append(out, q.m)
		}
	}
	return out
}

func TestRouting(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	first := ingest(t, e, msg("jane@acme.test", "Database outage", "a1@acme.test", nil))
	if !first.New || first.EscalationID != 1 {
		t.Fatalf("first message: %+v, want new escalation 1", first)
	}
	second := ingest(t, e, msg("bob@globex.test", "Other problem", "b1@globex.test", nil))
	if second.EscalationID != 2 {
		t.Fatalf("second escalation id = %d", second.EscalationID)
	}
	ack := queuedMail(t, e)[0]

	cases := []struct {
		name string
		in   *Inbound
		want int64
		via  string
	}{
		{"tag", msg("jane@acme.test", "Re: [ESC-00001] Database outage", "a2", nil), 1, "subject tag"},
		{"tag any case behind AW", msg("bob@globex.test", "AW: [esc-2] x", "a3", nil), 2, "subject tag"},
		{"unknown tag then valid one", msg("bob@globex.test", "[ESC-00099] [ESC-00002] x", "a4", nil), 2, "subject tag"},
		{"unknown tag alone is no tag", msg("jane@acme.test", "[ESC-00099] new thing", "a5", nil), 3, "new"},
		{"plus address", msg("bob@globex.test", "no tag", "a6", func(in *Inbound) {
			in.To = []Address{{Email: "Escalations+ESC-00002@example.com"}}
		}), 2, "plus-address"},
		{"delivered-to plus address", msg("jane@acme.test", "no tag", "a7", func(in *Inbound) {
			in.DeliveredTo = []string{"escalations+esc-00001@example.com"}
		}), 1, "plus-address"},
		{"in-reply-to the customer's message", msg("jane@acme.test", "Re: Database outage", "a8", func(in *Inbound) {
			in.InReplyTo = []string{"a1@acme.test"}
		}), 1, "In-Reply-To/References"},
		{"references our ack", msg("jane@acme.test", "Re: something", "a9", func(in *Inbound) {
			in.References = []string{"unknown@x", ack.MessageID}
		}), 1, "In-Reply-To/References"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := ingest(t, e, tc.in)
			if res.EscalationID != tc.want || res.Via != tc.via {
				t.Errorf("routed to %d via %q, want %d via %q", res.EscalationID, res.Via, tc.want, tc.via)
			}
		})
	}
}

func TestDuplicatesAppliedOnce(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	a := msg("jane@acme.test", "Outage", "same@acme.test", nil)
	ingest(t, e, a)
	again := *a
	again.UID = 999 // delivered twice
	again.RawSHA256 = "other-bytes"
	if res := ingest(t, e, &again); res.Disposition != Duplicate {
		t.Fatalf("same Message-ID: %+v", res)
	}
	noID := msg("jane@acme.test", "No id", "", nil)
	ingest(t, e, noID)
	copyNoID := *noID
	copyNoID.UID = 1000
	if res := ingest(t, e, &copyNoID); res.Disposition != Duplicate {
		t.Fatalf("same bytes without Message-ID: %+v", res)
	}
	list, err := e.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d escalations, want 2", len(list))
	}
	if n := len(queuedMail(t, e)); n != 2 {
		t.Fatalf("%d acknowledgements queued, want 2", n)
	}
	_, last, _, _ := e.Store().Checkpoint(context.Background(), "INBOX")
	if last != 1000 {
		t.Errorf("checkpoint = %d, want 1000", last)
	}
}

func TestAcknowledgement(t *testing.T) {
	e, _ := newTestEngine(t, func(c *config.Config) {
		c.Escalation.UpdateInterval = 90 * time.Minute
	})
	in := msg("jane@acme.test", "Re: Fwd: Database outage", "orig@acme.test", func(in *Inbound) {
		in.References = []string{"older@acme.test"}
	})
	ingest(t, e, in)
	mails := queuedMail(t, e)
	if len(mails) != 1 {
		t.Fatalf("%d mails queued", len(mails))
	}
	m := mails[0]
	checks := map[string][2]string{
		"subject":     {m.Subject, "RE: Database outage - Escalation Acknowledged [ESC-00001]"},
		"to":          {m.To[0].Email, "jane@acme.test"},
		"reply-to":    {m.ReplyTo, "escalations+ESC-00001@example.com"},
		"in-reply-to": {m.InReplyTo, "orig@acme.test"},
		"references":  {strings.Join(m.References, " "), "older@acme.test orig@acme.test"},
		"envelope":    {m.EnvelopeFrom, "escalations@example.com"},
		"headers":     {fmt.Sprint(m.Headers), "[[Auto-Submitted auto-replied] [X-Auto-Response-Suppress All] [X-Escalationd-Loop escalations@example.com]]"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if !strings.HasPrefix(m.MessageID, "esc-00001.ack.") || !strings.HasSuffix(m.MessageID, "@example.com") {
		t.Errorf("Message-ID = %q", m.MessageID)
	}
	for _, want := range []string{"Dear Jane Doe,", "Updates every 90 minutes", "Next update: 2026-11-28 15:34 UTC"} {
		if !strings.Contains(m.Body, want) {
			t.Errorf("body lacks %q:\n%s", want, m.Body)
		}
	}
}

func TestSalutationAndSignature(t *testing.T) {
	e, _ := newTestEngine(t, func(c *config.Config) {
		c.Customers = []config.Customer{{Domain: "acme.test", Name: "Acme Corp"}}
		c.Roster.Technical = map[string][]config.Contact{"tier 2": {{Email: "t2@example.com"}, {Email: "dana@example.com", Name: "Dana Lee", Title: "Senior Engineer", Phone: "+1 555 0100"}}}
	})
	ingest(t, e, msg("ops@acme.test", "x", "s1", func(in *Inbound) { in.From.Name = "" }))
	ingest(t, e, msg("someone@else.test", "y", "s2", func(in *Inbound) { in.From.Name = "" }))
	mails := queuedMail(t, e)
	if !strings.Contains(mails[0].Body, "Dear Acme Corp,") || !strings.Contains(mails[1].Body, "Dear Customer,") {
		t.Errorf("salutations:\n%s\n---\n%s", mails[0].Body, mails[1].Body)
	}
	if !strings.HasSuffix(mails[0].Body, "Best regards,\nDana Lee\nSenior Engineer\n+1 555 0100\ndana@example.com\n") {
		t.Errorf("signature:\n%s", mails[0].Body)
	}
}

func TestOldMailGetsNoAck(t *testing.T) {
	e, c := newTestEngine(t, nil)
	in := msg("jane@acme.test", "Old", "old1", func(in *Inbound) { in.InternalDate = t0.Add(-72 * time.Hour) })
	ingest(t, e, in)
	if n := len(queuedMail(t, e)); n != 0 {
		t.Fatalf("%d mails queued for old mail", n)
	}
	v, err := e.View(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !v.Opened.Equal(t0.Add(-72 * time.Hour)) {
		t.Errorf("opened = %v, want the arrival time", v.Opened)
	}
	if !v.NextUpdateDue.Equal(c.t.Add(4 * time.Hour)) {
		t.Errorf("next update = %v: the clock should start when handled", v.NextUpdateDue)
	}
	found := false
	for _, te := range v.Timeline {
		found = found || strings.Contains(te.Text, "No acknowledgement or notification sent")
	}
	if !found {
		t.Errorf("timeline does not say why no acknowledgement was sent: %+v", v.Timeline)
	}
}

func TestAckRateLimit(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) { c.Limits.AcksPerSenderPerHour = 2 })
	for i := range 3 {
		ingest(t, e, msg("flood@acme.test", fmt.Sprintf("req %d", i), fmt.Sprintf("f%d", i), nil))
	}
	if n := len(queuedMail(t, e)); n != 2 {
		t.Fatalf("%d acks queued, want 2", n)
	}
	v, _ := e.View(context.Background(), 3)
	if last := v.Timeline[len(v.Timeline)-1].Text; last != "acknowledgement suppressed: rate limit (limits.acks_per_sender_per_hour is 2)" {
		t.Errorf("last timeline entry = %q", last)
	}
	c.t = c.t.Add(61 * time.Minute)
	ingest(t, e, msg("flood@acme.test", "later", "f9", nil))
	if n := len(queuedMail(t, e)); n != 3 {
		t.Fatalf("%d acks queued after an hour, want 3", n)
	}
}

type fakeMailer struct {
	errs []error // returned in order; nil past the end
	sent []Outgoing
}

func (f *fakeMailer) SendEach(_ context.Context, msgs []*Outgoing, report func(int, error) bool) {
	for i, m := range msgs {
		var err error
		if len(f.errs) > 0 {
			err, f.errs = f.errs[0], f.errs[1:]
		}
		if err == nil {
			f.sent = append(f.sent, *m)
		}
		if !report(i, err) {
			return
		}
	}
}

func TestOutboxRetriesThenSends(t *testing.T) {
	e, c := newTestEngine(t, nil)
	ingest(t, e, msg("jane@acme.test", "Outage", "o1", nil))
	queuedID := queuedMail(t, e)[0].MessageID
	m := &fakeMailer{errs: []error{errors.New("421 try later")}}
	st, err := e.FlushOutbox(context.Background(), m, false)
	if err != nil || st.Deferred != 1 || st.Sent != 1 || st.Pending != 1 {
		t.Fatalf("first flush: %+v %v", st, err)
	}
	st, _ = e.FlushOutbox(context.Background(), m, false)
	if st.Sent != 0 || st.Pending != 1 {
		t.Fatalf("flush before the retry is due sent something: %+v", st)
	}
	c.t = c.t.Add(e.cfg.Mail.RetryMax + time.Minute)
	st, _ = e.FlushOutbox(context.Background(), m, false)
	// The roster notification went out on the first flush; the ack now.
	if st.Sent != 1 || st.Pending != 0 || len(m.sent) != 2 || m.sent[1].MessageID != queuedID {
		t.Fatalf("retry: %+v, sent %d", st, len(m.sent))
	}
	v, _ := e.View(context.Background(), 1)
	if !v.Checklist[6] {
		t.Error("checklist item 7 not ticked after the ack went out")
	}
	if v.Timeline[len(v.Timeline)-1].Text != "Escalation acknowledged" {
		t.Errorf("timeline: %+v", v.Timeline)
	}
	st, _ = e.FlushOutbox(context.Background(), m, true)
	if st.Sent != 0 {
		t.Fatal("sent twice")
	}
	if n, err := e.RenderBehind(context.Background()); err != nil || n != 1 {
		t.Fatalf("RenderBehind after the flushes wrote %d files, %v; want the 1 the sends changed", n, err)
	}
	data, err := os.ReadFile(e.TrackingPath(1))
	if err != nil || !strings.Contains(string(data), "7. [x] Customer notified of escalation") {
		t.Fatalf("tracking file not re-rendered after send: %v\n%s", err, data)
	}
}

func TestOutboxPermanentFailure(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ingest(t, e, msg("nobody@acme.test", "Outage", "p1", nil))
	m := &fakeMailer{errs: []error{fmt.Errorf("%w: 550 5.1.1 no such user", ErrPermanent)}}
	st, err := e.FlushOutbox(context.Background(), m, true)
	if err != nil || st.Failed != 1 || st.Pending != 0 {
		t.Fatalf("flush: %+v %v", st, err)
	}
	if _, err := e.RenderBehind(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(e.TrackingPath(1))
	if !strings.Contains(string(data), "Delivery failure: nobody@acme.test: 550 5.1.1 no such user") {
		t.Errorf("tracking file lacks the delivery failure:\n%s", data)
	}
	if st, _ := e.FlushOutbox(context.Background(), m, true); st.Sent+st.Failed != 0 {
		t.Error("a permanent failure was retried")
	}
}

func TestRenderStale(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ingest(t, e, msg("jane@acme.test", "Outage", "r1", nil))
	path := e.TrackingPath(1)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	n, err := e.RenderStale(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("RenderStale = %d, %v", n, err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.RenderStale(context.Background()); n != 0 {
		t.Errorf("second RenderStale rendered %d", n)
	}
}

func TestAttachmentsPlacedSafely(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	spool := t.TempDir()
	att := func(name, content string) Attachment {
		f, err := os.CreateTemp(spool, "att-*")
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(content)
		f.Close()
		return Attachment{Name: name, Size: int64(len(content)), Path: f.Name()}
	}
	in := msg("jane@acme.test", "logs", "att1", func(in *Inbound) {
		in.Attachments = []Attachment{att("../../etc/passwd", "a"), att("report.pdf", "b"), att("report.pdf", "c"), att("", "d")}
	})
	ingest(t, e, in)
	dir := filepath.Join(e.cfg.Escalation.Dir, "ESC-00001")
	for name, want := range map[string]string{"passwd": "a", "report.pdf": "b", "report (2).pdf": "c", "attachment": "d"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s: %q, %v; want %q", name, got, err, want)
		}
	}
	v, _ := e.View(context.Background(), 1)
	if n := len(v.Log[0].Attachments); n != 4 {
		t.Errorf("%d attachments logged", n)
	}
}

func TestCleanSubject(t *testing.T) {
	r := newRouter("ESC", "escalations@example.com")
	for in, want := range map[string]string{
		"Re: [ESC-00042] Database outage": "Database outage",
		"RE: AW: Fwd: SV: Ответ: Outage":  "Outage",
		"Re[2]: Re(3): x [esc-7] y":       "x y",
		"[ESC-00001]":                     "(no subject)",
		"Report: Q3 numbers":              "Report: Q3 numbers",
		"  Fw:   spaced    out  ":         "spaced out",
	} {
		if got := r.cleanSubject(in); got != want {
			t.Errorf("cleanSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	long := strings.Repeat("x", 300) + ".pdf"
	for in, want := range map[string]string{
		"../../etc/passwd": "passwd",
		`C:\temp\evil.exe`: "evil.exe",
		".hidden":          "hidden",
		"a\x00b\r\nc.txt":  "abc.txt",
		"..":               "attachment",
		"":                 "attachment",
		"re\u202eport.pdf": "report.pdf",
		"what?.txt":        "what_.txt",
		long:               strings.Repeat("x", maxNameBytes-4) + ".pdf",
	} {
		if got := SafeFileName(in); got != want {
			t.Errorf("SafeFileName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDurationWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		4 * time.Hour: "4 hours", time.Hour: "1 hour", 90 * time.Minute: "90 minutes", 45 * time.Second: "45 seconds",
	} {
		if got := durationWords(d); got != want {
			t.Errorf("durationWords(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestAutomaticMailOpensNothing(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	ingest(t, e, msg("jane@acme.test", "Outage", "x1@acme.test", nil))
	ack := queuedMail(t, e)[0]
	before := len(queuedKind(t, e, ""))
	// An out-of-office reply to the ack belongs to ESC-00001: logged there.
	ooo := ingest(t, e, msg("jane@acme.test", "Automatic reply: RE: Outage", "x2@acme.test", func(in *Inbound) {
		in.InReplyTo = []string{ack.MessageID}
		in.Header = map[string][]string{"Auto-Submitted": {"auto-replied"}}
	}))
	if ooo.EscalationID != 1 || ooo.New {
		t.Fatalf("out-of-office reply: %+v", ooo)
	}
	// A bounce-like mail that belongs to nothing opens nothing.
	stray := ingest(t, e, msg("MAILER-DAEMON@mx.acme.test", "Undelivered Mail", "x3@acme.test", nil))
	if stray.EscalationID != 0 || stray.New {
		t.Fatalf("stray automatic mail: %+v", stray)
	}
	if n := len(queuedKind(t, e, "")); n != before {
		t.Errorf("automatic mail queued %d mails", n-before)
	}
	v, _ := e.View(context.Background(), 1)
	if v.Status != StatusEscalated || len(v.Log) != 2 || !strings.Contains(v.Log[1].Note, "automatic mail (Auto-Submitted: auto-replied)") {
		t.Errorf("status %s, log %+v", v.Status, v.Log)
	}
	if list, _ := e.List(context.Background()); len(list) != 1 {
		t.Errorf("%d escalations, want 1", len(list))
	}
}

// A message that panics the engine is tried MaxAttempts times, then
// quarantined; the messages behind it go on, and nothing of it is committed.
func TestPoisonMessageIsQuarantined(t *testing.T) {
	e, _ := newTestEngine(t, nil)
	e.beforeApply = func(in *Inbound) {
		if in.Subject == "poison" {
			panic("boom")
		}
	}
	bad := msg("jane@acme.test", "poison", "p1@acme.test", nil)
	ref := MessageRef{Mailbox: bad.Mailbox, UIDValidity: bad.UIDValidity, UID: bad.UID}
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		_, err := e.Ingest(context.Background(), bad)
		if !errors.Is(err, ErrPoison) {
			t.Fatalf("attempt %d: %v, want ErrPoison", attempt, err)
		}
		q, err := e.Poisoned(context.Background(), ref, "", err)
		if err != nil {
			t.Fatal(err)
		}
		if q != (attempt == MaxAttempts) {
			t.Fatalf("attempt %d: quarantined = %v", attempt, q)
		}
	}
	counts, _ := e.MessageCounts(context.Background())
	if counts[Quarantined] != 1 || counts[Applied] != 0 {
		t.Fatalf("dispositions %v", counts)
	}
	if _, last, _, _ := e.Store().Checkpoint(context.Background(), "INBOX"); last != bad.UID {
		t.Errorf("checkpoint %d, want it past the poison message %d", last, bad.UID)
	}
	// The store is usable: the next message applies.
	if res := ingest(t, e, msg("jane@acme.test", "fine", "p2@acme.test", nil)); !res.New {
		t.Fatalf("next message: %+v", res)
	}
	if list, _ := e.List(context.Background()); len(list) != 1 {
		t.Errorf("%d escalations, want 1 (nothing of the poison message)", len(list))
	}
}

// TestNotificationNamesAnAbsoluteTrackingPath: escalation.dir may be
// relative to where the daemon started; the staff mail names the file so
// that it can be found from anywhere.
func TestNotificationNamesAnAbsoluteTrackingPath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	e, _ := newTestEngine(t, func(c *config.Config) { c.Escalation.Dir = "escalations" })
	ingest(t, e, msg("jane@acme.test", "Outage", "abs1", nil))
	notes := queuedKind(t, e, "notify")
	if len(notes) == 0 {
		t.Fatal("no roster notification queued")
	}
	want := "Tracking file: " + filepath.Join(dir, "escalations", "ESC-00001-tracking.md")
	if !strings.Contains(notes[0].Body, want) {
		t.Errorf("notification lacks %q:\n%s", want, notes[0].Body)
	}
}
