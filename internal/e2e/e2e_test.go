package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// trustStack returns the environment that makes the daemon (a Go program)
// trust the stack's self-signed certificate: SSL_CERT_FILE pointing at a
// copy of it. The certificate names 127.0.0.1, the host the config gives,
// so verification passes without any "skip verify" setting.
func trustStack(t *testing.T) []string {
	t.Helper()
	pem, err := os.ReadFile(filepath.Join(stack.StateDir(), "tls", "cert.pem"))
	if err != nil {
		t.Skipf("cannot read the stack's certificate (%v): TLS variants need it", err)
	}
	path := filepath.Join(t.TempDir(), "stack-ca.pem")
	if err := os.WriteFile(path, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"SSL_CERT_FILE=" + path}
}

var tagRE = regexp.MustCompile(`\s*\[ESC-\d+\]`)

// TestHappyPath: a request sent through Postfix is acknowledged with every
// §8 header, the roster is notified, the tracking file is written and the
// request is marked handled; a reply that threads only by In-Reply-To and
// one that threads only by the plus-address it was delivered to (Delivered-To)
// land in the same escalation, with no second acknowledgement. Once over
// plain IMAP, once over implicit TLS (moving handled mail to Processed), once
// over STARTTLS; SMTP goes plain, then STARTTLS.
func TestHappyPath(t *testing.T) {
	addrs := stack.Require(t)
	variants := []struct {
		name, imapAddr, imapTLS, smtpTLS, processed string
		tls                                         bool
	}{
		{"plain_seen", addrs.IMAP, "none", "none", "", false},
		{"implicit_tls_moved", addrs.IMAPS, "implicit", "starttls", "Processed", true},
		{"starttls_seen", addrs.IMAP, "starttls", "starttls", "", true},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			lockStack(t, addrs)
			var env []string
			if v.tls {
				env = trustStack(t)
			}
			f := writeConfig(t, addrs, daemonConfig{IMAPAddr: v.imapAddr, IMAPTLS: v.imapTLS, SMTPTLS: v.smtpTLS, ProcessedMailbox: v.processed})
			start := time.Now()
			d := startDaemon(t, f.Config, env...)

			const subject = "Database outage in eu-west"
			req := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: subject,
				Body: "Our production database in eu-west has been down since 14:00.\nNothing loads.\n"}
			sendSMTP(t, addrs, req, "")

			// The acknowledgement, as jane's mailbox has it.
			ack := waitMail(t, addrs, janeBox, gotMsg.isAck, 1, patience)[0]
			t.Logf("request sent → acknowledgement in jane's INBOX after %s (daemon started with it)", time.Since(start).Round(time.Millisecond))
			want := map[string]string{
				"Subject":                  "RE: " + subject + " - Escalation Acknowledged [ESC-00001]",
				"In-Reply-To":              req.MessageID,
				"Reply-To":                 "<escalations+ESC-00001@example.com>",
				"Auto-Submitted":           "auto-replied",
				"X-Auto-Response-Suppress": "All",
				"X-Escalationd-Loop":       stack.Escalations,
				"Return-Path":              "<" + stack.Escalations + ">",
			}
			for k, w := range want {
				if got := strings.TrimSpace(ack.get(k)); got != w {
					t.Errorf("acknowledgement %s = %q, want %q", k, got, w)
				}
			}
			if !strings.Contains(ack.get("References"), req.MessageID) {
				t.Errorf("acknowledgement References = %q, want it to name %s", ack.get("References"), req.MessageID)
			}
			if id := ack.msgID(); !strings.HasSuffix(id, "@example.com") || strings.Contains(id, "e2e.") {
				t.Errorf("acknowledgement Message-ID %q: want one of its own in example.com", id)
			}
			if !strings.Contains(ack.Body, "ESC-00001") || !strings.Contains(ack.Body, "Dear Jane Doe") {
				t.Errorf("acknowledgement body lacks the tag or the salutation:\n%s", ack.Body)
			}

			// The roster of Tier 2 is notified.
			note := waitMail(t, addrs, tier2Box, func(m gotMsg) bool { return m.isNotice() && strings.Contains(m.get("Subject"), "[ESC-00001]") }, 1, patience)[0]
			if got := note.get("Return-Path"); got != "<"+stack.Escalations+">" {
				t.Errorf("notification Return-Path = %q", got)
			}
			for _, k := range []string{"X-Auto-Response-Suppress", "X-Escalationd-Loop", "Reply-To", "Message-Id"} {
				if note.get(k) == "" {
					t.Errorf("notification lacks %s", k)
				}
			}

			// The tracking file, in the §9 shape, once the sent ack is recorded.
			tr := waitFile(t, f.Tracking(1), patience, "Escalation acknowledged")
			for _, h := range []string{
				"# Escalation Tracking: Acme Corp — " + subject, "**ID**: ESC-00001", "**Type**: Technical", "**Level**: Tier 2",
				"**Status**: ESCALATED", "**Customer**: Acme Corp (" + stack.Jane + ")", "**Opened**: ", "**Next Update Due**: ",
				"**SLA Consumed**: ", "## Classification", "## Timeline", "## Handoff Checklist", "## Actions & Owners",
				"## Communication Log", "## Resolution Plan", "7. [x] Customer notified of escalation",
			} {
				if !strings.Contains(tr, h) {
					t.Errorf("tracking file lacks %q:\n%s", h, tr)
				}
			}

			// The request is marked handled on the server.
			reqID := strings.Trim(req.MessageID, "<>")
			waitUntil(t, patience, "request marked handled", func() bool {
				in := listBox(t, addrs, escBox, "INBOX")
				if v.processed == "" {
					return len(in) == 1 && in[0].MessageID == reqID && in[0].has(imap.FlagSeen)
				}
				moved := listBox(t, addrs, escBox, v.processed)
				return len(in) == 0 && len(moved) == 1 && moved[0].MessageID == reqID
			})

			// jane replies to the acknowledgement: subject without the tag,
			// sent to the plain address, so only In-Reply-To threads it.
			reply := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations,
				Subject:   "Re: " + tagRE.ReplaceAllString(ack.get("Subject"), ""),
				InReplyTo: "<" + ack.msgID() + ">", References: req.MessageID + " <" + ack.msgID() + ">",
				Body: "Still down. We restarted the primary, no change.\n\n> Thank you for escalating this\n"}
			sendSMTP(t, addrs, reply, "")
			d.waitLog(t, `msg="message applied".* escalation=ESC-00001 via=In-Reply-To/References`, patience)
			waitUntil(t, patience, "2 received entries in the Communication Log", func() bool {
				b, _ := os.ReadFile(f.Tracking(1))
				return strings.Count(string(b), "— received from") == 2
			})

			// A reply with no tag and no In-Reply-To, delivered to the
			// plus-address while its To names the plain one: only Dovecot's
			// Delivered-To carries the escalation.
			plus := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: "One more detail",
				Body: "The replica in eu-west-2 is fine.\n"}
			sendSMTP(t, addrs, plus, stack.Jane, "escalations+ESC-00001@example.com")
			d.waitLog(t, `msg="message applied".* escalation=ESC-00001 via=plus-address`, patience)
			waitUntil(t, patience, "3 received entries in the Communication Log", func() bool {
				b, _ := os.ReadFile(f.Tracking(1))
				return strings.Count(string(b), "— received from") == 3
			})

			// One escalation, one acknowledgement.
			out, _, code := runCLI(t, f.Config, "show", "ESC-00001")
			if code != 0 {
				t.Fatalf("show: exit %d", code)
			}
			if n := strings.Count(out, " ack to "); n != 1 {
				t.Errorf("outbox of ESC-00001 holds %d acknowledgements, want 1:\n%s", n, out)
			}
			list, _, _ := runCLI(t, f.Config, "list")
			if !strings.Contains(list, "1 open, 0 resolved") || strings.Contains(list, "ESC-00002") {
				t.Errorf("want one escalation:\n%s", list)
			}
			took := d.stop(t)
			t.Logf("SIGTERM → exit 0 after %s", took.Round(time.Millisecond))
			if acks := filterMsgs(inbox(t, addrs, janeBox), gotMsg.isAck); len(acks) != 1 {
				t.Errorf("jane has %d acknowledgements, want 1", len(acks))
			}
			// Configuration advice at start-up aside, nothing went wrong.
			if bad := d.logLines(`level=(WARN|ERROR)`); len(bad) > 0 {
				running := logTime(t, d.logLines(`msg="escalationd running"`)[0])
				for _, l := range bad {
					if logTime(t, l).After(running) {
						t.Errorf("warning or error in the log: %s", l)
					}
				}
			}
		})
	}
}

