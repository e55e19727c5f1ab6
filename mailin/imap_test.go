package mailin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

func newPoller(t *testing.T, caps imap.CapSet, processed string) (*Poller, *workflow.Engine, *localmail.IMAPServer) {
	t.Helper()
	return newPollerLog(t, caps, processed, slog.Default())
}

// newPollerLog is newPoller with the poller and its engine logging to log.
func newPollerLog(t *testing.T, caps imap.CapSet, processed string, log *slog.Logger) (*Poller, *workflow.Engine, *localmail.IMAPServer) {
	t.Helper()
	srv, err := localmail.StartIMAPWith(localmail.IMAPOptions{Username: "esc@example.com", Password: "pw", Caps: caps})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg, eng := childEngine(t, filepath.Join(t.TempDir(), "escalations"), t.TempDir(), log)
	p := New(Options{
		Host: "127.0.0.1", Port: srv.Port, TLS: "none", Username: "esc@example.com", Password: "pw",
		ProcessedMailbox: processed, DataDir: cfg.Escalation.DataDir, PollInterval: time.Second,
	}, eng.Store(), eng, log)
	return p, eng, srv
}

func rawMessage(n int) []byte {
	return fmt.Appendf(nil, "From: Customer %d <c%d@acme.test>\r\nTo: escalations@example.com\r\nSubject: Problem %d\r\nMessage-ID: <m%d@acme.test>\r\n\r\nIt broke.\r\n", n, n, n, n)
}

func flags(t *testing.T, srv *localmail.IMAPServer, mbox string) map[uint32][]string {
	t.Helper()
	msgs, err := srv.Messages(mbox)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32][]string{}
	for _, m := range msgs {
		out[m.UID] = m.Flags
	}
	return out
}

