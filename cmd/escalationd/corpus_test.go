package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

// corpusCase is the expected outcome of one message of
// testdata/corpus/NN-name.eml, delivered in file order into one mailbox and
// handled by one `once` (README: threading, automatic mail, participants,
// delivery reports, quoted text, failure behaviour; SPEC §9, §10).
type corpusCase struct {
	file        string
	disposition workflow.Disposition
	esc         int  // escalation it went to; 0: none
	opens       bool // it opened esc
	ack         bool // an acknowledgement answers it
	automatic   bool // §10 automatic mail: logged at most, nothing answers it
	errorMail   bool // a command error mail answers it (staff)
	knownIssue  string
}

// corpusCases, in delivery order (UID = index + 1).
var corpusCases = []corpusCase{
	{file: "01-outlook-new.eml", disposition: workflow.Applied, esc: 1, opens: true, ack: true},
	{file: "02-gmail-new.eml", disposition: workflow.Applied, esc: 2, opens: true, ack: true},
	{file: "03-apple-mail-reply-tag.eml", disposition: workflow.Applied, esc: 1},
	{file: "04-thunderbird-new.eml", disposition: workflow.Applied, esc: 3, opens: true, ack: true},
	{file: "05-exchange-ooo.eml", disposition: workflow.Applied, esc: 1, automatic: true},
	{file: "06-gmail-vacation.eml", disposition: workflow.Applied, esc: 2, automatic: true},
	{file: "07-postfix-dsn-unknown.eml", disposition: workflow.Applied, automatic: true},
	{file: "08-exim-dsn.eml", disposition: workflow.Applied, automatic: true},
	{file: "09-mailman-list.eml", disposition: workflow.Applied, automatic: true},
	{file: "10-google-groups.eml", disposition: workflow.Applied, automatic: true},
	{file: "11-newsletter.eml", disposition: workflow.Applied, automatic: true},
	{file: "12-noreply-notification.eml", disposition: workflow.Applied, automatic: true},
	{file: "13-calendar-invite.eml", disposition: workflow.Applied, esc: 4, opens: true, ack: true},
	{file: "14-forwarded.eml", disposition: workflow.Applied, esc: 5, opens: true, ack: true},
	{file: "15-smime-signed.eml", disposition: workflow.Applied, esc: 1}, // a colleague at the customer's domain
	{file: "16-outlook-russian-cp1251.eml", disposition: workflow.Applied, esc: 6, opens: true, ack: true},
	{file: "17-koi8-r.eml", disposition: workflow.Applied, esc: 7, opens: true, ack: true},
	{file: "18-shift-jis.eml", disposition: workflow.Applied, esc: 8, opens: true, ack: true},
	{file: "19-iso-2022-jp.eml", disposition: workflow.Applied, esc: 9, opens: true, ack: true},
	{file: "20-gbk.eml", disposition: workflow.Applied, esc: 10, opens: true, ack: true},
	{file: "21-unknown-charset.eml", disposition: workflow.Applied, esc: 11, opens: true, ack: true},
	{file: "22-html-only.eml", disposition: workflow.Applied, esc: 12, opens: true, ack: true},
	{file: "23-attachment-traversal.eml", disposition: workflow.Applied, esc: 13, opens: true, ack: true},
	{file: "24-attachment-control-chars.eml", disposition: workflow.Applied, esc: 14, opens: true, ack: true},
	{file: "25-crlf-subject.eml", disposition: workflow.Applied, esc: 15, opens: true, ack: true},
	{file: "26-subject-markdown.eml", disposition: workflow.Applied, esc: 16, opens: true, ack: true},
	{file: "27-body-markdown.eml", disposition: workflow.Applied, esc: 17, opens: true, ack: true},
	{file: "28-hostile.eml", disposition: workflow.Applied, esc: 18, opens: true, ack: true},
	{file: "29-forged-tag-stranger.eml", disposition: workflow.Applied, esc: 19, opens: true, ack: true}, // not a participant of ESC-00001
	{file: "30-forged-auth-results-body.eml", disposition: workflow.Applied, esc: 1},                     // unauthenticated staff From: commands are text
	{file: "31-mailer-daemon-no-message-id.eml", disposition: workflow.Applied, automatic: true},
	{file: "32-duplicate-of-01.eml", disposition: workflow.Duplicate},
	{file: "33-no-message-id.eml", disposition: workflow.Applied, esc: 20, opens: true, ack: true},
	{file: "34-multipart-no-boundary.eml", disposition: workflow.Applied, esc: 21, opens: true, ack: true}, // shown as plain text, as clients do
	{file: "35-oversized.eml", disposition: workflow.Quarantined},
	{file: "36-reply-in-reply-to-only.eml", disposition: workflow.Applied, esc: 2},
	{file: "37-reply-references-only.eml", disposition: workflow.Applied, esc: 3},
	{file: "38-reply-plus-address.eml", disposition: workflow.Applied, esc: 4},
	{file: "39-staff-commands.eml", disposition: workflow.Applied, esc: 1},
	{file: "40-staff-commands-below-quote.eml", disposition: workflow.Applied, esc: 2},
	{file: "41-non-staff-resolve.eml", disposition: workflow.Applied, esc: 1},
	{file: "42-own-loop-header.eml", disposition: workflow.Applied, automatic: true}, // names ESC-00003, sender no participant
	{file: "43-german-autoreply-subject.eml", disposition: workflow.Applied, esc: 3, automatic: true},
	{file: "44-auto-submitted-no.eml", disposition: workflow.Applied, esc: 22, opens: true, ack: true},
	{file: "45-empty-return-path.eml", disposition: workflow.Applied, automatic: true},
	{file: "46-staff-unknown-command.eml", disposition: workflow.Applied, esc: 3, errorMail: true},
	{file: "47-outlook-aw-encoded-tag.eml", disposition: workflow.Applied, esc: 1},
	{file: "48-own-address-sender.eml", disposition: workflow.Applied, automatic: true},
	{file: "49-nonexistent-tag.eml", disposition: workflow.Applied, esc: 23, opens: true, ack: true}, // a tag naming no escalation counts as none
	{file: "50-staff-unaligned-dkim.eml", disposition: workflow.Applied, esc: 4},                     // staff From, dkim=pass for evil.test: commands are text
	// Mail that ordinary clients show fine, found by running other mail
	// libraries' test messages through the daemon. (Messages with a leading
	// mbox "From " line are tested in mailin: the in-process IMAP server
	// serves nothing for a message whose header it cannot parse.)
	{file: "51-multipart-no-parts.eml", disposition: workflow.Applied, esc: 24, opens: true, ack: true},
	{file: "52-no-from.eml", disposition: workflow.Quarantined}, // no sender address: a person looks at it
	{file: "53-reused-message-id-a.eml", disposition: workflow.Applied, esc: 25, opens: true, ack: true},
	{file: "54-reused-message-id-b.eml", disposition: workflow.Applied, esc: 26, opens: true, ack: true}, // same Message-ID, other content
	{file: "55-gmail-noreply.eml", disposition: workflow.Applied, automatic: true},
	{file: "56-address-comments.eml", disposition: workflow.Applied, esc: 27, opens: true, ack: true}, // ack to pete@silly.test
}

