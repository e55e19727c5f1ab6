package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

// Scenarios of the workflow engine through the in-process IMAP and SMTP
// servers: each cycle is one `escalationd once` (a new process on the same
// data_dir) at a time the test chooses. Nothing sleeps.

// scene is a harness with a clock and a cursor into the SMTP sink.
type scene struct {
	*harness
	seen int // sink messages already returned by cycle
	seq  int
}

func newScene(t *testing.T, edit func(*config.Config)) *scene {
	t.Helper()
	return &scene{harness: newHarness(t, edit)}
}

// letter is a message put into the mailbox.
type letter struct {
	from      string // "Jane Doe <jane@acme.test>"
	subject   string
	body      string
	inReplyTo string            // Message-ID without brackets
	attach    map[string]string // file name → content
	arrived   time.Time
	// unsigned: mail from the staff domain without the Authentication-Results
	// the receiving server writes for a DKIM-signed message (a forgery).
	unsigned bool
}

// deliver appends l to INBOX and returns its Message-ID.
func (s *scene) deliver(l letter) string {
	s.t.Helper()
	s.seq++
	addr, err := mail.ParseAddress(l.from)
	if err != nil {
		s.t.Fatal(err)
	}
	mid := fmt.Sprintf("scene-%d@%s", s.seq, addr.Address[strings.LastIndexByte(addr.Address, '@')+1:])
	var b strings.Builder
	if strings.HasSuffix(strings.ToLower(addr.Address), "@example.com") && !l.unsigned {
		// What mx.example.com, the config's staff.authserv_id, adds to
		// staff mail it received DKIM-signed (§11).
		b.WriteString("Authentication-Results: mx.example.com; dkim=pass header.d=example.com header.s=s1; dmarc=pass header.from=example.com\n")
	}
	fmt.Fprintf(&b, "From: %s\nTo: Escalations <escalations@example.com>\nSubject: %s\nDate: %s\nMessage-ID: <%s>\n",
		l.from, l.subject, l.arrived.Format(time.RFC1123Z), mid)
	if l.inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\nReferences: <%s>\n", l.inReplyTo, l.inReplyTo)
	}
	b.WriteString("MIME-Version: 1.0\n")
	if len(l.attach) == 0 {
		fmt.Fprintf(&b, "Content-Type: text/plain; charset=utf-8\n\n%s\n", l.body)
	} else {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n%s\n", l.body)
		for _, name := range slices.Sorted(maps.Keys(l.attach)) {
			fmt.Fprintf(&b, "--b1\nContent-Type: text/plain; name=%q\nContent-Disposition: attachment; filename=%q\nContent-Transfer-Encoding: base64\n\n%s\n",
				name, name, wrap76(base64.StdEncoding.EncodeToString([]byte(l.attach[name]))))
		}
		b.WriteString("--b1--\n")
	}
	raw := strings.ReplaceAll(b.String(), "\n", "\r\n")
	if _, err := s.imap.Append("INBOX", []byte(raw), l.arrived); err != nil {
		s.t.Fatal(err)
	}
	return mid
}

// cycle runs `once` at now, wants exit 0, and returns the mail it sent.
func (s *scene) cycle(now time.Time) []localmail.Received {
	s.t.Helper()
	if code := s.once(fixed(now)); code != exitOK {
		s.t.Fatalf("once at %s: exit %d", now.Format("15:04"), code)
	}
	all := s.smtp.Received()
	got := all[s.seen:]
	s.seen = len(all)
	return got
}

// tracking reads the tracking file of escalation n.
func (s *scene) tracking(n int) string {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.cfg.Escalation.Dir, fmt.Sprintf("ESC-%05d-tracking.md", n)))
	if err != nil {
		s.t.Fatal(err)
	}
	return string(data)
}

// summary reads escalation n from the store.
func (s *scene) summary(n int) workflow.Summary {
	s.t.Helper()
	d, err := build(s.cfg, time.Now, discardLog())
	if err != nil {
		s.t.Fatal(err)
	}
	defer d.close()
	list, err := d.engine.List(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	if n > len(list) {
		s.t.Fatalf("no ESC-%05d: %d escalations", n, len(list))
	}
	return list[n-1]
}

func subjectOf(m localmail.Received) string { return decodeHeader(m.Header.Get("Subject")) }

// bodyOf is the decoded text of a mail the daemon sent.
func bodyOf(t *testing.T, m localmail.Received) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		r = quotedprintable.NewReader(r)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "\r\n", "\n")
}

// sentTo lists "kind recipient" of each mail: kind from Auto-Submitted and
// the subject ("ack", "notify", "reminder", "error", "alert", "update",
// "vendor").
func sentTo(ms []localmail.Received) []string {
	var out []string
	for _, m := range ms {
		out = append(out, kindOf(m)+" "+strings.Join(m.To, ","))
	}
	return out
}

