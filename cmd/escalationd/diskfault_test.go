//go:build linux

package main

// Local disk faults (issue "real servers and faults", item 7): a full or
// read-only escalation.dir gives a clear error, the message is not marked
// handled, and processing resumes when the fault clears. CI runs as root, so
// chmod proves nothing: the faults are real, on a small tmpfs mounted over
// escalation.dir.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

// smallDisk is a 256 KiB tmpfs mounted on a folder for the length of a test.
type smallDisk struct {
	t      *testing.T
	dir    string
	filler string
}

const smallDiskOpts = "size=256k,mode=0755"

// mountSmallDisk mounts a small tmpfs on dir (created if missing). Without
// the right to mount the test is skipped, except in CI, which must prove it.
func mountSmallDisk(t *testing.T, dir string) *smallDisk {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, smallDiskOpts); err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs on %s: %v; the disk-fault tests need root (CAP_SYS_ADMIN)", dir, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "; CI must run them")
		}
		t.Skip(msg)
	}
	// Registered after t.TempDir's own clean-up, so it runs before it.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return &smallDisk{t: t, dir: dir, filler: filepath.Join(dir, "filler")}
}

// fill writes a filler file until the disk is full, then checks that not
// even a small file fits.
func (d *smallDisk) fill() {
	d.t.Helper()
	f, err := os.OpenFile(d.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{'x'}, 4096)
	for {
		if _, err = f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		d.t.Fatalf("filling %s: %v, want ENOSPC", d.dir, err)
	}
	probe := filepath.Join(d.dir, "probe")
	err = os.WriteFile(probe, []byte("probe\n"), 0o644)
	os.Remove(probe)
	if !errors.Is(err, syscall.ENOSPC) {
		d.t.Fatalf("a small write to the full disk gave %v, want ENOSPC", err)
	}
}

func (d *smallDisk) unfill() {
	d.t.Helper()
	if err := os.Remove(d.filler); err != nil {
		d.t.Fatal(err)
	}
}

func (d *smallDisk) remount(readOnly bool) {
	d.t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", d.dir, "tmpfs", flags, smallDiskOpts); err != nil {
		d.t.Fatalf("remount %s (read-only %v): %v", d.dir, readOnly, err)
	}
	if readOnly {
		probe := filepath.Join(d.dir, "probe")
		if err := os.WriteFile(probe, nil, 0o644); !errors.Is(err, syscall.EROFS) {
			d.t.Fatalf("a write to the read-only disk gave %v, want EROFS", err)
		}
	}
}

// diskFault is one way escalation.dir can fail, and the text its error shows.
type diskFault struct {
	name  string
	errno string
	start func(*smallDisk)
	clear func(*smallDisk)
}

var diskFaults = []diskFault{
	{"full", "no space left on device", (*smallDisk).fill, (*smallDisk).unfill},
	{"read-only", "read-only file system",
		func(d *smallDisk) { d.remount(true) },
		func(d *smallDisk) { d.remount(false) }},
}

// newDiskHarness is newHarness with escalation.dir on a small tmpfs and the
// log also kept in a buffer for assertions.
func newDiskHarness(t *testing.T, edit func(*config.Config)) (*harness, *smallDisk, *lockedBuffer) {
	t.Helper()
	h := newHarness(t, edit)
	disk := mountSmallDisk(t, h.cfg.Escalation.Dir)
	return h, disk, h.captureLog()
}

// seenUIDs returns the UIDs in INBOX flagged \Seen, and how many there are.
func seenUIDs(t *testing.T, h *harness) (seen []uint32, total int) {
	t.Helper()
	msgs, err := h.imap.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if slices.Contains(m.Flags, `\Seen`) {
			seen = append(seen, m.UID)
		}
	}
	return seen, len(msgs)
}