// corpusConfig: staff commands count only with dkim/dmarc=pass from
// mx.example.com (so a body-forged Authentication-Results is tested), and
// a 64 KiB size limit (so 35-oversized is over it and the 10 KB attachment
// of 23 is not).
func corpusConfig(c *config.Config) {
	c.Staff.RequireAuthenticated = true
	c.Staff.AuthservID = "mx.example.com"
	c.Limits.MaxMessageBytes = 64 << 10
}

var angleAddr = regexp.MustCompile(`<([^<>@\s]+@[^<>\s]+)>\s*$`)

type corpusMsg struct {
	raw       []byte
	header    mail.Header
	messageID string // without brackets; "" when it has none
	from      string
}

func readCorpus(t *testing.T) []corpusMsg {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.eml"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	var want []string
	for _, c := range corpusCases {
		want = append(want, c.file)
	}
	if !slices.Equal(names, want) {
		t.Fatalf("corpus files %q\ndo not match the table %q", names, want)
	}
	if len(files) < 40 {
		t.Fatalf("corpus has %d messages, want at least 40", len(files))
	}
	var out []corpusMsg
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// After an mbox envelope line ("From …", ">From …"), if any.
		body := raw
		if bytes.HasPrefix(body, []byte("From ")) || bytes.HasPrefix(body, []byte(">From ")) {
			body = body[bytes.IndexByte(body, '\n')+1:]
		}
		if !bytes.HasPrefix(body, []byte("X-Corpus-Shape: ")) {
			t.Fatalf("%s does not start with an X-Corpus-Shape: line", f)
		}
		m := corpusMsg{raw: raw}
		if msg, err := mail.ReadMessage(bytes.NewReader(body)); err == nil {
			m.header = msg.Header
			m.messageID = strings.Trim(strings.TrimSpace(msg.Header.Get("Message-Id")), "<>")
			// The address alone: display names in legacy charsets are
			// beyond net/mail's word decoder.
			from := msg.Header.Get("From")
			for c := addrComment.ReplaceAllString(from, ""); c != from; c = addrComment.ReplaceAllString(from, "") {
				from = c
			}
			if sub := angleAddr.FindStringSubmatch(from); sub != nil {
				m.from = strings.ToLower(sub[1])
			} else if f := strings.Fields(msg.Header.Get("From")); len(f) > 0 {
				m.from = strings.ToLower(f[0])
			}
		}
		out = append(out, m)
	}
	return out
}

