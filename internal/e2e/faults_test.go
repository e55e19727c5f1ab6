package e2e

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-smtp"

	"github.com/escalationd/escalationd/internal/e2e/stack"
	"github.com/escalationd/escalationd/internal/localmail"
)

// The tests here shorten the daemon's clocks: smtp.retry_min 1s and
// retry_max 4s (the outbox retries after ~1 s, ~2 s, then every ~4 s, where
// production waits 30 s … 30 min), and imap.reconnect_max 2s (reconnects
// after ~1 s, then every ~2 s, where production caps at 5 min). A server
// "down for minutes" is down for a few seconds here; the behaviour is the
// same, scaled.

// deltas are the gaps between the times of lines.
func deltas(t *testing.T, lines []string) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(lines); i++ {
		out = append(out, logTime(t, lines[i]).Sub(logTime(t, lines[i-1])).Round(10*time.Millisecond))
	}
	return out
}

// TestSMTPDownQueuesAndRetries: with Postfix stopped, the acknowledgement of
// a request stays queued and is retried with growing waits; once Postfix is
// back it is delivered exactly once.
func TestSMTPDownQueuesAndRetries(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	stopServer(t, "postfix")
	f := writeConfig(t, addrs, daemonConfig{})
	d := startDaemon(t, f.Config)

	// Postfix is down: the request goes straight into the mailbox.
	req := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: "Login page times out",
		Body: "Since this morning the login page times out for every user.\n"}
	appendIMAP(t, addrs, escBox, "INBOX", req.bytes())
	const notSent = `msg="mail not sent; stays queued" kind=ack `
	first := d.waitLog(t, notSent+`.*attempt=1 `, patience)
	if !strings.Contains(first, "connection refused") {
		t.Errorf("first failure does not say why: %s", first)
	}
	d.waitLog(t, notSent+`.*attempt=3 `, patience)
	downFor := time.Since(logTime(t, first))
	restart := time.Now()
	stackCtl(t, "start")
	t.Logf("Postfix down for %s after the first attempt; start.sh took %s", downFor.Round(10*time.Millisecond), time.Since(restart).Round(10*time.Millisecond))

	sent := d.waitLog(t, `msg="mail sent" kind=ack `, patience)
	ackID := logField(sent, "message_id")
	attempts := d.logLines(notSent)
	t.Logf("acknowledgement: %d failed attempts, gaps %v, then sent %s after the last failure; retry_in said %v",
		len(attempts), deltas(t, append(attempts, sent)), logTime(t, sent).Sub(logTime(t, attempts[len(attempts)-1])).Round(10*time.Millisecond),
		retryIns(attempts))
	// The waits the daemon chose (retry_in, in whole seconds) grow towards
	// the cap: 1s, 2s, then 4s less up to 20% jitter. The measured gaps are
	// held to those waits, not to each other: a busy machine lengthens any
	// gap, so a first gap can outlast the second without anything wrong.
	waits := retryWaits(t, attempts)
	for i := 1; i < len(waits); i++ {
		if waits[i] < waits[i-1] && waits[i] < 3*time.Second {
			t.Errorf("retry waits %v do not grow towards the cap", waits)
		}
	}
	// No retry comes before its wait is over: the jitter takes off at most
	// 20%, and 100 ms allow for the log line coming after the clock reading
	// the wait counts from. The first retry so waits at least 700 ms, about
	// smtp.retry_min (1s).
	for i, gap := range deltas(t, attempts) {
		if floor := waits[i]*8/10 - 100*time.Millisecond; gap < floor {
			t.Errorf("retry %d came %s after attempt %d, want at least %s (retry_in %s)", i+1, gap, i+1, floor, waits[i])
		}
	}

	byID := func(m gotMsg) bool { return m.msgID() == ackID }
	waitMail(t, addrs, janeBox, byID, 1, patience)
	waitMail(t, addrs, tier2Box, gotMsg.isNotice, 1, patience)
	if got := filterMsgs(inbox(t, addrs, janeBox), byID); len(got) != 1 {
		t.Errorf("jane received the acknowledgement %d times, want once", len(got))
	}
	if n := d.countLog(`msg="mail sent" kind=ack `); n != 1 {
		t.Errorf("%d acknowledgements sent, want 1", n)
	}
	d.stop(t)
}