// withDaemon builds the daemon's parts over the test's store with clock now,
// hands them to f and closes them.
func withDaemon(t *testing.T, h *harness, now func() time.Time, f func(d *daemon)) {
	t.Helper()
	d, err := build(h.cfg, now, h.log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.close()
	f(d)
}

// noLeftovers checks that no temp file is left in escalation.dir and no
// spooled attachment or half-archived message in data_dir.
func noLeftovers(t *testing.T, h *harness, filler string) {
	t.Helper()
	filepath.WalkDir(h.cfg.Escalation.Dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walk %s: %v", path, err)
			return nil
		}
		name := e.Name()
		if path != h.cfg.Escalation.Dir && path != filler &&
			(strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".part")) {
			t.Errorf("temp file left in escalation.dir: %s", path)
		}
		return nil
	})
	spool, _ := os.ReadDir(filepath.Join(h.cfg.Escalation.DataDir, "spool"))
	for _, e := range spool {
		t.Errorf("spooled attachment left behind: %s", filepath.Join("spool", e.Name()))
	}
	raw, _ := filepath.Glob(filepath.Join(h.cfg.Escalation.DataDir, "raw", "incoming-*"))
	for _, p := range raw {
		t.Errorf("half-archived message left behind: %s", p)
	}
}

var trackingSections = []string{"## Classification", "## Timeline", "## Handoff Checklist", "## Actions & Owners", "## Communication Log", "## Resolution Plan"}

// checkTrackingShape checks that a tracking file is whole: every section in
// order, "## Resolution Plan" the last, a final newline, and the texts in
// want.
func checkTrackingShape(t *testing.T, path string, want ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("tracking file: %v", err)
		return nil
	}
	s := string(b)
	at := 0
	for _, sec := range trackingSections {
		i := strings.Index(s[at:], "\n"+sec+"\n")
		if i < 0 {
			t.Errorf("%s: no %q after byte %d (truncated?):\n%s", path, sec, at, s)
			return b
		}
		at += i + 1
	}
	if strings.Contains(s[at+len("## Resolution Plan"):], "\n## ") || !strings.HasSuffix(s, "\n") {
		t.Errorf("%s does not end with the Resolution Plan section:\n%s", path, s)
	}
	for _, w := range want {
		if !strings.Contains(s, w) {
			t.Errorf("%s lacks %q:\n%s", path, w, s)
		}
	}
	return b
}

// checkTrackingCurrent checks that every escalation's tracking file is whole
// and is exactly what the store says now (so nothing committed is missing
// from it), and that every recorded attachment exists with its full size.
func checkTrackingCurrent(t *testing.T, h *harness, now func() time.Time) {
	t.Helper()
	loc, err := time.LoadLocation(h.cfg.Escalation.Timezone)
	if err != nil {
		t.Fatal(err)
	}
	withDaemon(t, h, now, func(d *daemon) {
		ctx := context.Background()
		list, err := d.engine.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			got := checkTrackingShape(t, s.TrackingPath)
			v, err := d.engine.View(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if want := workflow.RenderTracking(v, loc); got != nil && !bytes.Equal(got, want) {
				t.Errorf("%s is not what the store holds:\n--- file:\n%s\n--- store:\n%s", s.TrackingPath, got, want)
			}
			for _, l := range v.Log {
				for _, a := range l.Attachments {
					fi, err := os.Stat(filepath.Join(h.cfg.Escalation.Dir, filepath.FromSlash(a.RelPath)))
					if err != nil || fi.Size() != a.Size {
						t.Errorf("%s: attachment %s recorded with %d bytes, on disk: %v %v", s.Tag, a.RelPath, a.Size, fi, err)
					}
				}
			}
		}
	})
}

// distinctAcks checks that the SMTP server received n acknowledgements with
// n distinct Message-IDs.
func distinctAcks(t *testing.T, got []localmail.Received, n int) {
	t.Helper()
	got = acksOf(got)
	ids := map[string]bool{}
	for _, m := range got {
		ids[m.Header.Get("Message-Id")] = true
	}
	if len(got) != n || len(ids) != n {
		t.Errorf("%d mails received with %d distinct Message-IDs, want %d of each", len(got), len(ids), n)
	}
}