func kindOf(m localmail.Received) string {
	s := subjectOf(m)
	switch {
	case m.Header.Get("Auto-Submitted") == "auto-replied":
		return "ack"
	case strings.HasPrefix(s, "Reminder: update overdue - "):
		return "reminder"
	case strings.HasPrefix(s, "Command errors: "):
		return "error"
	case strings.HasPrefix(s, "SLA at risk: "):
		return "alert"
	case strings.HasPrefix(s, "Update: "):
		return "update"
	case strings.HasPrefix(s, "Case request: "), strings.HasPrefix(s, "Case "):
		return "vendor"
	case strings.Contains(s, " escalation at "):
		return "notify"
	}
	return "other"
}

// checkHeaders: the §8 headers of every mail the daemon sends.
func checkHeaders(t *testing.T, m localmail.Received, tag, autoSubmitted, inReplyTo string) {
	t.Helper()
	h := m.Header
	replyTo := "<escalations+" + tag + "@example.com>"
	if len(m.To) == 1 && strings.HasSuffix(m.To[0], "@example.com") {
		// Staff get their own keyed reply address (§11).
		if got := h.Get("Reply-To"); regexp.MustCompile(`^<escalations\+` + tag + `\.[a-z2-7]{12}@example\.com>$`).MatchString(got) {
			replyTo = got
		}
	}
	want := map[string]string{
		"Auto-Submitted":           autoSubmitted,
		"Reply-To":                 replyTo,
		"X-Auto-Response-Suppress": "All",
		"X-Escalationd-Loop":       "escalations@example.com",
		"In-Reply-To":              "<" + inReplyTo + ">",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s to %v: %s = %q, want %q", kindOf(m), m.To, k, got, v)
		}
	}
	if !strings.HasSuffix(subjectOf(m), " ["+tag+"]") {
		t.Errorf("subject %q lacks the tag %s", subjectOf(m), tag)
	}
	if h.Get("Message-Id") == "" || m.From != "escalations@example.com" {
		t.Errorf("Message-ID %q, MAIL FROM %q", h.Get("Message-Id"), m.From)
	}
}

func wantSent(t *testing.T, what string, got []localmail.Received, want ...string) {
	t.Helper()
	if g := sentTo(got); !slices.Equal(g, want) {
		t.Fatalf("%s: sent %q, want %q", what, g, want)
	}
}

func contains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// samSignature closes an executive acknowledgement at Team Lead: the first
// named contact of the level's roster (§8).
const samSignature = "Best regards,\nSam Ortiz\nTeam Lead\n+1 555 0101\nlead@example.com\n"