// A message committed before a crash, but not marked on the server, is
// marked by the next start and not applied again.
func TestCommittedButUnmarkedIsFinished(t *testing.T) {
	p, eng, srv := newPoller(t, nil, "")
	uid, err := srv.Append("INBOX", rawMessage(1), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Apply it as the engine would have before the crash.
	c, uidValidity, err := p.connect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Store().ResetCheckpoint(context.Background(), "INBOX", uidValidity); err != nil {
		t.Fatal(err)
	}
	c.Close()
	path := filepath.Join(t.TempDir(), "m.eml")
	os.WriteFile(path, rawMessage(1), 0o644)
	f, _ := os.Open(path)
	in, err := Parse(f, ParseOptions{SpoolDir: t.TempDir()})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	in.Mailbox, in.UIDValidity, in.UID, in.InternalDate = "INBOX", uidValidity, uid, time.Now()
	if _, err := eng.Ingest(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if fl := flags(t, srv, "INBOX")[uid]; slices.Contains(fl, `\Seen`) {
		t.Fatal("marked before the poller ran")
	}

	st, err := once(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched != 0 {
		t.Errorf("fetched %d: the checkpoint should have passed the committed message", st.Fetched)
	}
	if fl := flags(t, srv, "INBOX")[uid]; !slices.Contains(fl, `\Seen`) {
		t.Errorf("committed message not marked after restart: %v", fl)
	}
	if list, _ := eng.List(context.Background()); len(list) != 1 {
		t.Errorf("%d escalations, want 1", len(list))
	}
}

func TestMarkingFallbacks(t *testing.T) {
	for _, tc := range []struct {
		name         string
		caps         imap.CapSet
		inbox, moved int
		seenInInbox  bool
	}{
		{"MOVE", nil, 0, 2, false},
		{"UIDPLUS without MOVE", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, 0, 2, false},
		{"neither: flag \\Seen in place", imap.CapSet{imap.CapIMAP4rev1: {}}, 2, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, srv := newPoller(t, tc.caps, "Processed")
			for i := 1; i <= 2; i++ {
				if _, err := srv.Append("INBOX", rawMessage(i), time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := once(p); err != nil {
				t.Fatal(err)
			}
			inbox := flags(t, srv, "INBOX")
			if len(inbox) != tc.inbox || len(flags(t, srv, "Processed")) != tc.moved {
				t.Errorf("INBOX has %d, Processed %d; want %d, %d", len(inbox), len(flags(t, srv, "Processed")), tc.inbox, tc.moved)
			}
			for uid, fl := range inbox {
				if tc.seenInInbox && !slices.Contains(fl, `\Seen`) {
					t.Errorf("UID %d left unflagged: %v", uid, fl)
				}
			}

			// Another client's message flagged \Deleted but not expunged
			// must survive our marking: never a bare EXPUNGE.
			other, _ := srv.Append("INBOX", rawMessage(98), time.Now(), `\Deleted`)
			mine, _ := srv.Append("INBOX", rawMessage(99), time.Now())
			c, _, err := p.connect(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := p.mark(c, []uint32{mine}, "Processed"); err != nil {
				t.Fatal(err)
			}
			if _, ok := flags(t, srv, "INBOX")[other]; !ok {
				t.Fatal("another client's \\Deleted message was expunged")
			}
		})
	}
}

func TestBadLoginIsErrAuth(t *testing.T) {
	p, _, _ := newPoller(t, nil, "")
	p.opts.Password = "wrong"
	_, err := once(p)
	if err == nil || !errorsIs(err, ErrAuth) {
		t.Fatalf("Once with a bad password: %v, want ErrAuth", err)
	}
}

func TestQuarantineUnparseable(t *testing.T) {
	p, eng, srv := newPoller(t, nil, "")
	// No header at all: nothing a client could show as mail.
	bad := []byte("\x00\x01\x02 binary junk, no header\r\n\r\nno parts\r\n")
	srv.Append("INBOX", bad, time.Now())
	srv.Append("INBOX", rawMessage(1), time.Now())
	st, err := once(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != 1 || st.Quarantined != 1 {
		t.Errorf("stats %+v: want 1 applied, 1 quarantined", st)
	}
	counts, _ := eng.MessageCounts(context.Background())
	if counts[workflow.Applied] != 1 || counts[workflow.Quarantined] != 1 {
		t.Errorf("dispositions %v", counts)
	}
	if len(flags(t, srv, "Quarantine")) != 1 || len(flags(t, srv, "INBOX")) != 1 {
		t.Error("the malformed message was not moved to Quarantine")
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestTLSModes(t *testing.T) {
	serverTLS, roots, err := localmail.SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"implicit", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			srv, err := localmail.StartIMAPWith(localmail.IMAPOptions{Username: "esc@example.com", Password: "pw",
				TLSConfig: serverTLS, ImplicitTLS: mode == "implicit"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			p, _, _ := newPoller(t, nil, "")
			p.opts.Port, p.opts.TLS = srv.Port, mode
			p.opts.TLSConfig = &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}
			srv.Append("INBOX", rawMessage(1), time.Now())
			st, err := once(p)
			if err != nil || st.Applied != 1 {
				t.Fatalf("Once over %s: %+v, %v", mode, st, err)
			}
			// Without the test root the certificate must be refused.
			p.opts.TLSConfig = &tls.Config{ServerName: "127.0.0.1"}
			if _, err := once(p); err == nil {
				t.Fatal("an untrusted certificate was accepted")
			}
		})
	}
}

// withAttachment is message n carrying a small attachment, so that a parsed
// but unapplied message leaves a spool file behind unless it is removed.
func withAttachment(n int) []byte {
	return fmt.Appendf(nil, "From: Customer %d <c%d@acme.test>\r\nTo: escalations@example.com\r\nSubject: Problem %d\r\nMessage-ID: <m%d@acme.test>\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nIt broke.\r\n"+
		"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=log%d.txt\r\n\r\nlog line\r\n--b--\r\n", n, n, n, n, n)
}

// TestPipelineStopsAtAFailedBatch: batches are prepared while the one before
// is applied. When applying fails at a message, the messages before it are
// committed and marked, the ones after it (also a batch already fetched and
// parsed behind it) are neither applied nor marked, nothing is left in the
// spool, and the next run applies them once.
func TestPipelineStopsAtAFailedBatch(t *testing.T) {
	p, eng, srv := newPoller(t, nil, "")
	p.opts.BatchSize = 2
	for n := 1; n <= 7; n++ {
		srv.Append("INBOX", withAttachment(n), time.Now())
	}
	failAt := uint32(5)
	p.core = failingCore{Core: eng, fails: func(uid uint32) bool { return uid == failAt }}
	st, err := once(p)
	if err == nil {
		t.Fatal("Once: no error for the failed message")
	}
	if st.Applied != 4 {
		t.Errorf("first run applied %d, want 4 (UIDs 1-4)", st.Applied)
	}
	seen := func() []uint32 {
		var out []uint32
		for uid, fl := range flags(t, srv, "INBOX") {
			if slices.Contains(fl, `\Seen`) {
				out = append(out, uid)
			}
		}
		slices.Sort(out)
		return out
	}
	if got := seen(); !slices.Equal(got, []uint32{1, 2, 3, 4}) {
		t.Errorf("marked after the failure: %v, want [1 2 3 4]", got)
	}
	spool, _ := filepath.Glob(filepath.Join(p.opts.DataDir, "spool", "*"))
	if len(spool) != 0 {
		t.Errorf("left in the spool: %v", spool)
	}

	failAt = 0
	st, err = once(p)
	if err != nil || st.Applied != 3 {
		t.Fatalf("second run: %+v, %v; want 3 applied", st, err)
	}
	if got := seen(); len(got) != 7 {
		t.Errorf("marked after the second run: %v, want all 7", got)
	}
	counts, _ := eng.MessageCounts(context.Background())
	if counts[workflow.Applied] != 7 || counts[workflow.Duplicate] != 0 {
		t.Errorf("dispositions %v: want 7 applied once", counts)
	}
	for n := int64(1); n <= 7; n++ {
		if _, err := os.Stat(eng.TrackingPath(n)); err != nil {
			t.Errorf("tracking file of escalation %d: %v", n, err)
		}
	}
}

// once is `escalationd once` without the outbox: connect, fetch and apply
// everything, settle, log out.
func once(p *Poller) (Stats, error) {
	ctx := context.Background()
	sess, err := p.Connect(ctx)
	if err != nil {
		return Stats{}, err
	}
	defer sess.Close()
	st, err := sess.FetchAll(ctx)
	if serr := sess.Settle(ctx); serr != nil {
		return st, errors.Join(err, serr)
	}
	if err == nil {
		err = sess.Logout()
	}
	return st, err
}

// failingCore is a core whose store fails at the first message fails
// picks: the messages of the batch before it are applied, it and the ones
// after it are not, as when the disk fails.
type failingCore struct {
	Core
	fails func(uid uint32) bool
}

func (c failingCore) ApplyFetched(ctx context.Context, batch []workflow.Fetched, st *workflow.IntakeStats) error {
	for i, f := range batch {
		if c.fails(f.Ref.UID) {
			err := c.Core.ApplyFetched(ctx, batch[:i], st)
			for _, f := range batch[i:] {
				if f.In != nil {
					f.In.RemoveSpool()
				}
			}
			return errors.Join(err, errors.New("store: disk I/O error (test)"))
		}
	}
	return c.Core.ApplyFetched(ctx, batch, st)
}