const syncErrorLog = "2026-11-28T09:14:03Z ERROR sync worker: deadlock detected on table orders\n2026-11-28T09:14:04Z ERROR sync worker: retry 1/3 failed\n"

// TestDiskFaultOnce: escalation.dir full or read-only while a message with an
// attachment and a plain one wait. `once` exits 1 naming the path and the
// cause, marks nothing and leaves nothing half-applied; once the fault
// clears, `once` applies each message once, marks both and acknowledges each
// once.
func TestDiskFaultOnce(t *testing.T) {
	msgs := demoMessages(t0)
	for _, fault := range diskFaults {
		for _, order := range []struct {
			name  string
			seeds []seed
		}{
			{"attachment first", []seed{msgs[4], msgs[0]}},
			{"plain first", []seed{msgs[0], msgs[4]}},
		} {
			t.Run(fault.name+"/"+order.name, func(t *testing.T) {
				testDiskFaultOnce(t, fault, order.seeds)
			})
		}
	}
}

func testDiskFaultOnce(t *testing.T, fault diskFault, seeds []seed) {
	h, disk, logs := newDiskHarness(t, nil)
	ctx := context.Background()
	fault.start(disk)
	h.seed(seeds)

	// Twice: a retry during the fault must not change anything either.
	for run := 1; run <= 2; run++ {
		if code := h.once(fixed(t0)); code != exitWork {
			t.Fatalf("once %d during the fault: exit %d, want 1", run, code)
		}
	}
	if seen, total := seenUIDs(t, h); len(seen) != 0 || total != 2 {
		t.Errorf("during the fault: %v of %d messages marked \\Seen, want none", seen, total)
	}
	errs := logs.lines("level=ERROR", h.cfg.Escalation.Dir, fault.errno)
	if len(errs) == 0 {
		t.Errorf("no error logged naming %s and %q; the log:\n%s", h.cfg.Escalation.Dir, fault.errno, logs)
	} else {
		t.Logf("logged: %s", errs[0])
	}
	var applied int
	withDaemon(t, h, fixed(t0), func(d *daemon) {
		counts, err := d.engine.MessageCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, err := d.engine.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("during the fault: messages %v, escalations %d", counts, len(list))
		applied = counts[workflow.Applied]
		// The cycle stops at the first message that fails: at most that
		// one is committed (when only its tracking file failed), never one
		// with a recorded attachment missing on disk.
		if applied > 1 || len(counts) > 1 || len(list) != applied {
			t.Errorf("during the fault: messages %v, %d escalations; want at most the first message committed", counts, len(list))
		}
		for _, s := range list {
			if s.Attachments > 0 {
				t.Errorf("%s committed with an attachment during the fault", s.Tag)
			}
		}
	})
	noLeftovers(t, h, disk.filler)
	sentDuring := len(acksOf(h.smtp.Received()))
	if sentDuring > applied {
		t.Errorf("%d mails sent during the fault for %d committed messages", sentDuring, applied)
	}

	fault.clear(disk)
	if code := h.once(fixed(t0)); code != exitOK {
		t.Fatalf("once after the fault cleared: exit %d, want 0\n%s", code, logs)
	}
	if code := h.once(fixed(t0)); code != exitOK {
		t.Fatalf("third once: exit %d", code)
	}
	if seen, total := seenUIDs(t, h); len(seen) != 2 || total != 2 {
		t.Errorf("after the fault: %v of %d messages marked \\Seen, want both", seen, total)
	}
	withDaemon(t, h, fixed(t0), func(d *daemon) {
		counts, err := d.engine.MessageCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		list, err := d.engine.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[workflow.Applied] != 2 || len(counts) != 1 {
			t.Errorf("after the fault: messages %v, want 2 applied", counts)
		}
		if len(list) != 2 {
			t.Fatalf("after the fault: %d escalations, want 2", len(list))
		}
		atts := 0
		for _, s := range list {
			if s.Messages != 1 || s.Sent != 2 {
				t.Errorf("%s: %d messages logged, %d mails sent; want 1 and 2 (ack, roster notification)", s.Tag, s.Messages, s.Sent)
			}
			atts += s.Attachments
			if s.Attachments == 1 {
				b, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, s.Tag, "sync-error.log"))
				if err != nil || string(b) != syncErrorLog {
					t.Errorf("%s attachment: %q, %v", s.Tag, b, err)
				}
			}
		}
		if atts != 1 {
			t.Errorf("%d attachments recorded, want 1", atts)
		}
	})
	checkTrackingCurrent(t, h, fixed(t0))
	distinctAcks(t, h.smtp.Received(), 2)
	noLeftovers(t, h, disk.filler)
}