// TestScenarioExecutiveTriggers: each executive trigger of §4 opens an
// Executive escalation at Team Lead whose acknowledgement Sam Ortiz signs,
// whose roster is notified, and whose tracking file gives the reason in
// words.
func TestScenarioExecutiveTriggers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		before  []letter // earlier escalations of the same customer
		open    letter
		reason  string
		dear    string
		custLog string
	}{
		{
			name:   "revenue",
			open:   letter{from: "Olivia Chen <olivia@initech.test>", subject: "Checkout down", body: "Checkout is down since 09:00; we lose about $25,000 per hour."},
			reason: "- revenue impact $25,000 > $10,000", dear: "Dear Olivia Chen,",
		},
		{
			name:   "CSAT",
			open:   letter{from: "olivia@initech.test", subject: "Third outage this month", body: "After three outages our CSAT: 2. This has to stop."},
			reason: "- CSAT 2 < 3", dear: "Dear Customer,",
		},
		{
			name: "repeated issues",
			before: []letter{
				{from: "Ivan Petrov <ivan@globex.test>", subject: "Sync slow", body: "The nightly sync is slow.", arrived: t0.Add(-20 * 24 * time.Hour)},
				{from: "Maria Ivanova <maria@globex.test>", subject: "Reports empty", body: "Reports come out empty.", arrived: t0.Add(-10 * 24 * time.Hour)},
			},
			open:   letter{from: "Ivan Petrov <ivan@globex.test>", subject: "Sync fails again", body: "The nightly sync failed again."},
			reason: "- 3 escalations from Globex in 30 days (this one counted) ≥ 3", dear: "Dear Ivan Petrov,",
		},
		{
			name:   "enterprise customer asks for a manager",
			open:   letter{from: "Jane Doe <jane@acme.test>", subject: "No progress", body: "Nothing moved in two days. I want to speak to a manager today."},
			reason: "- enterprise customer Acme Corp asks for a manager (\"I want to speak to a manager today\")", dear: "Dear Jane Doe,",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScene(t, nil)
			for _, l := range tc.before {
				s.deliver(l) // older than ack_max_age: no mail, but counted
			}
			tc.open.arrived = t0.Add(-5 * time.Minute)
			mid := s.deliver(tc.open)
			got := s.cycle(t0)
			n := len(tc.before) + 1
			tag := fmt.Sprintf("ESC-%05d", n)
			customer, _ := mail.ParseAddress(tc.open.from)
			wantSent(t, "opening", got, "ack "+customer.Address, "notify lead@example.com")
			ack, notify := got[0], got[1]
			checkHeaders(t, ack, tag, "auto-replied", mid)
			if s := subjectOf(ack); s != "RE: "+tc.open.subject+" - Escalation Acknowledged ["+tag+"]" {
				t.Errorf("ack subject %q", s)
			}
			body := bodyOf(t, ack)
			if !strings.HasPrefix(body, tc.dear+"\n") || !strings.HasSuffix(body, samSignature) {
				t.Errorf("acknowledgement not addressed %q or not signed by Sam Ortiz:\n%s", tc.dear, body)
			}
			checkHeaders(t, notify, tag, "auto-generated", mid)
			if s := subjectOf(notify); s != "Executive escalation at Team Lead: "+tc.open.subject+" ["+tag+"]" {
				t.Errorf("notification subject %q", s)
			}
			contains(t, "notification", bodyOf(t, notify), strings.TrimPrefix(tc.reason, "- "), "Handoff checklist:",
				"7. [ ] Customer notified of escalation", filepath.Join(s.cfg.Escalation.Dir, tag+"-tracking.md"))
			track := s.tracking(n)
			contains(t, "tracking file", track, "**Type**: Executive\n**Level**: Team Lead\n**Status**: ESCALATED\n",
				"## Classification\n- "+workflow.EscapeInline(strings.TrimPrefix(tc.reason, "- "))+"\n", "7. [x] Customer notified of escalation")
			if sum := s.summary(n); sum.Type != workflow.Executive || sum.Level != "Team Lead" || sum.Status != workflow.StatusEscalated {
				t.Errorf("store: %s/%s/%s", sum.Type, sum.Level, sum.Status)
			}
			for i := range tc.before {
				if sum := s.summary(i + 1); sum.Type != workflow.Technical {
					t.Errorf("earlier escalation %d is %s", i+1, sum.Type)
				}
			}
		})
	}
}

// TestScenarioVendorCaseRequest: "please open a case with AWS" opens a Vendor
// escalation whose case request goes to vendors.aws with business impact,
// severity and timeline.
func TestScenarioVendorCaseRequest(t *testing.T) {
	// A vendor outside the staff domain, as in production.
	// Initech is a customer: only a customer's words reach a vendor on
	// their own (§11).
	s := newScene(t, func(c *config.Config) {
		c.Vendors.AWS = "support@aws.test"
		c.Customers = append(c.Customers, config.Customer{Domain: "initech.test", Name: "Initech"})
	})
	mid := s.deliver(letter{from: "Li Wei <li.wei@initech.test>", subject: "S3 returns 503", arrived: t0.Add(-3 * time.Minute),
		body: "Since 08:00 every upload to our S3 bucket fails with 503 and checkout is down.\nPlease open a case with AWS."})
	got := s.cycle(t0)
	wantSent(t, "opening", got, "ack li.wei@initech.test", "notify vendor-mgr@example.com", "vendor support@aws.test")
	vendor := got[2]
	checkHeaders(t, vendor, "ESC-00001", "auto-generated", mid)
	if subj := subjectOf(vendor); subj != "Case request: S3 returns 503 [ESC-00001]" {
		t.Errorf("vendor subject %q", subj)
	}
	contains(t, "case request", bodyOf(t, vendor),
		"Hello AWS support,",
		"Severity: 2 - High",
		"Business impact:\n- customer Initech (li.wei@initech.test), Vendor escalation at Case opened\n- explicit request to escalate to AWS (\"Please open a case with AWS\")",
		"Timeline:\n2026-11-28 14:02 UTC - Initial escalation received from li.wei@initech.test\n2026-11-28 14:05 UTC - Classified Vendor, level Case opened, status ESCALATED",
		"Our reference: ESC-00001")
	track := s.tracking(1)
	contains(t, "tracking file", track, "**Type**: Vendor\n**Level**: Case opened\n",
		"Case request sent to AWS (support@aws.test), severity 2 - High",
		"— sent to AWS support &lt;support@aws.test&gt;")

	// The vendor answers by the tag: it is a participant (it received the
	// case request), not staff; it changes nothing.
	s.deliver(letter{from: "AWS Support <support@aws.test>", subject: "Re: Case request: S3 returns 503 [ESC-00001]", arrived: t0.Add(time.Hour),
		body: "We opened case 1234567890 and are looking into it."})
	wantSent(t, "vendor reply", s.cycle(t0.Add(time.Hour)))
	if sum := s.summary(1); sum.Status != workflow.StatusEscalated || sum.Messages != 2 {
		t.Errorf("after the vendor's reply: %s, %d messages", sum.Status, sum.Messages)
	}
	// Staff record the case number; the request went out once already.
	s.deliver(letter{from: "vendor-mgr@example.com", subject: "Re: [ESC-00001] S3 returns 503", arrived: t0.Add(2 * time.Hour),
		body: "/vendor AWS case 1234567890 severity 1\n/escalate TAM engaged"})
	wantSent(t, "staff /vendor", s.cycle(t0.Add(2*time.Hour)))
	if sum := s.summary(1); sum.Level != "TAM/DSE/CE engaged" || sum.Status != workflow.StatusEscalated {
		t.Errorf("after /escalate: %s/%s", sum.Level, sum.Status)
	}
}

