package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"
	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/workflow"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// t0 is the fixed "now" of tests that compare with golden files.
var t0 = time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC)

type harness struct {
	t    *testing.T
	imap *localmail.IMAPServer
	smtp *localmail.SMTPServer
	cfg  config.Config
	log  *slog.Logger
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newHarness starts in-process IMAP and SMTP servers and a config that
// points at them, in a temporary folder.
func newHarness(t *testing.T, edit func(*config.Config)) *harness {
	t.Helper()
	h := &harness{t: t, log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	cfg := config.Default()
	var err error
	h.imap, err = localmail.StartIMAP(cfg.Escalation.Address, "pw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.imap.Close() })
	h.smtp, err = localmail.StartSMTP(localmail.SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.smtp.Close() })
	dir := t.TempDir()
	if err := demoConfig(&cfg, dir, h.imap.Addr, h.smtp.Addr); err != nil {
		t.Fatal(err)
	}
	cfg.IMAP.Password = "pw"
	if edit != nil {
		edit(&cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	h.cfg = cfg
	return h
}

func (h *harness) seed(msgs []seed) {
	h.t.Helper()
	for _, s := range msgs {
		if _, err := h.imap.Append("INBOX", s.raw, s.arrived); err != nil {
			h.t.Fatalf("append %s: %v", s.what, err)
		}
	}
}

func (h *harness) once(now func() time.Time) int {
	h.t.Helper()
	return once(context.Background(), h.cfg, now, h.log)
}

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// inspect opens the daemon's store read-only for assertions.
func (h *harness) inspect() *daemon {
	h.t.Helper()
	d, err := build(h.cfg, time.Now, h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(d.close)
	return d
}

// acksOf keeps the acknowledgements (Auto-Submitted: auto-replied) of got.
func acksOf(got []localmail.Received) []localmail.Received {
	var out []localmail.Received
	for _, m := range got {
		if m.Header.Get("Auto-Submitted") == "auto-replied" {
			out = append(out, m)
		}
	}
	return out
}

// waitAcks blocks until srv received n acknowledgements or ctx ends.
func waitAcks(ctx context.Context, srv *localmail.SMTPServer, n int) error {
	for k := 1; ; k++ {
		got, err := srv.Wait(ctx, k)
		if err != nil {
			return fmt.Errorf("%d of %d acknowledgements: %w", len(acksOf(srv.Received())), n, err)
		}
		if len(acksOf(got)) >= n {
			return nil
		}
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := os.ReadFile(path) // a missing file shows up as a diff
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; rerun with -update and review\n--- got:\n%s", path, got)
	}
}

func TestOnceHandlesTheDemoMailbox(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(demoMessages(t0))
	if code := h.once(fixed(t0)); code != exitOK {
		t.Fatalf("once exit %d, want 0", code)
	}

	// Three new escalations, three acknowledgements, each with the §8 headers.
	all := h.smtp.Received()
	got := acksOf(all)
	if len(got) != 3 || len(all) != 6 {
		t.Fatalf("%d mails sent, %d acknowledgements; want 6 and 3 (an ack and a roster notification per escalation)", len(all), len(got))
	}
	for _, m := range all {
		if m.Header.Get("Auto-Submitted") == "auto-generated" && (m.To[0] != "tier2@example.com" || !strings.Contains(decodeHeader(m.Header.Get("Subject")), "Technical escalation at Tier 2")) {
			t.Errorf("roster notification to %v: %q", m.To, m.Header.Get("Subject"))
		}
	}
	d := h.inspect()
	queued, err := d.engine.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	wantTo := []string{"jane@acme.test", "ivan@globex.test", "li.wei@initech.test"}
	for i, m := range got {
		hd := m.Header
		if m.To[0] != wantTo[i] || m.From != "escalations@example.com" {
			t.Errorf("mail %d: envelope %s -> %v", i, m.From, m.To)
		}
		tag := fmt.Sprintf("ESC-%05d", i+1)
		var ackID string
		for _, q := range queued {
			if q.Kind == "ack" && q.EscalationID == int64(i+1) {
				ackID = q.MessageID
			}
		}
		want := map[string]string{
			"Message-Id":               "<" + ackID + ">",
			"Reply-To":                 "<escalations+" + tag + "@example.com>",
			"Auto-Submitted":           "auto-replied",
			"X-Auto-Response-Suppress": "All",
			"X-Escalationd-Loop":       "escalations@example.com",
		}
		for k, v := range want {
			if g := hd.Get(k); g != v {
				t.Errorf("mail %d %s = %q, want %q", i, k, g, v)
			}
		}
		if subj := decodeHeader(hd.Get("Subject")); !strings.HasSuffix(subj, "- Escalation Acknowledged ["+tag+"]") || !strings.HasPrefix(subj, "RE: ") {
			t.Errorf("mail %d subject %q", i, subj)
		}
		if hd.Get("In-Reply-To") == "" || hd.Get("References") == "" {
			t.Errorf("mail %d lacks In-Reply-To/References", i)
		}
	}
	if s := decodeHeader(got[1].Header.Get("Subject")); s != "RE: Не проходят платежи с карт - Escalation Acknowledged [ESC-00002]" {
		t.Errorf("KOI8-R subject decoded to %q", s)
	}

	// Threading: the two replies went to ESC-00001.
	list, err := d.engine.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].Messages != 3 || list[2].Attachments != 1 {
		t.Fatalf("escalations: %+v", list)
	}
	att, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00003", "sync-error.log"))
	if err != nil || !strings.Contains(string(att), "deadlock detected") {
		t.Errorf("attachment: %q %v", att, err)
	}

	// Every message is marked handled on the server.
	msgs, err := h.imap.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if !slices.Contains(m.Flags, `\Seen`) {
			t.Errorf("UID %d not flagged \\Seen: %v", m.UID, m.Flags)
		}
	}

	track, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ESC-00001-tracking.md", track)
	ru, _ := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00002-tracking.md"))
	for _, want := range []string{"Прошу эскалировать", "Иван Петров"} {
		if !strings.Contains(string(ru), want) {
			t.Errorf("ESC-00002 tracking file lacks %q", want)
		}
	}
	html, _ := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00003-tracking.md"))
	if strings.Contains(string(html), "<p>") || !strings.Contains(string(html), "nightly sync") {
		t.Errorf("HTML-only body not turned into text:\n%s", html)
	}
	mid := regexp.MustCompile(`esc-00001\.ack\.[0-9a-f]+@`)
	golden(t, "ack.eml", mid.ReplaceAll(got[0].Data, []byte("esc-00001.ack.RANDOM@")))

	// A second run finds nothing to do and sends nothing.
	if code := h.once(fixed(t0)); code != exitOK {
		t.Fatalf("second once exit %d", code)
	}
	if n := len(h.smtp.Received()); n != 6 {
		t.Fatalf("second run sent mail: %d in all", n)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// onceWithSMTPDown runs once over one demo message with nothing listening
// at the SMTP address, which it returns; the ack stays queued (exit 1).
func onceWithSMTPDown(t *testing.T) (*harness, string) {
	t.Helper()
	down := freeAddr(t)
	h := newHarness(t, func(c *config.Config) {
		c.SMTP.Host, c.SMTP.Port, _ = splitHostPort(down)
	})
	h.seed(demoMessages(time.Now())[:1])
	if code := h.once(time.Now); code != exitWork {
		t.Fatalf("once with SMTP down exit %d, want 1", code)
	}
	return h, down
}

func TestOnceWithSMTPDownKeepsTheAckQueued(t *testing.T) {
	h, down := onceWithSMTPDown(t)
	d := h.inspect()
	q, err := d.engine.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 || q[0].Kind != "ack" || q[0].Status != "queued" || q[0].Attempts != 1 {
		t.Fatalf("outbox after the failed run: %d rows, first %s %s after %d attempts", len(q), q[0].Kind, q[0].Status, q[0].Attempts)
	}
	queuedID := q[0].MessageID
	d.close()

	srv, err := localmail.StartSMTP(localmail.SMTPOptions{Addr: down})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once with SMTP back exit %d, want 0", code)
	}
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("third once exit %d", code)
	}
	got := acksOf(srv.Received())
	if len(got) != 1 || len(srv.Received()) != 2 {
		t.Fatalf("%d acknowledgements delivered (%d mails), want exactly 1 (2)", len(got), len(srv.Received()))
	}
	if id := got[0].Header.Get("Message-Id"); id != "<"+queuedID+">" {
		t.Errorf("delivered Message-ID %s, want the one stored at queue time <%s>", id, queuedID)
	}
	track, _ := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md"))
	if !strings.Contains(string(track), "Escalation acknowledged") || !strings.Contains(string(track), "7. [x] Customer notified of escalation") {
		t.Errorf("tracking file not updated after delivery:\n%s", track)
	}
}

// TestOnceWithIMAPDownStillSends: once sends what is queued even when the
// mailbox cannot be reached, exits 1, and the tracking file shows the mail.
func TestOnceWithIMAPDownStillSends(t *testing.T) {
	h, down := onceWithSMTPDown(t)
	srv, err := localmail.StartSMTP(localmail.SMTPOptions{Addr: down})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h.cfg.IMAP.Host, h.cfg.IMAP.Port, _ = splitHostPort(freeAddr(t))
	if code := h.once(time.Now); code != exitWork {
		t.Fatalf("once with IMAP down exit %d, want 1", code)
	}
	if got := acksOf(srv.Received()); len(got) != 1 || len(srv.Received()) != 2 {
		t.Fatalf("%d acknowledgements delivered (%d mails), want 1 (2)", len(got), len(srv.Received()))
	}
	track, _ := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md"))
	if !strings.Contains(string(track), "Escalation acknowledged") || !strings.Contains(string(track), "7. [x] Customer notified of escalation") {
		t.Errorf("tracking file does not show the mail sent while IMAP was down:\n%s", track)
	}
}

func TestRunAcknowledgesThroughIdle(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.IMAP.PollInterval = time.Hour })
	logs := h.captureLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, h.cfg, time.Now, h.log) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10 s of cancel")
		}
	}()

	// Each message is appended while the daemon idles (it logs "idling" once
	// the server has accepted IDLE), so it must arrive through IDLE: polling
	// would wait an hour. Waiting for that line first, rather than assuming
	// the daemon is back in IDLE by the time the acknowledgement before went
	// out, keeps the proof on a busy machine; and any wait well short of the
	// hour proves it.
	idling := func() int { return len(logs.lines("msg=idling")) }
	msgs := demoMessages(time.Now())
	for i, s := range []seed{msgs[0], msgs[4]} {
		eventually(t, patience, fmt.Sprintf("the daemon idling before message %d", i+1), func() bool { return idling() > i })
		start := time.Now()
		if _, err := h.imap.Append("INBOX", s.raw, time.Now()); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(context.Background(), patience)
		err := waitAcks(wctx, h.smtp, i+1)
		wcancel()
		if err != nil {
			t.Fatalf("message %d not acknowledged within %s (the poll interval is an hour): %v", i+1, patience, err)
		}
		t.Logf("message %d acknowledged %v after APPEND", i+1, time.Since(start).Round(time.Millisecond))
	}
}