func retryIns(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, logField(l, "retry_in"))
	}
	return out
}

// retryWaits are the retry_in fields of lines, parsed.
func retryWaits(t *testing.T, lines []string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, l := range lines {
		d, err := time.ParseDuration(logField(l, "retry_in"))
		if err != nil {
			t.Fatalf("retry_in of %s: %v", l, err)
		}
		out = append(out, d)
	}
	return out
}

// TestSMTP4xxRetried: a server that answers 451 at the end of DATA twice,
// then accepts: the mail is retried and delivered once.
func TestSMTP4xxRetried(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	var refused atomic.Int32
	sink, err := localmail.StartSMTP(localmail.SMTPOptions{
		Reject: func(from string, to []string) *smtp.SMTPError {
			for _, rcpt := range to {
				if rcpt == stack.Jane && refused.Add(1) <= 2 {
					return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem, try again later"}
				}
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	f := writeConfig(t, addrs, daemonConfig{SMTPAddr: sink.Addr})
	d := startDaemon(t, f.Config)

	req := &outMsg{From: "Jane Doe <" + stack.Jane + ">", To: stack.Escalations, Subject: "Exports are empty",
		Body: "Every CSV export since Monday is empty.\n"}
	appendIMAP(t, addrs, escBox, "INBOX", req.bytes())
	sent := d.waitLog(t, `msg="mail sent" kind=ack `, patience)
	ackID := logField(sent, "message_id")

	failed := d.logLines(`msg="mail not sent; stays queued" kind=ack `)
	if len(failed) != 2 {
		t.Fatalf("%d failed attempts logged, want 2:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	for i, l := range failed {
		if !strings.Contains(l, fmt.Sprintf("attempt=%d ", i+1)) || !strings.Contains(l, "451") {
			t.Errorf("failed attempt %d: want attempt=%d and the 451 in: %s", i+1, i+1, l)
		}
	}
	t.Logf("451, 451, accepted: gaps %v (retry_in %v)", deltas(t, append(failed, sent)), retryIns(failed))
	var got []localmail.Received
	for _, m := range sink.Received() {
		if strings.Trim(m.Header.Get("Message-Id"), "<>") == ackID {
			got = append(got, m)
		}
	}
	if len(got) != 1 {
		t.Errorf("the sink accepted the acknowledgement %d times, want once", len(got))
	} else if got[0].From != stack.Escalations {
		t.Errorf("envelope sender %q, want %s", got[0].From, stack.Escalations)
	}
	if n := refused.Load(); n != 3 {
		t.Errorf("%d DATA transactions for jane, want 3 (451, 451, accepted)", n)
	}
	d.stop(t)
}

// TestSMTP5xxPermanentFailure: Postfix refuses an unknown local recipient at
// RCPT TO: the acknowledgement is recorded as a permanent delivery failure
// (tracking file, show) and not retried; the mail behind it still goes.
func TestSMTP5xxPermanentFailure(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	f := writeConfig(t, addrs, daemonConfig{})
	d := startDaemon(t, f.Config)

	const nobody = "nobody@acme.test"
	req := &outMsg{From: "Nobody <" + nobody + ">", To: stack.Escalations, Subject: "Invoices missing",
		Body: "Our March invoices are missing from the portal.\n"}
	appendIMAP(t, addrs, escBox, "INBOX", req.bytes())
	refused := d.waitLog(t, `msg="mail refused permanently; not retried" kind=ack `, patience)
	if !strings.Contains(refused, "550") || !strings.Contains(refused, nobody) {
		t.Errorf("refusal does not quote Postfix's 550 for %s: %s", nobody, refused)
	}
	// The roster notification behind it is delivered: the queue goes on.
	waitMail(t, addrs, tier2Box, gotMsg.isNotice, 1, patience)
	tr := waitFile(t, f.Tracking(1), patience, "Delivery failure: "+nobody+": ")
	for _, l := range strings.Split(tr, "\n") {
		if strings.Contains(l, "Delivery failure") {
			t.Logf("tracking file: %s", l)
		}
	}
	out, _, code := runCLI(t, f.Config, "show", "ESC-00001")
	if code != 0 || !strings.Contains(out, "- failed ack to "+nobody) {
		t.Errorf("show (exit %d) does not list the acknowledgement as failed:\n%s", code, out)
	}
	if n := d.countLog(`kind=ack `); n != 1 {
		t.Errorf("%d log lines about the acknowledgement, want the one refusal:\n%s", n, strings.Join(d.logLines(`kind=ack `), "\n"))
	}
	d.stop(t)
	if n := d.countLog(`kind=ack `); n != 1 {
		t.Errorf("acknowledgement tried again before shutdown: %d log lines", n)
	}
}

// TestIMAPDovecotRestart: Dovecot stops while the daemon idles; the daemon
// logs the lost session, retries with backoff while it is down, reconnects
// when it is back and handles mail delivered after the restart.
func TestIMAPDovecotRestart(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	f := writeConfig(t, addrs, daemonConfig{})
	d := startDaemon(t, f.Config)

	before := &outMsg{From: "Bob <bob+before@globex.test>", To: stack.Escalations, Subject: "Search is slow", Body: "Search takes 30 s.\n"}
	sendSMTP(t, addrs, before, "")
	waitMail(t, addrs, bobBox, gotMsg.isAck, 1, patience)
	// Idle: nothing new to fetch after the marking.
	d.waitLog(t, `msg="marked handled"`, patience)

	stopServer(t, "dovecot")
	stopped := time.Now()
	const lost = `msg="IMAP session ended; reconnecting"`
	// Dovecot 2.3 serves logged-in sessions ~10 s more after its master
	// stopped (stop.sh returns after ~1 s), then says "* BYE Server
	// shutting down.": only then can any client notice.
	first := d.waitLog(t, lost, patience)
	t.Logf("session loss logged %s after stop.sh returned: %s", logTime(t, first).Sub(stopped).Round(time.Millisecond), first)
	// Two more attempts fail while Dovecot is down (connection refused).
	down := d.waitLogN(t, lost, 3, patience)
	if !strings.Contains(down[2], "connection refused") {
		t.Errorf("reconnect while down: %s", down[2])
	}
	restart := time.Now()
	stackCtl(t, "start")
	t.Logf("Dovecot down %s; start.sh took %s; reconnect gaps %v (retry_in %v)", time.Since(stopped).Round(10*time.Millisecond),
		time.Since(restart).Round(10*time.Millisecond), deltas(t, down), retryIns(down))
	for _, l := range down {
		if r, err := time.ParseDuration(logField(l, "retry_in")); err != nil || r > 2400*time.Millisecond {
			t.Errorf("retry_in %q: want at most reconnect_max 2s (+20%% jitter)", logField(l, "retry_in"))
		}
	}

	after := &outMsg{From: "Bob <bob+after@globex.test>", To: stack.Escalations, Subject: "Reports fail", Body: "Reports fail with an error.\n"}
	sendSMTP(t, addrs, after, "")
	applied := d.waitLog(t, `msg="message applied".* message_id=`+strings.Trim(after.MessageID, "<>")+` `, patience)
	t.Logf("message delivered after the restart applied %s after start.sh returned", logTime(t, applied).Sub(restart).Round(10*time.Millisecond))
	acks := waitMail(t, addrs, bobBox, gotMsg.isAck, 2, patience)
	if len(acks) != 2 {
		t.Errorf("bob has %d acknowledgements, want 2", len(acks))
	}
	if n := d.countLog(`msg="message applied"`); n != 2 {
		t.Errorf("%d messages applied, want 2", n)
	}
	d.stop(t)
}

// tcpProxy forwards connections to target and can cut them: all at once
// (cut), or once a number of bytes went from the server to the client
// (armCut). It counts the IDLE commands clients send.
type tcpProxy struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	open     map[net.Conn]net.Conn // client → server
	accepted int
	idles    int   // IDLE commands seen
	armed    int64 // > 0: cut once this many more bytes went server → client
	cuts     int   // times connections were cut
	changed  chan struct{}
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, open: map[net.Conn]net.Conn{}, changed: make(chan struct{})}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open[c] = s
			p.accepted++
			p.signalLocked()
			p.mu.Unlock()
			go p.pipe(c, s, false)
			go p.pipe(s, c, true)
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }

func (p *tcpProxy) signalLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// pipe copies from src to dst; down is the server → client direction.
func (p *tcpProxy) pipe(src, dst net.Conn, down bool) {
	defer src.Close()
	defer dst.Close()
	buf := make([]byte, 16<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
			p.mu.Lock()
			if !down && bytes.Contains(buf[:n], []byte(" IDLE\r\n")) {
				p.idles++
				p.signalLocked()
			}
			if down && p.armed > 0 {
				p.armed -= int64(n)
				if p.armed <= 0 {
					p.armed = 0
					p.cutLocked()
				}
			}
			p.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// cut closes every open connection and returns how many there were.
func (p *tcpProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cutLocked()
}

func (p *tcpProxy) cutLocked() int {
	n := len(p.open)
	for c, s := range p.open {
		c.Close()
		s.Close()
		delete(p.open, c)
	}
	p.cuts++
	p.signalLocked()
	return n
}

// armCut cuts every connection once n more bytes went server → client.
func (p *tcpProxy) armCut(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = n
}

// waitFor waits up to within for cond (called with p.mu held).
func (p *tcpProxy) waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ok, changed := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("proxy: after %s still not %s", within, what)
		}
	}
}

// bigBody is about size bytes of text lines.
func bigBody(n, size int) string {
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "request %02d, log line %05d: connection pool exhausted, retrying in 5s\n", n, i)
	}
	return b.String()
}