// TestScenarioStaffEscalatesToVPAndBeyond: /escalate from staff climbs the
// executive ladder, in ESCALATED and ACTIVE alike, notifying each level; at
// VP it fails with an error mail to the sender and changes nothing. Staff
// mail is never rate-limited.
func TestScenarioStaffEscalatesToVPAndBeyond(t *testing.T) {
	s := newScene(t, func(c *config.Config) { c.Limits.AcksPerSenderPerHour = 1 })
	s.deliver(letter{from: "Olivia Chen <olivia@initech.test>", subject: "Checkout down", arrived: t0.Add(-5 * time.Minute),
		body: "We lose $40k per hour."})
	got := s.cycle(t0)
	wantSent(t, "opening", got, "ack olivia@initech.test", "notify lead@example.com")
	lastNotify := got[1].Header.Get("Message-Id")

	at := t0
	for i, step := range []struct {
		from, body, level, status, roster string
	}{
		{"lead@example.com", "/escalate customer CFO called", "Manager", "ESCALATED", "manager@example.com"},
		{"manager@example.com", "On it.\n/ack", "Manager", "ACTIVE", ""},
		{"manager@example.com", "/escalate", "Director", "ESCALATED", "director@example.com"},
		{"director@example.com", "/escalate board wants a call", "VP", "ESCALATED", "vp@example.com"},
	} {
		at = at.Add(10 * time.Minute)
		s.deliver(letter{from: step.from, subject: "Re: Executive escalation [ESC-00001]", body: step.body, arrived: at,
			inReplyTo: strings.Trim(lastNotify, "<>")})
		got := s.cycle(at)
		if step.roster == "" {
			wantSent(t, step.body, got)
		} else {
			wantSent(t, step.body, got, "notify "+step.roster)
			lastNotify = got[0].Header.Get("Message-Id")
			if subj := subjectOf(got[0]); subj != "Executive escalation at "+step.level+": Checkout down [ESC-00001]" {
				t.Errorf("step %d: notification subject %q", i+1, subj)
			}
		}
		if sum := s.summary(1); sum.Level != step.level || string(sum.Status) != step.status {
			t.Fatalf("after %q from %s: %s/%s, want %s/%s", step.body, step.from, sum.Level, sum.Status, step.level, step.status)
		}
	}
	before := s.tracking(1)

	// Beyond VP: the command fails, an error mail lists it, nothing changes.
	// Twice, to show staff mail is never rate-limited.
	for i := range 2 {
		at = at.Add(10 * time.Minute)
		staffMID := s.deliver(letter{from: "Priya Nair <vp@example.com>", subject: "Re: [ESC-00001] Checkout down", arrived: at,
			body: fmt.Sprintf("/escalate the CEO asks (%d)\n/assign @priya\n/level Board", i+1)})
		got := s.cycle(at)
		wantSent(t, "escalate beyond VP", got, "error vp@example.com")
		checkHeaders(t, got[0], "ESC-00001", "auto-generated", staffMID)
		contains(t, "error mail", bodyOf(t, got[0]),
			fmt.Sprintf("  /escalate the CEO asks (%d)\n    -> already at the top of the Executive ladder (VP)", i+1),
			"  /level Board\n    -> \"Board\" is not a level of the Executive ladder (Customer → Team Lead → Manager → Director → VP)",
			"Applied: /assign @priya\n")
		if sum := s.summary(1); sum.Level != "VP" || sum.Status != workflow.StatusActive || sum.Owner != "@priya" {
			t.Errorf("after the failed /escalate: %s/%s owner %q", sum.Level, sum.Status, sum.Owner)
		}
	}
	after := s.tracking(1)
	contains(t, "tracking file", after,
		"Level Manager → Director, status ESCALATED: escalated by manager@example.com",
		"Level Director → VP, status ESCALATED: escalated by director@example.com: board wants a call",
		"2 command(s) failed; error mail sent to vp@example.com")
	if strings.Count(after, "Level ") != strings.Count(before, "Level ") {
		t.Error("a failed /escalate wrote a level change")
	}
}

