package e2e

// The crash test's backlog: the messages it appends to the escalation
// mailbox, and what it reads back from the mailboxes.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

const (
	crashRequests = 350 // new escalation requests in the backlog
	crashReplies  = 150 // customer replies to them, half by tag, half by In-Reply-To

	// A refill, when what is left of the backlog cannot bring the next
	// kill's trigger.
	crashRefillRequests = 60
	crashRefillReplies  = 20

	crashMinMidBatch = 5  // kills that must land in the middle of a batch
	crashMaxKills    = 20 // planned kills, with those added to reach crashMinMidBatch
	crashMaxRetries  = 6  // runs that finished the backlog before their trigger
	crashSeed1       = 20260311
	crashSeed2       = 42
)

// crashMsg is one message of the backlog.
type crashMsg struct {
	req   int  // the request this is (reply == 0) or answers; also its escalation number
	reply int  // 0 for a request, else 1..crashReplies
	byTag bool // a reply found by its subject tag, else by In-Reply-To
	mid   string
	raw   []byte
}

func crashReqMID(token string, i int) string {
	return fmt.Sprintf("crash-req-%03d.%s@acme.test", i, token)
}

func crashSender(i int) string { return fmt.Sprintf("jane+r%03d@acme.test", i) }

// crashBacklog builds nReq requests numbered from first on, in order, then
// inserts nRep replies to them, each at a random place after the request it
// answers; reply numbers start at firstRep. Every message has its own
// Message-ID; each request its own plus-addressed sender. The daemon numbers
// escalations in arrival order, so request i opens ESC-i as long as chunks
// are appended in order.
func crashBacklog(rng *rand.Rand, token string, first, nReq, firstRep, nRep int) []crashMsg {
	seq := make([]crashMsg, 0, nReq+nRep)
	for i := first; i < first+nReq; i++ {
		seq = append(seq, crashMsg{req: i, mid: crashReqMID(token, i)})
	}
	for r := firstRep; r < firstRep+nRep; r++ {
		j := first + rng.IntN(nReq)
		pos := slices.IndexFunc(seq, func(m crashMsg) bool { return m.reply == 0 && m.req == j })
		at := pos + 1 + rng.IntN(len(seq)-pos)
		seq = slices.Insert(seq, at, crashMsg{req: j, reply: r, byTag: r%2 == 0, mid: fmt.Sprintf("crash-rep-%03d.%s@acme.test", r, token)})
	}
	date := time.Now().Format(time.RFC1123Z)
	for k := range seq {
		m := &seq[k]
		var b strings.Builder
		fmt.Fprintf(&b, "From: Jane Doe <%s>\r\n", crashSender(m.req))
		fmt.Fprintf(&b, "To: Escalations <%s>\r\n", stack.Escalations)
		switch {
		case m.reply == 0:
			fmt.Fprintf(&b, "Subject: Crash test request %03d (%s)\r\n", m.req, token)
		case m.byTag:
			fmt.Fprintf(&b, "Subject: Re: Crash test request %03d (%s) [ESC-%05d]\r\n", m.req, token, m.req)
		default:
			fmt.Fprintf(&b, "Subject: Re: Crash test request %03d (%s)\r\n", m.req, token)
			fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", crashReqMID(token, m.req), crashReqMID(token, m.req))
		}
		fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", date, m.mid)
		if m.reply == 0 {
			fmt.Fprintf(&b, "Hello,\r\n\r\nservice %03d has returned errors since this morning.\r\nCould you look into it?\r\n\r\nJane\r\n", m.req)
		} else {
			fmt.Fprintf(&b, "Hello,\r\n\r\nany news on service %03d? (follow-up %03d)\r\n\r\nJane\r\n", m.req, m.reply)
		}
		m.raw = []byte(b.String())
	}
	return seq
}

