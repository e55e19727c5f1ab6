package e2e

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// TestDSN: a request from ghost@acme.test (Postfix accepts the address,
// Dovecot's LMTP refuses it) is acknowledged; the acknowledgement comes back
// as a real Postfix delivery report to escalations@example.com, which the
// daemon matches through the Message-ID it quotes: the escalation's tracking
// file shows "Delivery failure: ghost@acme.test: …", and the report opens no
// escalation and sends no mail.
func TestDSN(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	f := writeConfig(t, addrs, daemonConfig{})
	d := startDaemon(t, f.Config)

	req := &outMsg{From: "Ghost <" + stack.Ghost + ">", To: stack.Escalations, Subject: "Nothing loads",
		Body: "Our dashboard has been down since 14:00.\n"}
	sendSMTP(t, addrs, req, "")

	start := time.Now()
	tr := waitFile(t, f.Tracking(1), patience, "Delivery failure: "+stack.Ghost+": ")
	t.Logf("request sent → delivery failure in the tracking file after %s", time.Since(start).Round(time.Millisecond))
	for _, want := range []string{"Escalation acknowledged", "5.1.1"} {
		if !strings.Contains(tr, want) {
			t.Errorf("tracking file lacks %q:\n%s", want, tr)
		}
	}
	d.waitLog(t, `msg="delivery report for mail the daemon sent"`, patience)
	// The report is marked handled like any message.
	waitUntil(t, patience, "the report and the request marked handled", func() bool {
		in := listBox(t, addrs, escBox, "INBOX")
		seen := 0
		for _, m := range in {
			if m.has(`\Seen`) {
				seen++
			}
		}
		return len(in) == 2 && seen == 2
	})
	if _, err := os.Stat(f.Tracking(2)); err == nil {
		t.Error("the delivery report opened ESC-00002")
	}
	if n := d.countLog(`msg="mail sent" kind=ack`); n != 1 {
		t.Errorf("%d acknowledgements sent, want 1:\n%s", n, tail(d.log.String(), 30))
	}
}