// TestDiskFaultOnExistingEscalation: the disk fails after ESC-00001 exists and
// a reply to it arrives. The reply is not marked, the old tracking file stays
// whole; when the fault clears the reply is applied once and shows.
func TestDiskFaultOnExistingEscalation(t *testing.T) {
	for _, fault := range diskFaults {
		t.Run(fault.name, func(t *testing.T) {
			h, disk, logs := newDiskHarness(t, nil)
			ctx := context.Background()
			msgs := demoMessages(t0)
			h.seed(msgs[:1])
			if code := h.once(fixed(t0)); code != exitOK {
				t.Fatalf("first once: exit %d", code)
			}
			path := filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md")
			before := checkTrackingShape(t, path, "Escalation acknowledged")

			fault.start(disk)
			h.seed(msgs[1:2]) // the reply carrying [ESC-00001]
			if code := h.once(fixed(t0)); code != exitWork {
				t.Fatalf("once during the fault: exit %d, want 1", code)
			}
			if seen, _ := seenUIDs(t, h); !slices.Equal(seen, []uint32{1}) {
				t.Errorf("during the fault: UIDs %v marked \\Seen, want only 1", seen)
			}
			if now, err := os.ReadFile(path); err != nil || !bytes.Equal(now, before) {
				t.Errorf("the tracking file changed during the fault (%v):\n%s", err, now)
			}
			if len(logs.lines("level=ERROR", path, fault.errno)) == 0 {
				t.Errorf("no error logged naming %s and %q", path, fault.errno)
			}
			noLeftovers(t, h, disk.filler)

			fault.clear(disk)
			if code := h.once(fixed(t0)); code != exitOK {
				t.Fatalf("once after the fault cleared: exit %d", code)
			}
			if seen, _ := seenUIDs(t, h); !slices.Equal(seen, []uint32{1, 2}) {
				t.Errorf("after the fault: UIDs %v marked \\Seen, want 1 and 2", seen)
			}
			withDaemon(t, h, fixed(t0), func(d *daemon) {
				counts, _ := d.engine.MessageCounts(ctx)
				list, _ := d.engine.List(ctx)
				if counts[workflow.Applied] != 2 || len(counts) != 1 || len(list) != 1 || list[0].Messages != 2 {
					t.Errorf("after the fault: messages %v, escalations %+v; want 2 applied to ESC-00001", counts, list)
				}
			})
			checkTrackingShape(t, path, "the replica in eu-west-1b answers")
			checkTrackingCurrent(t, h, fixed(t0))
			distinctAcks(t, h.smtp.Received(), 1)
			noLeftovers(t, h, disk.filler)
		})
	}
}

// startRun runs the daemon until the test ends.
func startRun(t *testing.T, h *harness) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, h.cfg, time.Now, h.log) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("run did not stop within 10 s of cancel")
		}
	})
}