func TestProcessedMailboxAndQuarantine(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.IMAP.ProcessedMailbox = "Processed"
		c.Limits.MaxMessageBytes = 4096
	})
	msgs := demoMessages(time.Now())
	h.seed(msgs[:1])
	big := append([]byte("From: big@acme.test\r\nSubject: huge\r\nMessage-ID: <big@acme.test>\r\n\r\n"), bytes.Repeat([]byte("x"), 8192)...)
	if _, err := h.imap.Append("INBOX", big, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once exit %d", code)
	}
	count := func(mbox string) int {
		m, err := h.imap.Messages(mbox)
		if err != nil {
			t.Fatal(err)
		}
		return len(m)
	}
	if in, p, q := count("INBOX"), count("Processed"), count("Quarantine"); in != 0 || p != 1 || q != 1 {
		t.Fatalf("INBOX %d, Processed %d, Quarantine %d; want 0, 1, 1", in, p, q)
	}
	if n := len(acksOf(h.smtp.Received())); n != 1 {
		t.Errorf("%d acknowledgements sent, want 1 (none for the quarantined one)", n)
	}
}

func TestUIDValidityChangeAppliesNothingTwice(t *testing.T) {
	h := newHarness(t, nil)
	h.seed(demoMessages(time.Now()))
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once exit %d", code)
	}
	st, err := sqlite.Open(h.cfg.Escalation.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	// As if the server had renumbered the mailbox.
	if err := st.ResetCheckpoint(context.Background(), "INBOX", 4242); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once after UIDVALIDITY change exit %d", code)
	}
	d := h.inspect()
	counts, err := d.engine.MessageCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The same UIDs come back, are recognised by Message-ID, and stay
	// recorded as applied once each.
	if counts[workflow.Applied] != 5 || counts[workflow.Duplicate] != 0 {
		t.Errorf("messages by disposition: %v; want 5 applied", counts)
	}
	if list, _ := d.engine.List(context.Background()); len(list) != 3 || list[0].Messages != 3 {
		t.Errorf("escalations after the re-read: %+v", list)
	}
	if n := len(h.smtp.Received()); n != 6 {
		t.Errorf("%d mails sent in all, want 6", n)
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	example, err := os.ReadFile("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(good, example, 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, bytes.Replace(example, []byte("port: 993"), []byte("port: 99999"), 1), 0o644)
	unknown := filepath.Join(dir, "unknown.yaml")
	os.WriteFile(unknown, append(append([]byte{}, example...), []byte("\nbogus: 1\n")...), 0o644)

	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check-config", "--config", good}, exitOK, "OK"},
		{[]string{"check-config", "--config", bad}, exitConfig, "imap.port"},
		{[]string{"check-config", "--config", unknown}, exitConfig, "bogus"},
		{[]string{"once"}, exitConfig, "--config FILE is required"},
		{[]string{"frobnicate"}, exitConfig, "unknown command"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli(tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String()+stderr.String(), tc.out) {
			t.Errorf("%v: exit %d, output %q; want %d and %q", tc.args, code, stdout.String()+stderr.String(), tc.code, tc.out)
		}
	}
	var stdout, stderr bytes.Buffer
	t.Setenv("ESCALATIOND_IMAP_PASSWORD", "s3cret-value")
	if code := cli([]string{"check-config", "--config", good}, &stdout, &stderr); code != exitOK || strings.Contains(stdout.String(), "s3cret-value") {
		t.Errorf("check-config printed the password or failed (%d): %s", code, stdout.String())
	}
}

func TestDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	var out bytes.Buffer
	if err := demo(context.Background(), dir, &out, slog.New(slog.NewTextHandler(testWriter{t}, nil))); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	for _, want := range []string{"5 messages seeded, 5 applied", "3 escalations", "6 mails sent", "ESC-00001-tracking.md"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	sent, _ := filepath.Glob(filepath.Join(dir, "sent", "*.eml"))
	if len(sent) != 6 {
		t.Errorf("%d .eml files in sent/, want 6", len(sent))
	}
}

// A second run or once on the same data_dir refuses to start; list and show
// still read it.
func TestSecondDaemonRefused(t *testing.T) {
	h := newHarness(t, nil)
	release, err := lockDataDir(h.cfg.Escalation.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	if code := h.once(time.Now); code != exitWork {
		t.Errorf("once beside a running daemon exit %d, want 1", code)
	}
	err = run(context.Background(), h.cfg, time.Now, h.log)
	if !errors.Is(err, errLocked) || !strings.Contains(err.Error(), strconv.Itoa(os.Getpid())) {
		t.Errorf("run beside a running daemon: %v, want errLocked naming pid %d", err, os.Getpid())
	}
	var out bytes.Buffer
	if err := list(context.Background(), h.cfg, time.Now, &out); err != nil && !strings.Contains(err.Error(), "no store") {
		t.Errorf("list while locked: %v", err)
	}
	release()
	if code := h.once(time.Now); code != exitOK {
		t.Errorf("once after the lock was released exit %d", code)
	}
}

// TestQuarantinedMessageMovedBackIsTriedAgain: an operator who raises the
// limit a message broke and moves it back from the quarantine mailbox into
// the mailbox gets it handled: to the daemon it is a new message (a new
// UID), with no attempts counted against it.
func TestQuarantinedMessageMovedBackIsTriedAgain(t *testing.T) {
	h := newHarness(t, func(c *config.Config) { c.Limits.MaxMessageBytes = 4096 })
	big := append([]byte("From: Big Request <big@acme.test>\r\nSubject: huge logs attached\r\nMessage-ID: <big@acme.test>\r\n\r\n"), bytes.Repeat([]byte("log line\r\n"), 1000)...)
	if _, err := h.imap.Append("INBOX", big, time.Now()); err != nil {
		t.Fatal(err)
	}
	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once exit %d", code)
	}
	q, err := h.imap.Messages("Quarantine")
	if err != nil || len(q) != 1 {
		t.Fatalf("Quarantine holds %d messages (%v), want 1", len(q), err)
	}
	if n := len(acksOf(h.smtp.Received())); n != 0 {
		t.Fatalf("%d acknowledgements for a quarantined message", n)
	}

	// The operator raises the limit and moves the message back.
	h.cfg.Limits.MaxMessageBytes = 1 << 20
	c, err := h.imap.Dial()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("Quarantine", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(imap.UID(q[0].UID)), "INBOX").Wait(); err != nil {
		t.Fatalf("MOVE back: %v", err)
	}
	c.Logout().Wait()
	c.Close()

	if code := h.once(time.Now); code != exitOK {
		t.Fatalf("once after the move back: exit %d", code)
	}
	acks := acksOf(h.smtp.Received())
	if len(acks) != 1 || acks[0].To[0] != "big@acme.test" {
		t.Fatalf("acknowledgements %v, want one to big@acme.test", sentTo(acks))
	}
	if q, _ := h.imap.Messages("Quarantine"); len(q) != 0 {
		t.Errorf("Quarantine holds %d messages after the retry", len(q))
	}
	list, err := h.inspect().engine.List(context.Background())
	if err != nil || len(list) != 1 {
		t.Errorf("%d escalations (%v), want 1", len(list), err)
	}
}

// TestRunRetriesByTheEnginesClock: `run` waits for the outbox's next due
// mail by the same clock the engine schedules it with. A clock an hour ahead
// of the machine's (as a test or a replay gives) used to make the sender
// sleep an hour before its first retry.
func TestRunRetriesByTheEnginesClock(t *testing.T) {
	h := newHarness(t, func(c *config.Config) {
		c.IMAP.PollInterval = time.Hour
		c.SMTP.RetryMin, c.SMTP.RetryMax = time.Second, 2*time.Second
	})
	// A sink that refuses the first mail for now (451), then takes all.
	var refused atomic.Int32
	sink, err := localmail.StartSMTP(localmail.SMTPOptions{Reject: func(string, []string) *smtp.SMTPError {
		if refused.Add(1) == 1 {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	_, port, _ := net.SplitHostPort(sink.Addr)
	h.cfg.SMTP.Port, _ = strconv.Atoi(port)

	ahead := func() time.Time { return time.Now().Add(time.Hour) }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, h.cfg, ahead, h.log) }()
	defer func() {
		cancel()
		<-done
	}()
	if _, err := h.imap.Append("INBOX", demoMessages(time.Now())[0].raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithTimeout(context.Background(), patience)
	defer wcancel()
	// The acknowledgement and the notification, the refused one retried.
	if _, err := sink.Wait(wctx, 2); err != nil {
		t.Fatalf("after %d refusal(s), the retry did not come within %s: %v", refused.Load(), patience, err)
	}
	if refused.Load() < 2 {
		t.Errorf("%d mails offered, want the refused one offered again", refused.Load())
	}
}