// TestScenarioNonStaffResolve: a customer's "/resolve" is logged as text;
// nothing changes and nobody is mailed.
func TestScenarioNonStaffResolve(t *testing.T) {
	s := newScene(t, nil)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Import fails", body: "The import fails.", arrived: t0.Add(-time.Minute)})
	s.cycle(t0)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Re: [ESC-00001] Import fails", arrived: t0.Add(time.Hour),
		body: "/resolve\n/escalate\nThanks, it works now."})
	wantSent(t, "customer /resolve", s.cycle(t0.Add(time.Hour)))
	if sum := s.summary(1); sum.Status != workflow.StatusEscalated || sum.Level != "Tier 2" {
		t.Errorf("customer commands changed the escalation: %s/%s", sum.Level, sum.Status)
	}
	contains(t, "tracking file", s.tracking(1),
		"2 command line(s) from non-staff sender jane@acme.test ignored",
		"> /resolve\n> /escalate\n> Thanks, it works now.",
		"**Status**: ESCALATED")
}

// TestScenarioTimersAcrossRestarts: SLA at risk and the overdue reminder with
// a controlled clock; each cycle is a new process on the same data_dir.
func TestScenarioTimersAcrossRestarts(t *testing.T) {
	s := newScene(t, nil)
	mid := s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Import fails", body: "The nightly import fails.", arrived: t0.Add(-time.Minute)})
	wantSent(t, "opening", s.cycle(t0), "ack jane@acme.test", "notify tier2@example.com")
	wantSent(t, "before anything is due", s.cycle(t0.Add(3*time.Hour)))

	// Past half the 8h SLA (from 14:04) and past the next update (18:04).
	late := t0.Add(4 * time.Hour)
	got := s.cycle(late)
	wantSent(t, "SLA at risk and update overdue", got, "notify tier3@example.com", "reminder tier3@example.com")
	if subj := subjectOf(got[0]); subj != "Technical escalation at Tier 3: Import fails [ESC-00001]" {
		t.Errorf("notification subject %q", subj)
	}
	reminder := got[1]
	if subj := subjectOf(reminder); subj != "Reminder: update overdue - Import fails [ESC-00001]" {
		t.Errorf("reminder subject %q", subj)
	}
	checkHeaders(t, reminder, "ESC-00001", "auto-generated", mid)
	track := s.tracking(1)
	contains(t, "tracking file", track,
		"**Level**: Tier 3\n**Status**: ESCALATED\n",
		"**Next Update Due**: 2026-11-28 18:04 UTC (overdue)\n",
		"[18:05] - Level Tier 2 → Tier 3, status ESCALATED: SLA at risk: 50% of 8h used at Tier 2",
		"[18:05] - Update overdue since 2026-11-28 18:04 UTC; reminder sent to tier3@example.com")

	// The same time again, and a little later: a new process fires nothing.
	wantSent(t, "same time again", s.cycle(late))
	wantSent(t, "later", s.cycle(late.Add(30*time.Minute)))

	// Staff assign bob and update the customer: the update clock restarts.
	at := late.Add(time.Hour) // 19:05
	s.deliver(letter{from: "tier3@example.com", subject: "Re: [ESC-00001] Import fails", arrived: at,
		body: "/assign @bob\n/update We found the cause and deploy a fix tonight."})
	got = s.cycle(at)
	wantSent(t, "/update", got, "update jane@acme.test")
	contains(t, "customer update", bodyOf(t, got[0]), "Dear Jane Doe,", "We found the cause and deploy a fix tonight.", "Next update: 2026-11-28 23:05 UTC")
	if line := s.tracking(1); !strings.Contains(line, "**Next Update Due**: 2026-11-28 23:05 UTC\n") {
		t.Errorf("next update not reset:\n%s", line)
	}
	// 22:06: Tier 3 since 18:05 is past half its SLA: up to Vendor. 23:06:
	// the update is overdue: bob, the owner, is reminded.
	wantSent(t, "SLA at Tier 3", s.cycle(t0.Add(8*time.Hour+time.Minute)), "notify vendor-mgr@example.com")
	got = s.cycle(t0.Add(9*time.Hour + time.Minute))
	wantSent(t, "overdue again", got, "reminder bob@example.com")
	wantSent(t, "and again", s.cycle(t0.Add(9*time.Hour+2*time.Minute)))
}

