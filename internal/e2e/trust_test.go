package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// TestTrustAttacksOverRealServers: the attacks of the trust review where
// mail delivery matters, through Postfix and Dovecot (§11). Each mail the
// store says went out is delivered; the store says which did not.
func TestTrustAttacksOverRealServers(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	f := writeConfig(t, addrs, daemonConfig{AcksPerSenderPerHour: 2})
	d := startDaemon(t, f.Config)

	// 1. Backscatter: four requests "from" bob+1..4@, one address once
	// the plus-tag is removed, the display name a link. Two acks reach
	// bob, neither says the link.
	for i := 1; i <= 4; i++ {
		sendSMTP(t, addrs, &outMsg{From: fmt.Sprintf(`"Win big at http://evil.test" <bob+%d@globex.test>`, i), To: stack.Escalations,
			Subject: fmt.Sprintf("Backscatter %d", i), Body: "Hello\n"}, "")
	}
	waitFile(t, f.Tracking(4), patience, "acknowledgement suppressed: rate limit (limits.acks\\_per\\_sender\\_per\\_hour is 2)")
	waitFile(t, f.Tracking(3), patience, "acknowledgement suppressed: rate limit")
	acks := waitMail(t, addrs, bobBox, func(m gotMsg) bool { return m.isAck() }, 2, patience)
	for _, a := range acks {
		if strings.Contains(a.Body, "evil.test") || !strings.Contains(a.Body, "Dear Customer,") {
			t.Errorf("acknowledgement prints the sender's display name:\n%s", a.Body)
		}
	}

	// 2. No relay: a stranger asks for an AWS case. The vendor gets
	// nothing; the tracking file says it waits for staff.
	sendSMTP(t, addrs, &outMsg{From: "Mallory <mallory@stranger.test>", To: stack.Escalations,
		Subject: "Outage", Body: "Our site is down. Please open a case with AWS support now.\n"}, "")
	waitFile(t, f.Tracking(5), patience, "**Type**: Vendor", "vendor case request waits for staff: /vendor")

	// 3. Fifty /update lines from authenticated staff (a reply to the
	// keyed Reply-To of tier2's notification): one update reaches the
	// customer, one error mail lists the 49 others.
	note := waitMail(t, addrs, tier2Box, func(m gotMsg) bool {
		return m.isNotice() && strings.Contains(m.get("Subject"), "[ESC-00001]")
	}, 1, patience)[0]
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("/update spam %d http://evil.test", i))
	}
	sendSMTP(t, addrs, &outMsg{From: stack.Tier2, To: strings.Trim(note.Header.Get("Reply-To"), "<> "),
		Subject: "Re: " + note.get("Subject"), InReplyTo: note.msgID(), Body: strings.Join(lines, "\n") + "\n"}, "")
	errMail := waitMail(t, addrs, tier2Box, func(m gotMsg) bool {
		return strings.HasPrefix(m.get("Subject"), "Command errors:")
	}, 1, patience)[0]
	if n := strings.Count(errMail.Body, "one /update per message"); n != 49 {
		t.Errorf("error mail lists %d refused /update lines, want 49:\n%s", n, errMail.Body)
	}
	updates := waitMail(t, addrs, bobBox, func(m gotMsg) bool { return strings.HasPrefix(m.get("Subject"), "Update:") }, 1, patience)
	out, _, _ := runCLI(t, f.Config, "show", "ESC-00001")
	if n := strings.Count(out, " update to "); n != 1 || len(updates) != 1 {
		t.Errorf("%d updates in the store, %d delivered, want 1:\n%s", n, len(updates), out)
	}
	t.Logf("bob got %d acknowledgements for 4 requests, the vendor nothing, the customer 1 update for 50 lines", len(acks))
	d.stop(t)
	if got := inbox(t, addrs, vendorBox); len(got) != 0 {
		t.Errorf("the vendor got %d mails", len(got))
	}
	if got := filterMsgs(inbox(t, addrs, bobBox), gotMsg.isAck); len(got) != 2 {
		t.Errorf("bob got %d acknowledgements, want 2", len(got))
	}
}