// storedMessage is one row of the store's messages table.
type storedMessage struct {
	disposition string
	esc         int
	reason      string
}

func readMessages(t *testing.T, dataDir string) map[int]storedMessage {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "escalationd.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT uid, disposition, COALESCE(esc_id, 0), reason FROM messages WHERE mailbox = 'INBOX'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[int]storedMessage{}
	for rows.Next() {
		var uid int
		var m storedMessage
		if err := rows.Scan(&uid, &m.disposition, &m.esc, &m.reason); err != nil {
			t.Fatal(err)
		}
		out[uid] = m
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// answers are the mails the daemon sent in reply to the message with
// Message-ID mid (In-Reply-To), or, for a message without one, to its
// sender with no In-Reply-To.
// addrComment is a comment inside an address: pete(his account)@silly.test.
var addrComment = regexp.MustCompile(`\((?:[^()\\]|\\.)*\)`)

func answers(sent []localmail.Received, mid, from string) []localmail.Received {
	var out []localmail.Received
	for _, m := range sent {
		irt := strings.Trim(strings.TrimSpace(m.Header.Get("In-Reply-To")), "<>")
		// A Message-ID some senders reuse answers each of them apart.
		if mid != "" && irt == mid && (from == "" || !slices.ContainsFunc(m.To, func(s string) bool { return !strings.EqualFold(s, from) }) || !strings.HasPrefix(m.Header.Get("Auto-Submitted"), "auto-replied")) {
			out = append(out, m)
		}
		if mid == "" && irt == "" && slices.ContainsFunc(m.To, func(s string) bool { return strings.EqualFold(s, from) }) {
			out = append(out, m)
		}
	}
	return out
}

func TestCorpus(t *testing.T) {
	msgs := readCorpus(t)
	h := newHarness(t, corpusConfig)
	for i, m := range msgs {
		arrived := t0.Add(-time.Hour).Add(time.Duration(i) * time.Minute)
		if _, err := h.imap.Append("INBOX", m.raw, arrived); err != nil {
			t.Fatalf("append %s: %v", corpusCases[i].file, err)
		}
	}
	if code := h.once(fixed(t0)); code != exitOK {
		t.Errorf("once exit %d, want %d", code, exitOK)
	}
	stored := readMessages(t, h.cfg.Escalation.DataDir)
	sent := h.smtp.Received()
	d := h.inspect()
	ctx := context.Background()
	list, err := d.engine.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	opened := map[int]bool{}
	seenMID := map[string]string{}

	for i, c := range corpusCases {
		uid := i + 1
		m := msgs[i]
		var problems []string
		fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

		got, ok := stored[uid]
		switch {
		case !ok:
			fail("no row in messages for UID %d", uid)
		default:
			if got.disposition != string(c.disposition) {
				fail("disposition %s (%s), want %s", got.disposition, got.reason, c.disposition)
			}
			if got.esc != c.esc {
				fail("escalation %s (%s), want %s", escName(got.esc), got.reason, escName(c.esc))
			}
		}
		if c.opens {
			opened[c.esc] = true
		}
		ans := answers(sent, m.messageID, m.from)
		acks := acksOf(ans)
		if first, ok := seenMID[m.messageID]; ok && m.messageID != "" && c.disposition == workflow.Duplicate {
			// A copy: what answers its Message-ID answered the first
			// one; the totals below show that nothing more went out.
			t.Logf("%s: same Message-ID as %s", c.file, first)
			ans, acks = nil, nil
		} else if m.messageID != "" {
			seenMID[m.messageID] = c.file
		}
		switch {
		case c.ack && len(acks) != 1:
			fail("%d acknowledgements, want 1", len(acks))
		case !c.ack && len(acks) != 0:
			fail("%d acknowledgements, want none: %q", len(acks), sentTo(acks))
		}
		if c.automatic && len(ans) != 0 {
			fail("automatic mail answered: %q", sentTo(ans))
		}
		if c.automatic && c.esc == 0 && m.from != "" {
			// It belongs to no escalation: nothing at all goes to its sender.
			for _, s := range sent {
				if slices.ContainsFunc(s.To, func(to string) bool { return strings.EqualFold(to, m.from) }) {
					fail("mail sent to the automatic sender %s: %s %q", m.from, kindOf(s), subjectOf(s))
				}
			}
		}
		var errs int
		for _, a := range ans {
			if kindOf(a) == "error" {
				errs++
			}
		}
		if c.errorMail != (errs == 1) || errs > 1 {
			fail("%d command error mails, want errorMail=%v", errs, c.errorMail)
		}
		if c.ack && len(acks) == 1 {
			tag := escName(c.esc)
			a := acks[0]
			if !strings.HasSuffix(subjectOf(a), "["+tag+"]") || a.Header.Get("Reply-To") != "<escalations+"+tag+"@example.com>" {
				fail("acknowledgement subject %q, Reply-To %q: not for %s", subjectOf(a), a.Header.Get("Reply-To"), tag)
			}
			if len(a.To) != 1 || !strings.EqualFold(a.To[0], m.from) {
				fail("acknowledgement to %q, want only %s", a.To, m.from)
			}
		}
		report(t, c, problems)
	}

	// Totals follow from the table; with a known issue marked they are
	// only logged (the case itself says what differs).
	totalf := t.Errorf
	if slices.ContainsFunc(corpusCases, func(c corpusCase) bool { return c.knownIssue != "" }) {
		totalf = t.Logf
	}
	// Escalations: exactly those the table opens, in order, nothing more.
	if want := len(opened); len(list) != want {
		totalf("%d escalations in the store, want %d", len(list), want)
	}
	for n := 1; n <= len(list); n++ {
		if !opened[n] {
			totalf("%s exists but no corpus message should have opened it", escName(n))
		}
	}
	if n := len(acksOf(sent)); n != len(opened) {
		totalf("%d acknowledgements in all, want %d (one per new escalation): %q", n, len(opened), sentTo(acksOf(sent)))
	}
	counts, err := d.engine.MessageCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[workflow.Disposition]int{}
	for _, c := range corpusCases {
		want[c.disposition]++
	}
	for _, k := range []workflow.Disposition{workflow.Applied, workflow.Duplicate, workflow.Quarantined} {
		if counts[k] != want[k] {
			totalf("MessageCounts[%s] = %d, want %d", k, counts[k], want[k])
		}
	}
	if q, err := h.imap.Messages("Quarantine"); err != nil || len(q) != want[workflow.Quarantined] {
		totalf("Quarantine mailbox holds %d messages (%v), want %d", len(q), err, want[workflow.Quarantined])
	}

	corpusStates(t, list, h, sent)
	hostileTracking(t, h)
	// Every other tracking file the corpus made (hostile subjects, bodies,
	// names and file names among them) forges nothing either.
	for _, s := range list {
		data, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, s.Tag+"-tracking.md"))
		if err != nil {
			t.Fatal(err)
		}
		t.Run(s.Tag, func(t *testing.T) { checkNothingForged(t, string(data), s.Tag) })
	}
}