// TestIMAPConnectionCut: a proxy between the daemon and Dovecot cuts the
// connection while the daemon idles, then in the middle of a 2 MB FETCH of
// 30 messages: the daemon reconnects each time and applies and acknowledges
// every message exactly once.
func TestIMAPConnectionCut(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	p := startProxy(t, addrs.IMAP)
	f := writeConfig(t, addrs, daemonConfig{IMAPAddr: p.addr()})
	d := startDaemon(t, f.Config)
	const lost = `msg="IMAP session ended; reconnecting"`

	// Mid-IDLE.
	p.waitFor(t, patience, "idling", func() bool { return p.idles >= 1 })
	cutAt := time.Now()
	if n := p.cut(); n != 1 {
		t.Errorf("cut %d connections while idling, want the daemon's 1", n)
	}
	l := d.waitLog(t, lost, patience)
	p.waitFor(t, patience, "idling again", func() bool { return p.idles >= 2 })
	t.Logf("cut mid-IDLE: logged after %s (%s); idling again after %s", logTime(t, l).Sub(cutAt).Round(time.Millisecond),
		logField(l, "err"), time.Since(cutAt).Round(10*time.Millisecond))
	one := &outMsg{From: "Bob <bob+idle@globex.test>", To: stack.Escalations, Subject: "Dashboard blank", Body: "The dashboard is blank.\n"}
	sendSMTP(t, addrs, one, "")
	waitMail(t, addrs, bobBox, gotMsg.isAck, 1, patience)

	// Mid-FETCH: 30 messages of ~70 KB appear at once (one UID MOVE from a
	// staging mailbox); the proxy cuts after 1 MiB of the FETCH.
	const n, size = 30, 70 << 10
	want := map[string]bool{strings.Trim(one.MessageID, "<>"): true}
	var raws [][]byte
	for i := range n {
		m := &outMsg{From: fmt.Sprintf("Bob <bob+cut%02d@globex.test>", i), To: stack.Escalations,
			Subject: fmt.Sprintf("Batch job %02d stalls", i), Body: bigBody(i, size)}
		raws = append(raws, m.bytes())
		want[strings.Trim(m.MessageID, "<>")] = true
	}
	appendIMAP(t, addrs, escBox, stagingMailbox, raws...)
	p.armCut(1 << 20)
	moveAll(t, addrs, escBox, stagingMailbox, "INBOX")
	p.waitFor(t, patience, "cut mid-FETCH", func() bool { return p.cuts >= 2 })
	cutAt = time.Now()
	l = d.waitLogN(t, lost, 2, patience)[1]
	if !strings.Contains(l, "fetch") {
		t.Errorf("the cut did not interrupt a FETCH: %s", l)
	}
	applied := d.waitLogN(t, `msg="message applied"`, 1+n, patience)
	t.Logf("cut mid-FETCH after 1 MiB of ~%d KiB: logged %q; all %d applied %s after the cut; batches fetched: %q",
		n*size>>10, logField(l, "err"), n, logTime(t, applied[len(applied)-1]).Sub(cutAt).Round(10*time.Millisecond),
		d.logLines(`msg="fetching batch"`))

	// Every message applied exactly once, each acknowledged once.
	if dup := d.countLog(`duplicate message`); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	seen := map[string]int{}
	for _, a := range applied {
		seen[logField(a, "message_id")]++
	}
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("message %s applied %d times", id, seen[id])
		}
	}
	list, _, _ := runCLI(t, f.Config, "list")
	if !strings.Contains(list, fmt.Sprintf("%d open, 0 resolved", n+1)) {
		t.Errorf("list:\n%s", list)
	}
	acks := waitMail(t, addrs, bobBox, gotMsg.isAck, n+1, patience)
	replied := map[string]int{}
	for _, a := range acks {
		replied[strings.Trim(a.get("In-Reply-To"), "<>")]++
	}
	for id := range want {
		if replied[id] != 1 {
			t.Errorf("message %s acknowledged %d times", id, replied[id])
		}
	}
	waitUntil(t, patience, "every message marked \\Seen", func() bool {
		box := listBox(t, addrs, escBox, "INBOX")
		for _, m := range box {
			if !m.has(imap.FlagSeen) {
				return false
			}
		}
		return len(box) == n+1
	})
	d.stop(t)
}