// crashAppend APPENDs msgs to the escalation mailbox's INBOX, in order.
func crashAppend(addr string, msgs []crashMsg) error {
	c, err := stack.Login(addr, stack.Escalations, stack.EscalationsPass)
	if err != nil {
		return err
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()
	for _, m := range msgs {
		cmd := c.Append("INBOX", int64(len(m.raw)), nil)
		if _, err := cmd.Write(m.raw); err != nil {
			cmd.Close()
			return fmt.Errorf("imap APPEND %s: %w", m.mid, err)
		}
		if err := cmd.Close(); err != nil {
			return fmt.Errorf("imap APPEND %s: %w", m.mid, err)
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("imap APPEND %s: %w", m.mid, err)
		}
	}
	return nil
}

// crashStatus returns the number of messages and unseen messages of mailbox;
// exists is false when there is no such mailbox.
func crashStatus(addr, user, pass, mailbox string) (total, unseen int, exists bool, err error) {
	c, err := stack.Login(addr, user, pass)
	if err != nil {
		return 0, 0, false, err
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()
	list, err := c.List("", mailbox, nil).Collect()
	if err != nil {
		return 0, 0, false, fmt.Errorf("imap LIST %s: %w", mailbox, err)
	}
	if len(list) == 0 {
		return 0, 0, false, nil
	}
	st, err := c.Status(mailbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
	if err != nil {
		return 0, 0, true, fmt.Errorf("imap STATUS %s: %w", mailbox, err)
	}
	return int(*st.NumMessages), int(*st.NumUnseen), true, nil
}

// crashSeenCount counts the messages of mailbox flagged \Seen, by FETCH FLAGS.
func crashSeenCount(addr, user, pass, mailbox string) (total, seen int, err error) {
	c, err := stack.Login(addr, user, pass)
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, 0, fmt.Errorf("imap EXAMINE %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return 0, 0, nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(all, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		return 0, 0, fmt.Errorf("imap FETCH FLAGS %s: %w", mailbox, err)
	}
	for _, m := range msgs {
		if slices.Contains(m.Flags, imap.FlagSeen) {
			seen++
		}
	}
	return len(msgs), seen, nil
}

var crashTagRE = regexp.MustCompile(`\[ESC-(\d{5})\]`)

// crashMail is one delivered mail, as a recipient sees it.
type crashMail struct {
	tag, mid, inReplyTo, subject string
}

// crashMailbox reads every mail in user's INBOX.
func crashMailbox(t *testing.T, addr, user, pass string) []crashMail {
	t.Helper()
	raws, err := stack.FetchAll(addr, user, pass, "INBOX")
	if err != nil {
		t.Fatalf("read %s: %v", user, err)
	}
	var dec mime.WordDecoder
	var out []crashMail
	for _, raw := range raws {
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("unreadable mail in %s: %v", user, err)
			continue
		}
		subj, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			subj = m.Header.Get("Subject")
		}
		cm := crashMail{subject: subj,
			mid:       strings.Trim(strings.TrimSpace(m.Header.Get("Message-ID")), "<>"),
			inReplyTo: strings.Trim(strings.TrimSpace(m.Header.Get("In-Reply-To")), "<>")}
		if s := crashTagRE.FindStringSubmatch(subj); s != nil {
			cm.tag = "ESC-" + s[1]
		}
		out = append(out, cm)
	}
	return out
}

// crashGroup groups mails by tag into distinct Message-IDs and copies.
// It returns, per tag, the distinct Message-IDs, and the number of extra
// copies of one Message-ID.
func crashGroup(mails []crashMail) (byTag map[string]map[string]int, copies int) {
	byTag = map[string]map[string]int{}
	for _, m := range mails {
		if byTag[m.tag] == nil {
			byTag[m.tag] = map[string]int{}
		}
		byTag[m.tag][m.mid]++
		if byTag[m.tag][m.mid] > 1 {
			copies++
		}
	}
	return byTag, copies
}

// crashDistinctTags counts the escalations that user's INBOX holds mail for.
func crashDistinctTags(t *testing.T, addr, user, pass string) int {
	t.Helper()
	by, _ := crashGroup(crashMailbox(t, addr, user, pass))
	delete(by, "")
	return len(by)
}