func escName(n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("ESC-%05d", n)
}

// report fails the case, or only logs it when the table marks a known
// daemon defect.
func report(t *testing.T, c corpusCase, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		if c.knownIssue != "" {
			t.Errorf("%s: marked knownIssue %q but behaves as expected now: remove the mark", c.file, c.knownIssue)
		}
		return
	}
	if c.knownIssue != "" {
		t.Logf("%s: KNOWN ISSUE (%s): %s", c.file, c.knownIssue, strings.Join(problems, "; "))
		return
	}
	t.Errorf("%s: %s", c.file, strings.Join(problems, "; "))
}

// corpusStates: what the steering messages did (§5, §6, §10).
func corpusStates(t *testing.T, list []workflow.Summary, h *harness, sent []localmail.Received) {
	t.Helper()
	byTag := map[string]workflow.Summary{}
	for _, s := range list {
		byTag[s.Tag] = s
	}
	// 30 (spoofed lead@, forged Authentication-Results in the body) and 41
	// (customer /resolve) change nothing; 39 (authenticated staff) applies
	// /ack, /assign and /action; the /resolve below its quote is text.
	if s := byTag["ESC-00001"]; s.Status != workflow.StatusActive || s.Owner != "@bob" {
		t.Errorf("ESC-00001: status %s, owner %q; want ACTIVE, @bob", s.Status, s.Owner)
	}
	// 40: a staff reply whose only /resolve is below the quote: ACTIVE.
	if s := byTag["ESC-00002"]; s.Status != workflow.StatusActive {
		t.Errorf("ESC-00002: status %s, want ACTIVE (the /resolve below the quote is text)", s.Status)
	}
	// 46: one failed command, one applied: ACTIVE.
	if s := byTag["ESC-00003"]; s.Status != workflow.StatusActive {
		t.Errorf("ESC-00003: status %s, want ACTIVE", s.Status)
	}
	// 50: an unaligned dkim=pass does not make tier3@example.com staff.
	if s := byTag["ESC-00004"]; s.Status != workflow.StatusEscalated {
		t.Errorf("ESC-00004: status %s, want ESCALATED (the /resolve of an unauthenticated staff From is text)", s.Status)
	}
	read := func(n int) string {
		data, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, fmt.Sprintf("ESC-%05d-tracking.md", n)))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	esc1 := read(1)
	if strings.Contains(esc1, "@mallory") && strings.Contains(esc1, "**Owner**: @mallory") {
		t.Error("ESC-00001: the spoofed staff mail assigned @mallory")
	}
	if !strings.Contains(esc1, "1. [ ] Fail over to the replica - @bob") {
		t.Errorf("ESC-00001 lacks the staff action:\n%s", esc1)
	}
	if esc19 := read(19); !strings.Contains(esc19, "ESC-00001") {
		t.Errorf("ESC-00019 (forged tag) does not note the escalation it named:\n%s", esc19)
	}
	// 25: the CR/LF injected into the subject forges no header and no
	// recipient in the acknowledgement.
	for _, a := range acksOf(sent) {
		if len(a.To) != 1 || a.Header.Get("Bcc") != "" || a.Header.Get("X-Injected") != "" {
			t.Errorf("acknowledgement to %q with Bcc %q, X-Injected %q", a.To, a.Header.Get("Bcc"), a.Header.Get("X-Injected"))
		}
		if slices.ContainsFunc(a.To, func(s string) bool {
			return strings.Contains(s, "evil") && !strings.HasPrefix(s, "hostile@") && !strings.HasPrefix(s, "eve@")
		}) {
			t.Errorf("acknowledgement to an injected recipient: %q", a.To)
		}
	}
	// 23, 24, 28: attachments stay inside their escalation's folder with safe names.
	root := filepath.Dir(h.cfg.Escalation.Dir) // the test's temporary folder
	err := filepath.WalkDir(root, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if (e.Name() == "passwd" && filepath.Dir(rel) != filepath.Join("escalations", "ESC-00013")) || e.Name() == "etc" {
			t.Errorf("a file escaped its folder: %s", rel)
		}
		if strings.ContainsFunc(e.Name(), func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			t.Errorf("a control character in a saved file name: %q", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{13, 14, 18} {
		files, err := os.ReadDir(filepath.Join(h.cfg.Escalation.Dir, fmt.Sprintf("ESC-%05d", n)))
		if err != nil || len(files) == 0 {
			t.Errorf("ESC-%05d: no attachment saved (%v)", n, err)
		}
		for _, f := range files {
			if strings.HasPrefix(f.Name(), ".") || strings.ContainsAny(f.Name(), "/\\") {
				t.Errorf("ESC-%05d: unsafe attachment name %q", n, f.Name())
			}
		}
	}
}

// The renderer's own headings (§9).
var ownHeading = regexp.MustCompile(`^(# Escalation Tracking: |## (Classification|Timeline|Handoff Checklist|Actions & Owners|Communication Log|Resolution Plan)$|### \d{4}-\d{2}-\d{2}$|### \d{4}-\d{2}-\d{2} \d{2}:\d{2} [A-Z]+ — (received from|sent to) )`)

// hostileTracking: the tracking file of 28-hostile.eml (ESC-00018) is the
// golden testdata/hostile-tracking.md.golden, and nothing in it is forged.
func hostileTracking(t *testing.T, h *harness) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(h.cfg.Escalation.Dir, "ESC-00018-tracking.md"))
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "hostile-tracking.md", data)
	checkNothingForged(t, string(data), "ESC-00018")
}