// TestIMAPBadCredentials: a refused login is logged as such and retried
// only at imap.reconnect_max, never in a tight loop.
func TestIMAPBadCredentials(t *testing.T) {
	addrs := stack.Require(t)
	stack.Lock(t)
	f := writeConfig(t, addrs, daemonConfig{IMAPPassword: "wrong-password", ReconnectMax: 2 * time.Second})
	d := startDaemon(t, f.Config)
	const refused = `level=ERROR msg="IMAP login refused; check imap.username and the password"`
	// The rate is the point. A count of attempts in a fixed time would
	// depend on how fast a busy machine gets through each one; instead, four
	// attempts in a row each say they wait reconnect_max, and each gap
	// between them is at least that long (10 ms for the rounding of the log
	// times), so the daemon never retries in a tight loop. A daemon waiting
	// much longer would not log four within patience.
	lines := d.waitLogN(t, refused, 4, patience)
	gaps := deltas(t, lines)
	t.Logf("%d refused logins, gaps %v; %s", len(lines), gaps, lines[0])
	for _, l := range lines {
		if r := logField(l, "retry_in"); r != "2s" {
			t.Errorf("retry_in %q after a refused login, want reconnect_max (2s): %s", r, l)
		}
	}
	for i, gap := range gaps {
		if gap < 2*time.Second-10*time.Millisecond {
			t.Errorf("login attempt %d came %s after the one before, want at least reconnect_max (2s)", i+2, gap)
		}
	}
	if d.countLog(`IMAP session ended`) != 0 {
		t.Errorf("a refused login was also logged as a lost session")
	}
	if strings.Contains(d.log.String(), "wrong-password") {
		t.Errorf("the password appears in the log")
	}
	d.stop(t)
}