// TestScenarioResolveThenCustomerReopens: a customer reply to a resolved
// escalation reopens it (ACTIVE, logged).
func TestScenarioResolveThenCustomerReopens(t *testing.T) {
	s := newScene(t, nil)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Import fails", body: "The import fails.", arrived: t0.Add(-time.Minute)})
	s.cycle(t0)
	s.deliver(letter{from: "tier2@example.com", subject: "Re: [ESC-00001] Import fails", body: "/resolve fixed the importer's encoding", arrived: t0.Add(time.Hour)})
	wantSent(t, "resolve", s.cycle(t0.Add(time.Hour)))
	if sum := s.summary(1); sum.Status != workflow.StatusResolved {
		t.Fatalf("status %s, want RESOLVED", sum.Status)
	}
	// Days later nothing fires for a resolved escalation.
	wantSent(t, "resolved, days later", s.cycle(t0.Add(72*time.Hour)))
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Re: [ESC-00001] Import fails", body: "It fails again since this morning.", arrived: t0.Add(73 * time.Hour)})
	got := s.cycle(t0.Add(73 * time.Hour))
	wantSent(t, "customer reply", got, "notify tier2@example.com")
	contains(t, "notification", bodyOf(t, got[0]), "level Tier 2 (reopened: the customer replied)", "Status:    ACTIVE", "It fails again since this morning.")
	if sum := s.summary(1); sum.Status != workflow.StatusActive {
		t.Fatalf("status %s after the customer replied, want ACTIVE", sum.Status)
	}
	contains(t, "tracking file", s.tracking(1),
		"**Status**: ACTIVE\n",
		"**Next Update Due**: 2026-12-01 19:05 UTC\n",
		"### 2026-12-01\n[15:05] - Message received from jane@acme.test (matched by subject tag)\n[15:05] - Reopened: customer replied to a resolved escalation, status ACTIVE")
	// The clocks restarted with the reopening: nothing is due at once.
	wantSent(t, "right after reopening", s.cycle(t0.Add(74*time.Hour)))
}

// TestScenarioRosterMailIsNeverRateLimited: with one acknowledgement per
// sender and hour, roster notifications, customer updates and error mail
// still all go out; only the second acknowledgement to one customer waits.
func TestScenarioRosterMailIsNeverRateLimited(t *testing.T) {
	s := newScene(t, func(c *config.Config) { c.Limits.AcksPerSenderPerHour = 1 })
	for i, from := range []string{"a@one.test", "b@two.test", "c@three.test", "a@one.test"} {
		s.deliver(letter{from: from, subject: fmt.Sprintf("Request %d", i+1), body: "Import fails.", arrived: t0.Add(-time.Minute)})
	}
	wantSent(t, "four requests", s.cycle(t0),
		"ack a@one.test", "notify tier2@example.com",
		"ack b@two.test", "notify tier2@example.com",
		"ack c@three.test", "notify tier2@example.com",
		"notify tier2@example.com")
	contains(t, "tracking file", s.tracking(4), "acknowledgement suppressed: rate limit")
	at := t0.Add(10 * time.Minute)
	s.deliver(letter{from: "lead@example.com", subject: "Re: [ESC-00001] Request 1", body: "/update First look done.\n/bogus", arrived: at})
	s.deliver(letter{from: "lead@example.com", subject: "Re: [ESC-00004] Request 4", body: "/update Second look done.\n/bogus", arrived: at})
	wantSent(t, "staff", s.cycle(at), "update a@one.test", "error lead@example.com", "update a@one.test", "error lead@example.com")
}

// TestScenarioChecklistActionsPlan: /assign ticks item 6, /check N item N,
// the sent acknowledgement item 7, an attachment item 4; /action and /done
// fill Actions & Owners, /plan the Resolution Plan.
func TestScenarioChecklistActionsPlan(t *testing.T) {
	s := newScene(t, nil)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Replica lag", body: "Replica lag grows.", arrived: t0.Add(-time.Minute)})
	s.cycle(t0)
	at := t0.Add(15 * time.Minute)
	s.deliver(letter{from: "tier2@example.com", subject: "Re: [ESC-00001] Replica lag", arrived: at, body: strings.Join([]string{
		"/assign @bob",
		"/action Collect the slow query log @carol",
		"/action Restart the replica @bob",
		"/done 2",
		"/plan Promote a fresh replica. ETA: 2026-11-28 18:00 UTC",
		"/check 1",
		"/check 3",
	}, "\n")})
	s.cycle(at)
	track := s.tracking(1)
	if strings.Contains(track, "4. [x]") {
		t.Fatal("item 4 ticked before any attachment arrived")
	}
	at = at.Add(15 * time.Minute)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Re: [ESC-00001] Replica lag", arrived: at,
		body: "Slow query log attached.", attach: map[string]string{"slow.log": "# Query_time: 12.3 SELECT ..."}})
	s.cycle(at)
	track = s.tracking(1)
	contains(t, "tracking file", track,
		"**Owner**: @bob\n",
		"## Handoff Checklist\n1. [x] Complete troubleshooting summary\n2. [ ] Document steps already attempted\n3. [x] Customer impact assessment\n"+
			"4. [x] Diagnostic data collected\n5. [ ] Customer expectation set\n6. [x] Next tier engineer assigned\n7. [x] Customer notified of escalation\n",
		"## Actions & Owners\n1. [ ] Collect the slow query log - @carol\n2. [x] Restart the replica - @bob\n",
		"## Resolution Plan\n- Promote a fresh replica. ETA: 2026-11-28 18:00 UTC\n",
		"**Attachments**: [slow.log](ESC-00001/slow.log)")
}