func checkNothingForged(t *testing.T, text, tag string) {
	t.Helper()
	for _, p := range forgeries(text, tag) {
		t.Error(p)
	}
}

// forgeries lists what in a tracking file could act as markup that the
// renderer did not write: headings other than its own, links other than its
// attachment links into tag's folder, HTML, images, ticked list items, and
// body lines of the Communication Log that are not blockquoted.
func forgeries(text, tag string) []string {
	var out []string
	errorf := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	// Unescaped: not preceded by a backslash.
	unescaped := func(line, s string) bool {
		for i := 0; ; {
			j := strings.Index(line[i:], s)
			if j < 0 {
				return false
			}
			j += i
			if j == 0 || line[j-1] != '\\' {
				return true
			}
			i = j + 1
		}
	}
	section := ""
	inBody := false
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			if !ownHeading.MatchString(line) {
				errorf("line %d: a heading the renderer did not write: %q", n, line)
			}
			if strings.HasPrefix(line, "## ") {
				section = strings.TrimPrefix(line, "## ")
			}
			inBody = false
		}
		// "](" only as the renderer's own attachment links into the
		// escalation's folder.
		for rest := line; ; {
			j := strings.Index(rest, "](")
			if j < 0 {
				break
			}
			if j == 0 || rest[j-1] != '\\' {
				if !strings.HasPrefix(rest[j+2:], tag+"/") {
					errorf("line %d: a link not written by the renderer: %q", n, line)
				}
			}
			rest = rest[j+2:]
		}
		for _, bad := range []string{"<script", "<img", "<b>", "![", "- [x]"} {
			if unescaped(line, bad) {
				errorf("line %d: unescaped %q: %q", n, bad, line)
			}
		}
		if section == "Communication Log" {
			switch {
			case strings.HasPrefix(line, "### "):
				inBody = false
			case strings.HasPrefix(line, "**Subject**: "), strings.HasPrefix(line, "_"):
			case line == "" && !inBody:
				inBody = true // the body follows the blank line after the header lines
			case line == "":
				inBody = false
			case strings.HasPrefix(line, "**Attachments**: "):
				inBody = false
			case inBody && !strings.HasPrefix(line, ">"):
				errorf("line %d: a body line that is not a blockquote: %q", n, line)
			}
		}
	}
	return out
}

