package localmail

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// waitTimeout bounds every wait in these tests; none sleeps. Each wait ends
// as soon as what it waits for happens, so this is only a safety net against
// a hang, long enough that a busy machine never reaches it.
const waitTimeout = 2 * time.Minute

func startIMAP(t *testing.T, opts IMAPOptions) *IMAPServer {
	t.Helper()
	if opts.Username == "" {
		opts.Username, opts.Password = "bot@example.com", "secret"
	}
	s, err := StartIMAPWith(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawMail(subject string) []byte {
	return []byte("From: Jane <jane@acme.test>\r\nTo: escalations@example.com\r\n" +
		"Subject: " + subject + "\r\nMessage-ID: <" + subject + "@acme.test>\r\n\r\nHello.\r\n")
}

func TestIMAPAppendWakesIdleSession(t *testing.T) {
	s := startIMAP(t, IMAPOptions{Mailboxes: []string{"Quarantine"}})

	counts := make(chan uint32, 16)
	c, err := s.DialWith(&imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					counts <- *data.NumMessages
				}
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Caps().Has(imap.CapIdle) {
		t.Fatalf("caps %v lack IDLE", c.Caps())
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Round after round, append right after the server said "+ idling":
	// the window in which imapserver's own IDLE loop lost updates.
	for round := uint32(1); round <= 20; round++ {
		idle, err := c.Idle()
		if err != nil {
			t.Fatal(err)
		}
		uid, err := s.Append("INBOX", rawMail(fmt.Sprint("m", round)), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if uid != round {
			t.Errorf("uid = %d, want %d", uid, round)
		}
		select {
		case n := <-counts:
			if n != round {
				t.Errorf("EXISTS %d, want %d", n, round)
			}
		case <-time.After(waitTimeout):
			t.Fatalf("round %d: the idling session heard nothing of the appended message", round)
		}
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIMAPMessages(t *testing.T) {
	s := startIMAP(t, IMAPOptions{Mailboxes: []string{"Processed"}})
	date := time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC)
	first, second := rawMail("one"), rawMail("two")
	if _, err := s.Append("inbox", first, date); err != nil { // INBOX is case-insensitive
		t.Fatal(err)
	}
	if _, err := s.Append("INBOX", second, date.Add(time.Hour), `\Seen`, `\Flagged`); err != nil {
		t.Fatal(err)
	}

	msgs, err := s.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 {
		t.Fatalf("got %d messages, want 2", len(msgs))
	}
	if msgs[0].UID != 1 || msgs[1].UID != 2 {
		t.Errorf("UIDs %d, %d; want 1, 2", msgs[0].UID, msgs[1].UID)
	}
	if !bytes.Equal(msgs[0].Raw, first) || !bytes.Equal(msgs[1].Raw, second) {
		t.Errorf("raw bytes differ:\n%q\n%q", msgs[0].Raw, msgs[1].Raw)
	}
	if !msgs[0].InternalDate.Equal(date) {
		t.Errorf("internal date %v, want %v", msgs[0].InternalDate, date)
	}
	if slices.Contains(msgs[0].Flags, `\Seen`) {
		t.Errorf("first message flags %v: Messages must not mark it seen", msgs[0].Flags)
	}
	if !slices.Contains(msgs[1].Flags, `\Seen`) || !slices.Contains(msgs[1].Flags, `\Flagged`) {
		t.Errorf("second message flags %v, want \\Seen and \\Flagged", msgs[1].Flags)
	}
	// Reading did not change anything.
	again, err := s.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again[0].Flags, msgs[0].Flags) {
		t.Errorf("flags changed by reading: %v then %v", msgs[0].Flags, again[0].Flags)
	}

	empty, err := s.Messages("Processed")
	if err != nil || len(empty) != 0 {
		t.Errorf("Processed: %v, %v; want empty", empty, err)
	}
	if _, err := s.Messages("Nope"); err == nil {
		t.Error("Messages of a missing mailbox: no error")
	}
	if _, err := s.Append("Nope", first, time.Time{}); err == nil {
		t.Error("Append to a missing mailbox: no error")
	}
}

func TestIMAPLogin(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	c, err := imapclient.DialInsecure(s.Addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("bot@example.com", "wrong").Wait(); err == nil {
		t.Error("login with a wrong password succeeded")
	}
	if err := c.Login("bot@example.com", "secret").Wait(); err != nil {
		t.Errorf("plain-text login refused: %v", err)
	}
}

func TestIMAPDefaultCaps(t *testing.T) {
	s := startIMAP(t, IMAPOptions{})
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIMAP4rev2, imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if !caps.Has(want) {
			t.Errorf("caps %v lack %s", caps, want)
		}
	}
	if err := s.CreateMailbox("Processed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append("INBOX", rawMail("m"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(1), "Processed").Wait(); err != nil {
		t.Fatalf("UID MOVE: %v", err)
	}
	moved, err := s.Messages("Processed")
	if err != nil || len(moved) != 1 {
		t.Fatalf("Processed holds %d messages (%v), want 1", len(moved), err)
	}
}

func TestIMAPLegacyServerRefusesWhatItDoesNotAdvertise(t *testing.T) {
	s := startIMAP(t, IMAPOptions{Caps: imap.CapSet{imap.CapIMAP4rev1: {}}, Mailboxes: []string{"Processed"}})
	// A body that looks like a capability line must pass untouched.
	body := []byte("Subject: x\r\n\r\n* CAPABILITY IMAP4rev1 IDLE\r\n[CAPABILITY IDLE]\r\n")
	if _, err := s.Append("INBOX", body, time.Time{}); err != nil {
		t.Fatal(err)
	}

	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps, err := c.Capability().Wait() // asked afresh, after login
	if err != nil {
		t.Fatal(err)
	}
	for _, absent := range []imap.Cap{imap.CapIMAP4rev2, imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if caps.Has(absent) {
			t.Errorf("caps %v advertise %s", caps, absent)
		}
	}
	if !caps.Has(imap.CapIMAP4rev1) {
		t.Errorf("caps %v lack IMAP4rev1", caps)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// imapserver answers "+ idling" before the session has a say: the
	// refusal comes when the client ends the IDLE.
	if idle, err := c.Idle(); err == nil {
		if err := idle.Close(); err != nil {
			t.Fatal(err)
		}
		if err := idle.Wait(); err == nil {
			t.Error("IDLE accepted")
		}
	}
	if err := c.UIDExpunge(imap.UIDSetNum(1)).Close(); err == nil {
		t.Error("UID EXPUNGE accepted")
	}
	if _, err := c.Copy(imap.UIDSetNum(1), "Processed").Wait(); err != nil {
		t.Errorf("UID COPY: %v", err)
	}

	msgs, err := s.Messages("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || !bytes.Equal(msgs[0].Raw, body) {
		t.Errorf("body altered on the wire: %+v", msgs)
	}
}

func TestIMAPLegacyServerWithMove(t *testing.T) {
	s := startIMAP(t, IMAPOptions{Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}}, Mailboxes: []string{"Processed"}})
	if _, err := s.Append("INBOX", rawMail("m"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	if !caps.Has(imap.CapMove) || caps.Has(imap.CapIdle) || caps.Has(imap.CapUIDPlus) {
		t.Errorf("caps %v: want MOVE without IDLE and UIDPLUS", caps)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.UIDSetNum(1), "Processed").Wait(); err != nil {
		t.Fatalf("UID MOVE: %v", err)
	}
	if left, err := s.Messages("INBOX"); err != nil || len(left) != 0 {
		t.Errorf("INBOX still holds %d messages (%v)", len(left), err)
	}
}

func TestIMAPLegacyServerWithoutMoveRefusesMove(t *testing.T) {
	s := startIMAP(t, IMAPOptions{Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapIdle: {}}, Mailboxes: []string{"Processed"}})
	if _, err := s.Append("INBOX", rawMail("m"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	if caps.Has(imap.CapMove) || !caps.Has(imap.CapIdle) || !caps.Has(imap.CapUIDPlus) {
		t.Errorf("caps %v: want IDLE and UIDPLUS without MOVE", caps)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.UIDExpunge(imap.UIDSetNum(7)).Close(); err != nil {
		t.Errorf("UID EXPUNGE with UIDPLUS: %v", err)
	}

	// By hand: imapclient's Move would fall back to COPY by itself.
	replies := rawIMAP(t, s.Addr, "a LOGIN bot@example.com secret", "b SELECT INBOX", "c UID MOVE 1 Processed")
	if reply := replies[len(replies)-1]; !strings.HasPrefix(reply, "c BAD") && !strings.HasPrefix(reply, "c NO") {
		t.Errorf("UID MOVE answered %q, want BAD or NO", reply)
	}
}

// rawIMAP sends each tagged command and returns the tagged reply to each.
func rawIMAP(t *testing.T, addr string, cmds ...string) []string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(waitTimeout))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil { // greeting
		t.Fatal(err)
	}
	var replies []string
	for _, cmd := range cmds {
		if _, err := fmt.Fprintf(conn, "%s\r\n", cmd); err != nil {
			t.Fatal(err)
		}
		tag := cmd[:strings.IndexByte(cmd, ' ')+1]
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if strings.HasPrefix(line, tag) {
				replies = append(replies, strings.TrimSpace(line))
				break
			}
		}
	}
	return replies
}

func TestIMAPCloseEndsSessions(t *testing.T) {
	s, err := StartIMAP("u", "p")
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Dial()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Closed():
	case <-time.After(waitTimeout):
		t.Fatal("client connection still open after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