// TestScenarioOpeningAttachment: an attachment in the opening message is
// diagnostic data too.
func TestScenarioOpeningAttachment(t *testing.T) {
	s := newScene(t, nil)
	s.deliver(letter{from: "Jane Doe <jane@acme.test>", subject: "Crash", body: "Crash log attached.", arrived: t0.Add(-time.Minute),
		attach: map[string]string{"crash.log": "panic: boom"}})
	s.cycle(t0)
	if !strings.Contains(s.tracking(1), "4. [x] Diagnostic data collected") {
		t.Errorf("an attachment in the opening message did not tick item 4:\n%s", s.tracking(1))
	}
}

// TestScenarioFullExecutiveEscalation runs one executive escalation from the
// opening mail to its resolution and keeps its tracking file as a golden
// file (§9).
func TestScenarioFullExecutiveEscalation(t *testing.T) {
	s := newScene(t, nil)
	at := func(hhmm string) time.Time {
		tm, err := time.Parse("2006-01-02 15:04", "2026-11-28 "+hhmm)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	reply := func(from, hhmm string, lines ...string) []localmail.Received {
		s.deliver(letter{from: from, subject: "Re: [ESC-00001] Payments failing at checkout", arrived: at(hhmm), body: strings.Join(lines, "\n")})
		return s.cycle(at(hhmm))
	}
	s.deliver(letter{from: "Olivia Chen <olivia@initech.test>", subject: "Payments failing at checkout", arrived: at("13:58"),
		body: "Hello,\n\nsince 13:30 every card payment at our checkout fails with a gateway timeout.\nWe are losing about $25,000 per hour.\n\nOlivia Chen\nInitech, Head of E-commerce"})
	wantSent(t, "opening", s.cycle(at("14:05")), "ack olivia@initech.test", "notify lead@example.com")
	wantSent(t, "lead", reply("Sam Ortiz <lead@example.com>", "14:20",
		"Taking this.",
		"/ack",
		"/assign @bob",
		"/action Restart the payment gateway @bob",
		"/plan Fail over to the standby gateway, then replay the queued orders. ETA: 2026-11-28 18:00 UTC"))
	wantSent(t, "bob", reply("Bob Brown <bob@example.com>", "15:10",
		"Gateway restarted, no change.",
		"/done 1",
		"/escalate customer CFO asks for a call"), "notify manager@example.com")
	wantSent(t, "manager", reply("manager@example.com", "15:40", "/escalate board visibility"), "notify director@example.com")
	wantSent(t, "update", reply("Sam Ortiz <lead@example.com>", "16:00",
		"/update The standby gateway is live; queued orders are being replayed.",
		"/check 1",
		"/check 2",
		"/check 3"), "update olivia@initech.test")
	wantSent(t, "resolve", reply("director@example.com", "17:30", "/resolve Standby gateway live, all queued orders replayed."))
	track := s.tracking(1)
	golden(t, "executive-tracking.md", []byte(track))
	if sum := s.summary(1); sum.Status != workflow.StatusResolved || sum.Level != "Director" || sum.Owner != "@bob" {
		t.Errorf("store: %s/%s owner %s", sum.Level, sum.Status, sum.Owner)
	}
}

// TestListAndShow: `escalationd list` and `show` read the store and print
// for a terminal; the list with a fixed clock is a golden file.
func TestListAndShow(t *testing.T) {
	s := newScene(t, nil)
	for _, l := range []letter{
		{from: "Jane Doe <jane@acme.test>", subject: "Database outage in eu-west", body: "Primary down; please escalate."},
		{from: "Olivia Chen <olivia@initech.test>", subject: "Payments failing at checkout", body: "We lose $25,000 per hour."},
		{from: "Li Wei <li.wei@initech.test>", subject: "S3 returns 503", body: "Please open a case with AWS."},
		{from: "Ivan Petrov <ivan@globex.test>", subject: "Report export slow", body: "Exports take an hour."},
	} {
		l.arrived = t0.Add(-10 * time.Minute)
		s.deliver(l)
	}
	s.cycle(t0)
	at := t0.Add(20 * time.Minute)
	s.deliver(letter{from: "lead@example.com", subject: "Re: [ESC-00002] x", body: "/ack\n/assign @sam", arrived: at})
	s.deliver(letter{from: "tier2@example.com", subject: "Re: [ESC-00004] x", body: "/resolve", arrived: at})
	s.cycle(at)

	var out bytes.Buffer
	later := t0.Add(5 * time.Hour)
	if err := list(context.Background(), s.cfg, fixed(later), &out); err != nil {
		t.Fatal(err)
	}
	golden(t, "list", out.Bytes())

	path := writeConfig(t, s.cfg)
	var stdout, stderr bytes.Buffer
	if code := cli([]string{"list", "--config", path}, &stdout, &stderr); code != exitOK {
		t.Fatalf("list: exit %d: %s", code, stderr.String())
	}
	contains(t, "list", stdout.String(), "ESC-00001", "ESC-00004", "3 open, 1 resolved")
	stdout.Reset()
	if code := cli([]string{"show", "--config", path, "ESC-00002"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("show: exit %d: %s", code, stderr.String())
	}
	contains(t, "show", stdout.String(),
		"# Escalation Tracking: olivia@initech.test — Payments failing at checkout\n",
		"**Owner**: @sam\n",
		"## Mail (outbox)\n- sent ack to olivia@initech.test: RE: Payments failing at checkout - Escalation Acknowledged [ESC-00002]\n- sent notify to lead@example.com",
		"Tracking file: "+filepath.Join(s.cfg.Escalation.Dir, "ESC-00002-tracking.md"))
	empty := s.cfg
	empty.Escalation.DataDir = filepath.Join(t.TempDir(), "nothing-here")
	emptyPath := writeConfig(t, empty)
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"show", "--config", path, "ESC-00099"}, "escalationd show: no escalation ESC-00099 in " + s.cfg.Escalation.DataDir + "\n"},
		{[]string{"show", "--config", path, "42"}, `"42" is not an escalation id like ESC-00042`},
		{[]string{"show", "--config", path}, "usage: escalationd show --config FILE ESC-00042"},
		{[]string{"list", "--config", emptyPath}, "no store in escalation.data_dir " + empty.Escalation.DataDir},
	} {
		stdout.Reset()
		stderr.Reset()
		if code := cli(bad.args, &stdout, &stderr); code != exitWork || !strings.Contains(stderr.String(), bad.want) || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 1 and %q", bad.args, code, stdout.String(), stderr.String(), bad.want)
		}
	}
	if _, err := os.Stat(empty.Escalation.DataDir); err == nil {
		t.Error("list created a store in a data_dir that had none")
	}
}