// TestForgeriesDetector: the checker of hostileTracking does see forged
// markup (it would pass vacuously otherwise).
func TestForgeriesDetector(t *testing.T) {
	clean := "# Escalation Tracking: Acme — \\# x \\[a\\](b) &lt;script&gt;\n\n## Communication Log\n" +
		"### 2026-11-28 13:05 UTC — received from a@b.test\n**Subject**: s\n\n> \\- \\[x\\] !\\[i\\](u)\n>\n> ok\n\n" +
		"**Attachments**: [r.txt](ESC-00001/r.txt) (1 B)\n"
	if p := forgeries(clean, "ESC-00001"); len(p) != 0 {
		t.Errorf("clean text reported: %q", p)
	}
	for _, bad := range []string{
		"# Forged heading",
		"## Timeline forged",
		"[click](http://x)",
		"![i](http://x/i.png)",
		"<script>alert(1)</script>",
		"- [x] Customer notified",
		"> fine\nnot quoted",
		"**Attachments**: [r](../../etc/passwd)",
	} {
		text := clean + "\n### 2026-11-28 13:06 UTC — received from a@b.test\n**Subject**: s\n\n" + bad + "\n"
		if p := forgeries(text, "ESC-00001"); len(p) == 0 {
			t.Errorf("forgery %q not detected", bad)
		}
	}
}