// TestDiskFaultRun: the daemon meets a full disk, retries with backoff (not in
// a tight loop), and handles and acknowledges the message once the disk has
// room again.
func TestDiskFaultRun(t *testing.T) {
	h, disk, logs := newDiskHarness(t, func(c *config.Config) { c.IMAP.ReconnectMax = 500 * time.Millisecond })
	disk.fill()
	startRun(t, h)
	if _, err := h.imap.Append("INBOX", demoMessages(time.Now())[0].raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	const errno = "no space left on device"
	retries := func() []string { return logs.lines("retry_in=", errno) }

	// The backoff is the point: each retry says how long it waits (retry_in,
	// capped at reconnect_max 500 ms, less up to 20%) and waits that long, so
	// the daemon never retries in a tight loop. Five retries in a row are
	// checked gap by gap (1 ms for the rounding of the log times), rather
	// than counted in a fixed time, which a busy machine slows down.
	eventually(t, patience, "five retries logged for the full disk", func() bool { return len(retries()) >= 5 })
	lines := retries()[:5]
	var prev time.Duration
	for i, l := range lines {
		wait, err := time.ParseDuration(logValue(l, "retry_in"))
		if err != nil {
			t.Fatalf("retry_in of %s: %v", l, err)
		}
		if wait < 400*time.Millisecond || wait > 600*time.Millisecond {
			t.Errorf("retry %d: retry_in %s, want reconnect_max 500 ms ±20%%", i+1, wait)
		}
		if i > 0 {
			if gap := logTime(t, l).Sub(logTime(t, lines[i-1])); gap < prev-time.Millisecond {
				t.Errorf("retry %d came %s after the one before, which said retry_in %s", i+1, gap, prev)
			}
		}
		prev = wait
	}
	t.Logf("%d retries logged; the last: %s", len(lines), lines[len(lines)-1])
	if seen, _ := seenUIDs(t, h); len(seen) != 0 {
		t.Errorf("UIDs %v marked \\Seen while the disk was full", seen)
	}

	// The message is committed and its acknowledgement queued even though
	// its tracking file cannot be written: the sender may deliver it now.
	t.Logf("%d acknowledgement(s) delivered while the disk was full", len(acksOf(h.smtp.Received())))

	disk.unfill()
	cleared := time.Now()
	wctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := waitAcks(wctx, h.smtp, 1); err != nil {
		t.Fatalf("no acknowledgement within %s of the disk clearing: %v", patience, err)
	}
	path := filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md")
	eventually(t, patience, "the message marked \\Seen and its tracking file complete", func() bool {
		seen, _ := seenUIDs(t, h)
		b, _ := os.ReadFile(path)
		return len(seen) == 1 && bytes.Contains(b, []byte("Escalation acknowledged")) && bytes.Contains(b, []byte("7. [x] Customer notified"))
	})
	t.Logf("handled, acknowledged and written %v after the disk cleared", time.Since(cleared).Round(time.Millisecond))
	checkTrackingShape(t, path, "Database outage in eu-west", "Escalation acknowledged")
	distinctAcks(t, h.smtp.Received(), 1)
	withDaemon(t, h, time.Now, func(d *daemon) {
		counts, _ := d.engine.MessageCounts(context.Background())
		if counts[workflow.Applied] != 1 || len(counts) != 1 {
			t.Errorf("messages %v, want 1 applied", counts)
		}
	})
	noLeftovers(t, h, disk.filler)
}

// TestDiskFaultRunAfterSend: the message is handled while the disk is fine,
// but its acknowledgement goes out (SMTP was down) only after the disk filled,
// so the tracking file cannot show it. The daemon keeps running; once the
// disk has room the file catches up without a restart or new mail.
func TestDiskFaultRunAfterSend(t *testing.T) {
	down := freeAddr(t)
	h, disk, logs := newDiskHarness(t, func(c *config.Config) {
		c.SMTP.Host, c.SMTP.Port, _ = splitHostPort(down)
		c.SMTP.RetryMin, c.SMTP.RetryMax = 100*time.Millisecond, 200*time.Millisecond
		c.IMAP.ReconnectMax = 500 * time.Millisecond
	})
	startRun(t, h)
	if _, err := h.imap.Append("INBOX", demoMessages(time.Now())[0].raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(h.cfg.Escalation.Dir, "ESC-00001-tracking.md")
	eventually(t, patience, "the message handled with SMTP down", func() bool {
		seen, _ := seenUIDs(t, h)
		_, err := os.Stat(path)
		return len(seen) == 1 && err == nil
	})
	before := checkTrackingShape(t, path)

	disk.fill()
	srv, err := localmail.StartSMTP(localmail.SMTPOptions{Addr: down})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	wctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if _, err := srv.Wait(wctx, 1); err != nil {
		t.Fatalf("no acknowledgement within %s of SMTP coming up: %v", patience, err)
	}
	eventually(t, patience, "the failed tracking-file write logged", func() bool {
		return len(logs.lines("level=ERROR", path, "no space left on device")) > 0
	})
	if b, _ := os.ReadFile(path); !bytes.Equal(b, before) {
		t.Errorf("the tracking file changed while the disk was full:\n%s", b)
	}

	disk.unfill()
	eventually(t, patience, "the tracking file shows the acknowledgement after the disk cleared", func() bool {
		b, _ := os.ReadFile(path)
		return bytes.Contains(b, []byte("Escalation acknowledged")) && bytes.Contains(b, []byte("7. [x] Customer notified"))
	})
	checkTrackingShape(t, path, "Escalation acknowledged")
	distinctAcks(t, srv.Received(), 1)
	noLeftovers(t, h, disk.filler)
}

// TestDiskFaultBetweenAttachments: the disk has room for a message's first
// attachment but not its second. Nothing is committed; the first file, which
// the store does not know, is replaced on the retry rather than kept beside a
// "(2)" copy, and no spool file is left.
func TestDiskFaultBetweenAttachments(t *testing.T) {
	h, disk, _ := newDiskHarness(t, nil)
	small := bytes.Repeat([]byte("small attachment\n"), 100)  // 1.7 KiB: one page
	large := bytes.Repeat([]byte("large attachment\n"), 4000) // 68 KiB
	part := func(name string, data []byte) string {
		return "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + name +
			"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + strings.ReplaceAll(wrap76(base64.StdEncoding.EncodeToString(data)), "\n", "\r\n") + "\r\n"
	}
	raw := "From: Jane Doe <jane@acme.test>\r\nTo: escalations@example.com\r\nSubject: Two logs\r\n" +
		"Date: " + t0.Add(-time.Minute).Format(time.RFC1123Z) + "\r\nMessage-ID: <two-logs@acme.test>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nBoth logs attached.\r\n" +
		part("a.log", small) + part("b.log", large) + "--b1--\r\n"
	if _, err := h.imap.Append("INBOX", []byte(raw), t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Full, then 16 KiB freed: room for a.log, not for b.log.
	disk.fill()
	fi, err := os.Stat(disk.filler)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk.filler, fi.Size()-16<<10); err != nil {
		t.Fatal(err)
	}
	if code := h.once(fixed(t0)); code != exitWork {
		t.Fatalf("once with room for one attachment: exit %d, want 1", code)
	}
	if seen, _ := seenUIDs(t, h); len(seen) != 0 {
		t.Errorf("UIDs %v marked \\Seen", seen)
	}
	withDaemon(t, h, fixed(t0), func(d *daemon) {
		if counts, _ := d.engine.MessageCounts(context.Background()); len(counts) != 0 {
			t.Errorf("messages %v committed, want none", counts)
		}
	})
	noLeftovers(t, h, disk.filler)

	disk.unfill()
	if code := h.once(fixed(t0)); code != exitOK {
		t.Fatalf("once after the fault: exit %d", code)
	}
	folder := filepath.Join(h.cfg.Escalation.Dir, "ESC-00001")
	entries, _ := os.ReadDir(folder)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"a.log", "b.log"}) {
		t.Errorf("%s holds %v, want [a.log b.log]", folder, names)
	}
	for name, want := range map[string][]byte{"a.log": small, "b.log": large} {
		if got, err := os.ReadFile(filepath.Join(folder, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
	checkTrackingCurrent(t, h, fixed(t0))
	distinctAcks(t, h.smtp.Received(), 1)
	noLeftovers(t, h, disk.filler)
}