// writeConfig writes what `list` and `show` need of cfg as a YAML file.
func writeConfig(t *testing.T, cfg config.Config) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "imap:\n  host: %s\n  port: %d\n  tls: none\n  username: %s\n  password: %s\n", cfg.IMAP.Host, cfg.IMAP.Port, cfg.IMAP.Username, cfg.IMAP.Password)
	fmt.Fprintf(&b, "smtp:\n  host: %s\n  port: %d\n  tls: none\n", cfg.SMTP.Host, cfg.SMTP.Port)
	fmt.Fprintf(&b, "escalation:\n  dir: %q\n  data_dir: %q\n", cfg.Escalation.Dir, cfg.Escalation.DataDir)
	b.WriteString("customers:\n")
	for _, c := range cfg.Customers {
		fmt.Fprintf(&b, "  - { domain: %s, name: %q, tier: %s }\n", c.Domain, c.Name, c.Tier)
	}
	fmt.Fprintf(&b, "vendors: { aws: %s }\nroster:\n", cfg.Vendors.AWS)
	for typ, levels := range map[string]map[string][]config.Contact{"technical": cfg.Roster.Technical, "executive": cfg.Roster.Executive, "vendor": cfg.Roster.Vendor} {
		fmt.Fprintf(&b, "  %s:\n", typ)
		for level, contacts := range levels {
			fmt.Fprintf(&b, "    %q:\n", level)
			for _, c := range contacts {
				fmt.Fprintf(&b, "      - { email: %s, name: %q, title: %q, phone: %q }\n", c.Email, c.Name, c.Title, c.Phone)
			}
		}
	}
	path := filepath.Join(t.TempDir(), "escalationd.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