// TestShutdownDuringBacklog: SIGTERM while the daemon works through 100
// messages: exit 0 within 10 s with nothing half-applied; a restart finishes
// the backlog, every message applied and acknowledged exactly once.
func TestShutdownDuringBacklog(t *testing.T) {
	addrs := stack.Require(t)
	lockStack(t, addrs)
	const n = 100
	var raws [][]byte
	want := map[string]bool{}
	for i := range n {
		m := &outMsg{From: fmt.Sprintf("Bob <bob+r%03d@globex.test>", i), To: stack.Escalations,
			Subject: fmt.Sprintf("Backlog request %03d", i), Body: fmt.Sprintf("Request %d of the backlog.\n", i)}
		raws = append(raws, m.bytes())
		want[strings.Trim(m.MessageID, "<>")] = true
	}
	appendIMAP(t, addrs, escBox, stagingMailbox, raws...)
	moveAll(t, addrs, escBox, stagingMailbox, "INBOX")
	f := writeConfig(t, addrs, daemonConfig{})

	d1 := startDaemon(t, f.Config)
	d1.waitLog(t, `msg="message applied"`, patience)
	took := d1.stop(t)
	applied1 := d1.logLines(`msg="message applied"`)
	acks1 := d1.countLog(`msg="mail sent" kind=ack `)
	t.Logf("SIGTERM after the first message: exit 0 after %s; %d of %d applied, %d acknowledgements sent", took.Round(time.Millisecond), len(applied1), n, acks1)
	if len(applied1) == n {
		t.Logf("note: the whole backlog was done before SIGTERM took effect")
	}
	// Nothing half-applied: every committed escalation has its tracking
	// file, and the store holds exactly what the log says was applied.
	files, _ := filepath.Glob(filepath.Join(f.EscDir, "ESC-*-tracking.md"))
	if len(files) != len(applied1) {
		t.Errorf("%d tracking files for %d applied messages", len(files), len(applied1))
	}
	list, _, _ := runCLI(t, f.Config, "list")
	if !strings.Contains(list, fmt.Sprintf("\n%d open, 0 resolved", len(applied1))) {
		t.Errorf("store after shutdown, want %d escalations:\n%s", len(applied1), list)
	}
	seen := 0
	for _, m := range listBox(t, addrs, escBox, "INBOX") {
		if m.has(imap.FlagSeen) {
			seen++
		}
	}
	// A clean stop marks what it committed (a crash leaves that to the
	// next start).
	if seen != len(applied1) {
		t.Errorf("%d messages marked \\Seen after a clean stop, want the %d applied", seen, len(applied1))
	}
	t.Logf("after shutdown: %d tracking files, %d messages marked \\Seen", len(files), seen)

	d2 := startDaemon(t, f.Config)
	applied2 := d2.waitLogN(t, `msg="message applied"`, n-len(applied1), patience)
	acks := waitMail(t, addrs, bobBox, gotMsg.isAck, n, patience)
	d2.stop(t)

	count := map[string]int{}
	for _, a := range append(applied1, applied2...) {
		count[logField(a, "message_id")]++
	}
	for id := range want {
		if count[id] != 1 {
			t.Errorf("message %s applied %d times", id, count[id])
		}
	}
	if dup := d1.countLog(`duplicate message`) + d2.countLog(`duplicate message`); dup != 0 {
		t.Errorf("%d duplicates", dup)
	}
	acks = filterMsgs(inbox(t, addrs, bobBox), gotMsg.isAck)
	ids, replied := map[string]bool{}, map[string]int{}
	for _, a := range acks {
		ids[a.msgID()] = true
		replied[strings.Trim(a.get("In-Reply-To"), "<>")]++
	}
	if len(acks) != n || len(ids) != n {
		t.Errorf("%d acknowledgements with %d distinct Message-IDs, want %d of each", len(acks), len(ids), n)
	}
	for id := range want {
		if replied[id] != 1 {
			t.Errorf("request %s acknowledged %d times", id, replied[id])
		}
	}
	if sent := acks1 + d2.countLog(`msg="mail sent" kind=ack `); sent != n {
		t.Errorf("%d acknowledgements sent in all, want %d", sent, n)
	}
	box := listBox(t, addrs, escBox, "INBOX")
	unseen := 0
	for _, m := range box {
		if !m.has(imap.FlagSeen) {
			unseen++
		}
	}
	if len(box) != n || unseen != 0 {
		t.Errorf("INBOX holds %d messages, %d not \\Seen; want %d, all \\Seen", len(box), unseen, n)
	}
	list, _, _ = runCLI(t, f.Config, "list")
	if !strings.Contains(list, fmt.Sprintf("\n%d open, 0 resolved", n)) {
		t.Errorf("list:\n%s", tail(list, 3))
	}
}