func filterMsgs(msgs []gotMsg, keep func(gotMsg) bool) []gotMsg {
	var out []gotMsg
	for _, m := range msgs {
		if keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// TestWorkflowOverRealServers: a staff member's /escalate moves a Technical
// escalation to Tier 3 and mails Tier 3's roster; an executive request
// (revenue impact) is acknowledged by the named Team Lead, who is notified.
func TestWorkflowOverRealServers(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	f := writeConfig(t, addrs, daemonConfig{})
	d := startDaemon(t, f.Config)

	// A technical request: Tier 2.
	req := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: "Checkout API returns 500 errors",
		Body: "Since the deploy at 09:00 every checkout call fails with a 500.\n"}
	sendSMTP(t, addrs, req, "")
	waitMail(t, addrs, janeBox, gotMsg.isAck, 1, patience)
	waitMail(t, addrs, tier2Box, gotMsg.isNotice, 1, patience)
	waitFile(t, f.Tracking(1), patience, "**Level**: Tier 2", "Escalation acknowledged")

	// Staff (lead@, staff by its domain) escalate it from their mail
	// client: nothing authenticates that mail (no Authentication-Results
	// is trusted here), so the command is not applied, and lead@ gets one
	// mail listing it, whose Reply-To is lead's own keyed address (§11).
	cmd := &outMsg{From: "Sam Ortiz <" + stack.Lead + ">", To: stack.Escalations,
		Subject: "Re: Checkout API returns 500 errors [ESC-00001]", InReplyTo: req.MessageID, References: req.MessageID,
		Body: "/escalate customer is furious\n\nTaking this to Tier 3 now.\n"}
	sendSMTP(t, addrs, cmd, "")
	notice := waitMail(t, addrs, leadBox, func(m gotMsg) bool {
		return strings.HasPrefix(m.get("Subject"), "Commands not applied:") && strings.Contains(m.get("Subject"), "[ESC-00001]")
	}, 1, patience)[0]
	forgedTrack := waitFile(t, f.Tracking(1), patience, "1 command(s) from "+stack.Lead+" not applied: mail not authenticated")
	t.Logf("after the unauthenticated command, lead@ got %q (Reply-To %s):\n%s\ntracking file:\n%s",
		notice.get("Subject"), notice.Header.Get("Reply-To"), notice.Body, forgedTrack)
	keyAddr := strings.Trim(notice.Header.Get("Reply-To"), "<> ")
	if !regexp.MustCompile(`^escalations\+ESC-00001\.[a-z2-7]{12}@example\.com$`).MatchString(keyAddr) {
		t.Fatalf("notice Reply-To %q, want lead's keyed address of ESC-00001", keyAddr)
	}
	if !strings.Contains(notice.Body, "/escalate customer is furious") {
		t.Errorf("notice does not list the command:\n%s", notice.Body)
	}
	// A reply to it through Postfix and Dovecot, the command above the
	// quote: Postfix and Dovecot deliver the keyed plus-address to the
	// escalation mailbox, and the key proves lead@ wrote it.
	reply := &outMsg{From: "Sam Ortiz <" + stack.Lead + ">", To: keyAddr,
		Subject: "Re: " + notice.get("Subject"), InReplyTo: notice.msgID(), References: notice.msgID(),
		Body: "/escalate customer is furious\n\nOn Fri, Escalations wrote:\n> /escalate customer is furious\n"}
	sendSMTP(t, addrs, reply, "")
	d.waitLog(t, `msg="staff command applied" escalation=ESC-00001 .*command="/escalate customer is furious"`, patience)
	tr := waitFile(t, f.Tracking(1), patience, "**Level**: Tier 3", "customer is furious")
	if !strings.Contains(tr, "**Status**: ESCALATED") {
		t.Errorf("after /escalate, want status ESCALATED:\n%s", tr)
	}
	// Tier 3's roster is manager@ (Dana Lee).
	n := waitMail(t, addrs, managerBox, func(m gotMsg) bool { return m.isNotice() && strings.Contains(m.get("Subject"), "[ESC-00001]") }, 1, patience)[0]
	if !strings.Contains(n.Body, "Tier 3") {
		t.Errorf("Tier 3 notification does not name the level:\n%s", n.Body)
	}
	if !strings.Contains(n.Body, "customer is furious") {
		t.Errorf("Tier 3 notification does not give the reason:\n%s", n.Body)
	}
	// Nothing staff wrote went to the customer.
	out, _, _ := runCLI(t, f.Config, "show", "ESC-00001")
	var toJane []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "- ") && strings.Contains(l, " to "+stack.Jane) {
			toJane = append(toJane, l)
		}
	}
	if len(toJane) != 1 || !strings.Contains(toJane[0], " ack to ") {
		t.Errorf("mail to the customer: %q, want only the acknowledgement", toJane)
	}

	// An executive request: revenue impact over the threshold, from an
	// enterprise customer. The Team Lead (Sam Ortiz) signs and is notified.
	exec := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: "Payments failing for all EU customers",
		Body: "Card payments fail for every EU customer. We are losing $50,000 per hour.\n"}
	sendSMTP(t, addrs, exec, "")
	ack := waitMail(t, addrs, janeBox, func(m gotMsg) bool { return m.isAck() && strings.Contains(m.get("Subject"), "[ESC-00002]") }, 1, patience)[0]
	for _, w := range []string{"Sam Ortiz", "Team Lead", "+1 555 0101"} {
		if !strings.Contains(ack.Body, w) {
			t.Errorf("executive acknowledgement is not signed with %q:\n%s", w, ack.Body)
		}
	}
	waitMail(t, addrs, leadBox, func(m gotMsg) bool { return m.isNotice() && strings.Contains(m.get("Subject"), "[ESC-00002]") }, 1, patience)
	waitFile(t, f.Tracking(2), patience, "**Type**: Executive", "**Level**: Team Lead", "revenue impact $50,000 &gt; $10,000") // §9: > is written &gt;
	if acks := filterMsgs(inbox(t, addrs, janeBox), gotMsg.isAck); len(acks) != 2 {
		t.Errorf("jane has %d acknowledgements, want 2", len(acks))
	}
	d.stop(t)
}
