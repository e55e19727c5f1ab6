package e2e

// Crash safety against the real stack (SPEC §8 outbox, §10 never lose): a
// backlog of 500 messages in the escalation mailbox, the daemon SIGKILLed a
// dozen times while it works (in the middle of a batch, right after a mail
// was sent, right after a batch was marked, right at start-up) and restarted
// each time, then left to finish. Nothing may be lost or applied twice, no
// escalation may get a second distinct acknowledgement, and no tracking file
// may be torn.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	_ "modernc.org/sqlite"

	"github.com/escalationd/escalationd/internal/e2e/stack"
	"github.com/escalationd/escalationd/workflow"
)

const (
	crashRequests = 350 // new escalation requests in the backlog
	crashReplies  = 150 // customer replies to them, half by tag, half by In-Reply-To
	crashSeed1    = 20260311
	crashSeed2    = 42
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

// crashBacklog builds the requests in order, then inserts each reply at a
// random place after the request it answers. Every message has its own
// Message-ID; each request its own plus-addressed sender.
func crashBacklog(rng *rand.Rand, token string) []crashMsg {
	seq := make([]crashMsg, 0, crashRequests+crashReplies)
	for i := 1; i <= crashRequests; i++ {
		seq = append(seq, crashMsg{req: i, mid: crashReqMID(token, i)})
	}
	for r := 1; r <= crashReplies; r++ {
		j := 1 + rng.IntN(crashRequests)
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

// crashWriteConfig writes the daemon's config for the stack. Roster: the real
// tier2@example.com, so every new (Technical, Tier 2) escalation also sends
// one notification. No customers entry: each plus-addressed sender is its own
// customer, so the repeat rule of §4 does not turn requests Executive.
func crashWriteConfig(t *testing.T, dir string, addrs stack.Addrs) string {
	t.Helper()
	imapHost, imapPort := crashSplit(t, addrs.IMAP)
	smtpHost, smtpPort := crashSplit(t, addrs.SMTP)
	cfg := fmt.Sprintf(`imap:
  host: %s
  port: %s
  tls: none
  username: %s
  password: %s
  mailbox: INBOX
  quarantine_mailbox: Quarantine
  poll_interval: 2s
  idle: true
  reconnect_max: 2s
smtp:
  host: %s
  port: %s
  tls: none
  from: "Escalations <%s>"
  retry_min: 1s
  retry_max: 2s
escalation:
  address: %s
  id_prefix: ESC
  dir: %s
  data_dir: %s
  timezone: UTC
  update_interval: 4h
  timer_tick: 30s
limits:
  acks_per_sender_per_hour: 100000
staff:
  domains: [example.com]
roster:
  technical:
    "Tier 2": [%s]
`, imapHost, imapPort, stack.Escalations, stack.EscalationsPass, smtpHost, smtpPort, stack.Escalations, stack.Escalations,
		filepath.Join(dir, "escalations"), filepath.Join(dir, "data"), stack.Tier2)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func crashSplit(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}

// crashEnv is the test's environment without ESCALATIOND_ overrides.
func crashEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATIOND_") {
			env = append(env, kv)
		}
	}
	return env
}

// crashLog collects every daemon run's stderr in one file and counts the
// lines that matter over all runs.
type crashLog struct {
	mu        sync.Mutex
	f         *os.File
	last      time.Time
	applied   int            // "message applied" lines, all runs
	sent      int            // "mail sent" lines, all runs
	appliedBy map[string]int // "message applied" lines per Message-ID
	errors    []string       // ERROR lines
	swept     int            // files left by a crash that a start removed
}

func (l *crashLog) add(run int, line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.f, "#%02d %s\n", run, line)
	l.last = time.Now()
	switch {
	case strings.Contains(line, `msg="message applied"`):
		l.applied++
		l.appliedBy[crashField(line, "message_id")]++
	case strings.Contains(line, `msg="mail sent"`):
		l.sent++
	case strings.Contains(line, `msg="removed `):
		n, _ := strconv.Atoi(crashField(line, "count"))
		l.swept += n
	}
	if strings.Contains(line, "level=ERROR") {
		l.errors = append(l.errors, fmt.Sprintf("#%02d %s", run, line))
	}
}

func (l *crashLog) quiet() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.last)
}

// tail returns the last n lines written.
func (l *crashLog) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, _ := os.ReadFile(l.f.Name())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// crashField returns the value of key in a slog text line.
func crashField(line, key string) string {
	i := strings.Index(line, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		if s, err := strconv.QuotedPrefix(v); err == nil {
			u, _ := strconv.Unquote(s)
			return u
		}
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// crashRun is one daemon process. Its stderr is read line by line; trigger,
// called for each line with the counters updated, kills it at once (from the
// reading goroutine, so the kill lands within the daemon's next steps).
type crashRun struct {
	n    int
	cmd  *exec.Cmd
	done chan struct{}
	err  error // from Wait

	mu      sync.Mutex
	lines   int
	applied int // "message applied" lines in this run
	sent    int // "mail sent" lines in this run
	marked  int // "marked handled" lines in this run

	triggered       bool
	trigApplied     int  // applied in this run when the trigger fired
	markedAfterTrig bool // a "marked handled" line came after the trigger
	linesAfterTrig  int
}

func crashStart(t *testing.T, bin, cfgPath string, n int, lg *crashLog, k *crashKill) *crashRun {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Env = crashEnv()
	cmd.Dir = filepath.Dir(cfgPath)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &crashRun{n: n, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start escalationd: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for sc.Scan() {
			line := sc.Text()
			lg.add(n, line)
			r.mu.Lock()
			r.lines++
			if r.triggered {
				r.linesAfterTrig++
			}
			switch {
			case strings.Contains(line, `msg="message applied"`):
				r.applied++
			case strings.Contains(line, `msg="mail sent"`):
				r.sent++
			case strings.Contains(line, `msg="marked handled"`):
				r.marked++
				if r.triggered {
					r.markedAfterTrig = true
				}
			}
			if !r.triggered && k != nil && k.trigger(r, line) {
				r.triggered = true
				r.trigApplied = r.applied
				if k.delay > 0 {
					time.AfterFunc(k.delay, func() { cmd.Process.Kill() })
				} else {
					cmd.Process.Kill()
				}
			}
			r.mu.Unlock()
		}
		io.Copy(io.Discard, stderr)
		r.err = cmd.Wait()
		close(r.done)
	}()
	return r
}

// crashKill is one planned kill: its phase and the count that triggers it.
type crashKill struct {
	phase string // start, mid-batch, mid-send, mid-mark
	n     int
	delay time.Duration // from the trigger line to SIGKILL
}

func (k crashKill) trigger(r *crashRun, line string) bool {
	switch k.phase {
	case "start":
		return r.lines >= k.n
	case "mid-batch":
		return strings.Contains(line, `msg="message applied"`) && r.applied >= k.n
	case "mid-send":
		return strings.Contains(line, `msg="mail sent"`) && r.sent >= k.n
	case "mid-mark":
		// A batch's marking, not only the recovery marking at start-up.
		return strings.Contains(line, `msg="marked handled"`) && r.applied > 0
	}
	return false
}

func (k crashKill) String() string {
	switch k.phase {
	case "start":
		return fmt.Sprintf("start (after log line %d)", k.n)
	case "mid-batch":
		return fmt.Sprintf("mid-batch (%s after %d applied this run)", k.delay, k.n)
	case "mid-send":
		return fmt.Sprintf("mid-send (after %d mail sent this run)", k.n)
	}
	return "mid-mark (after the first batch marked this run)"
}

// crashPlan is the kill schedule: 12 kills, 6 of them mid-batch (two in a
// run's second batch), with counts from the fixed-seed rng.
func crashPlan(rng *rand.Rand) []crashKill {
	phases := []string{"start", "mid-batch", "mid-send", "mid-batch", "mid-mark", "mid-batch",
		"start", "mid-batch", "mid-send", "mid-batch", "mid-mark", "mid-batch"}
	var plan []crashKill
	batches := 0
	for _, p := range phases {
		k := crashKill{phase: p}
		switch p {
		case "start":
			k.n = 1 + rng.IntN(2)
		case "mid-batch":
			k.n = 2 + rng.IntN(47) // 2..48: inside a run's first batch of 50
			if batches == 2 || batches == 5 {
				k.n += 50 // inside its second batch
			}
			// Half of them at once: the kill lands in the transaction of
			// the message just logged (the log line comes before the
			// commit). The others a little later: after a commit, in a
			// tracking-file write, or before the next message.
			if batches%2 == 1 {
				k.delay = time.Duration(1+rng.IntN(20)) * time.Millisecond
			}
			batches++
		case "mid-send":
			k.n = 1 + rng.IntN(8)
		}
		plan = append(plan, k)
	}
	return plan
}

func crashOpenStore(t *testing.T, dataDir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "escalationd.db")+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// crashProgress reads the store: messages recorded and marked, mail queued,
// escalations whose tracking file is behind.
func crashProgress(db *sql.DB) (msgs, marked, queued, behind int, err error) {
	if err = db.QueryRow(`SELECT count(*), coalesce(sum(marked), 0) FROM messages`).Scan(&msgs, &marked); err != nil {
		return
	}
	if err = db.QueryRow(`SELECT count(*) FROM outbox WHERE status = 'queued'`).Scan(&queued); err != nil {
		return
	}
	err = db.QueryRow(`SELECT count(*) FROM escalations WHERE rendered_version < version`).Scan(&behind)
	return
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

func TestCrashSafety(t *testing.T) {
	addrs := stack.Require(t)
	stack.Lock(t)
	begin := time.Now()

	for _, mb := range []struct{ user, pass string }{
		{stack.Escalations, stack.EscalationsPass}, {stack.Jane, stack.CustomerPass}, {stack.Tier2, stack.StaffPass},
	} {
		if err := stack.Clear(addrs.IMAP, mb.user, mb.pass, "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok, err := crashStatus(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil {
		t.Fatal(err)
	} else if ok {
		if err := stack.Clear(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	bin := buildBinary(t) // shared with the rest of the suite: built once
	cfgPath := crashWriteConfig(t, dir, addrs)
	escDir, dataDir := filepath.Join(dir, "escalations"), filepath.Join(dir, "data")

	rng := rand.New(rand.NewPCG(crashSeed1, crashSeed2))
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	msgs := crashBacklog(rng, token)
	if err := crashAppend(addrs.IMAP, msgs); err != nil {
		t.Fatal(err)
	}
	replies := map[int]int{} // escalation number → replies
	for _, m := range msgs {
		if m.reply != 0 {
			replies[m.req]++
		}
	}
	t.Logf("backlog: %d messages (%d requests, %d replies) appended in %s", len(msgs), crashRequests, crashReplies, time.Since(begin).Round(time.Millisecond))

	lf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lg := &crashLog{f: lf, last: time.Now(), appliedBy: map[string]int{}}
	failed := true
	defer func() {
		if failed || t.Failed() {
			t.Logf("daemon log tail:\n%s", lg.tail(60))
		}
	}()

	// The kills.
	plan := crashPlan(rng)
	var busy time.Duration // the daemon's running time until the work was done
	phaseCount := map[string]int{}
	midBatchLanded := 0
	for i, k := range plan {
		started := time.Now()
		r := crashStart(t, bin, cfgPath, i+1, lg, &k)
		select {
		case <-r.done:
		case <-time.After(25 * time.Second):
			r.cmd.Process.Kill()
			<-r.done
			t.Fatalf("kill #%d (%s): the trigger did not come within 25 s", i+1, k)
		}
		r.mu.Lock()
		triggered, trigApplied, applied, markedAfter, after := r.triggered, r.trigApplied, r.applied, r.markedAfterTrig, r.linesAfterTrig
		r.mu.Unlock()
		if !triggered {
			t.Fatalf("kill #%d (%s): the daemon exited by itself: %v", i+1, k, r.err)
		}
		busy += time.Since(started)
		phaseCount[k.phase]++
		landed := ""
		if k.phase == "mid-batch" {
			if markedAfter {
				landed = ", landed after the batch was marked"
			} else {
				midBatchLanded++
				landed = ", landed mid-batch"
			}
		}
		lg.mu.Lock()
		total := lg.applied
		lg.mu.Unlock()
		t.Logf("kill #%02d phase=%-9s trigger=%s: applied this run %d at trigger, %d logged by death (%d lines after); applied lines so far %d%s",
			i+1, k.phase, k, trigApplied, applied, after, total, landed)
	}
	if midBatchLanded < 5 {
		t.Errorf("only %d kills landed mid-batch, want at least 5", midBatchLanded)
	}

	// The last run finishes the work.
	finalStart := time.Now()
	final := crashStart(t, bin, cfgPath, len(plan)+1, lg, nil)
	db := crashOpenStore(t, dataDir)
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	var nMsgs, nMarked, nQueued, nBehind int
	for {
		var err error
		nMsgs, nMarked, nQueued, nBehind, err = crashProgress(db)
		if quiet := lg.quiet(); err == nil && nMsgs == len(msgs) && nMarked == len(msgs) && nQueued == 0 && nBehind == 0 && quiet > time.Second {
			busy += time.Since(finalStart) - quiet
			break
		}
		select {
		case <-final.done:
			t.Fatalf("the last run exited by itself: %v", final.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not finished after 60 s: %d of %d messages recorded, %d marked, %d mail queued, %d tracking files behind (err %v)",
				nMsgs, len(msgs), nMarked, nQueued, nBehind, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Postfix delivers what it accepted within milliseconds; wait until the
	// recipients' mailboxes hold every escalation's mail and stop growing.
	var janeN, tier2N int
	stable := time.Now()
	for {
		j, _, _, err1 := crashStatus(addrs.IMAP, stack.Jane, stack.CustomerPass, "INBOX")
		t2, _, _, err2 := crashStatus(addrs.IMAP, stack.Tier2, stack.StaffPass, "INBOX")
		if err1 != nil || err2 != nil {
			t.Fatalf("status: %v %v", err1, err2)
		}
		if j != janeN || t2 != tier2N {
			janeN, tier2N, stable = j, t2, time.Now()
		}
		if janeN >= crashRequests && tier2N >= crashRequests && time.Since(stable) > time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mail not delivered: jane has %d, tier2 has %d, want %d each", janeN, tier2N, crashRequests)
		}
		time.Sleep(200 * time.Millisecond)
	}
	final.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-final.done:
	case <-time.After(12 * time.Second):
		final.cmd.Process.Kill()
		<-final.done
		t.Fatalf("no exit within 12 s of SIGTERM")
	}
	if final.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", final.err)
	}
	ctx := context.Background()

	// 1. Every message applied exactly once.
	wantEsc := map[string]int{} // Message-ID → escalation it belongs to
	for _, m := range msgs {
		wantEsc[m.mid] = m.req
	}
	rows, err := db.QueryContext(ctx, `SELECT message_id, coalesce(esc_id, 0), disposition, marked FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	appliedRows := map[string]int{}
	for rows.Next() {
		var mid, disp string
		var esc int
		var marked bool
		if err := rows.Scan(&mid, &esc, &disp, &marked); err != nil {
			t.Fatal(err)
		}
		if disp != "applied" {
			t.Errorf("message %s: disposition %s, want applied", mid, disp)
			continue
		}
		appliedRows[mid]++
		if want, ok := wantEsc[mid]; !ok {
			t.Errorf("message %s applied but not in the backlog", mid)
		} else if esc != want {
			t.Errorf("message %s applied to ESC-%05d, want ESC-%05d", mid, esc, want)
		}
		if !marked {
			t.Errorf("message %s: not recorded as marked", mid)
		}
	}
	rows.Close()
	lost, appliedTwice := 0, 0
	for _, m := range msgs {
		switch n := appliedRows[m.mid]; {
		case n == 0:
			lost++
			t.Errorf("message %s lost: not applied", m.mid)
		case n > 1:
			appliedTwice++
			t.Errorf("message %s applied %d times", m.mid, n)
		}
	}
	var nEsc int
	if err := db.QueryRow(`SELECT count(*) FROM escalations`).Scan(&nEsc); err != nil {
		t.Fatal(err)
	}
	if nEsc != crashRequests {
		t.Errorf("%d escalations, want %d", nEsc, crashRequests)
	}
	rootOK := 0
	rows, err = db.QueryContext(ctx, `SELECT id, root_message_id FROM escalations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var root string
		if err := rows.Scan(&id, &root); err != nil {
			t.Fatal(err)
		}
		if root != crashReqMID(token, id) {
			t.Errorf("ESC-%05d opened by %s, want %s", id, root, crashReqMID(token, id))
		} else {
			rootOK++
		}
	}
	rows.Close()
	inbound, outbound := map[int]int{}, map[int]int{}
	rows, err = db.QueryContext(ctx, `SELECT esc_id, inbound, count(*) FROM log GROUP BY esc_id, inbound`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, n int
		var in bool
		if err := rows.Scan(&id, &in, &n); err != nil {
			t.Fatal(err)
		}
		if in {
			inbound[id] = n
		} else {
			outbound[id] = n
		}
	}
	rows.Close()
	for id := 1; id <= crashRequests; id++ {
		if inbound[id] != 1+replies[id] {
			t.Errorf("ESC-%05d: %d inbound log entries, want %d (1 + %d replies)", id, inbound[id], 1+replies[id], replies[id])
		}
		if outbound[id] != 2 {
			t.Errorf("ESC-%05d: %d outbound log entries, want 2 (acknowledgement, notification)", id, outbound[id])
		}
	}
	outbox := map[string]int{}
	rows, err = db.QueryContext(ctx, `SELECT kind || '/' || status, count(*) FROM outbox GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		outbox[k] = n
	}
	rows.Close()
	if len(outbox) != 2 || outbox["ack/sent"] != crashRequests || outbox["notify/sent"] != crashRequests {
		t.Errorf("outbox %v, want %d ack/sent and %d notify/sent only", outbox, crashRequests, crashRequests)
	}
	logTwice := 0
	for mid, n := range lg.appliedBy {
		if n > 1 {
			logTwice++
			t.Logf("log: %q logged \"message applied\" %d times (store: %d applied row)", mid, n, appliedRows[mid])
		}
	}

	// 2. One distinct acknowledgement per escalation; notifications likewise.
	acks := crashMailbox(t, addrs.IMAP, stack.Jane, stack.CustomerPass)
	ackBy, ackCopies := crashGroup(acks)
	notes := crashMailbox(t, addrs.IMAP, stack.Tier2, stack.StaffPass)
	noteBy, noteCopies := crashGroup(notes)
	distinctAcks, distinctNotes := 0, 0
	for _, m := range acks {
		if m.tag == "" {
			t.Errorf("jane got mail without a tag: %q", m.subject)
			continue
		}
		id, _ := strconv.Atoi(strings.TrimPrefix(m.tag, "ESC-"))
		if m.inReplyTo != crashReqMID(token, id) {
			t.Errorf("acknowledgement %s (%q) answers <%s>, want <%s>", m.mid, m.subject, m.inReplyTo, crashReqMID(token, id))
		}
		if !strings.Contains(m.subject, "Escalation Acknowledged") {
			t.Errorf("jane got something other than an acknowledgement: %q", m.subject)
		}
	}
	for id := 1; id <= crashRequests; id++ {
		tag := fmt.Sprintf("ESC-%05d", id)
		switch n := len(ackBy[tag]); n {
		case 1:
			distinctAcks++
		case 0:
			lost++
			t.Errorf("%s: no acknowledgement delivered", tag)
		default:
			distinctAcks++
			t.Errorf("%s: %d distinct acknowledgement Message-IDs: %v", tag, n, ackBy[tag])
		}
		switch n := len(noteBy[tag]); n {
		case 1:
			distinctNotes++
		case 0:
			lost++
			t.Errorf("%s: no notification delivered to %s", tag, stack.Tier2)
		default:
			distinctNotes++
			t.Errorf("%s: %d distinct notification Message-IDs: %v", tag, n, noteBy[tag])
		}
	}
	if len(ackBy) > crashRequests || len(noteBy) > crashRequests {
		t.Errorf("mail for unknown escalations: %d ack tags, %d notification tags", len(ackBy), len(noteBy))
	}
	for _, g := range []struct {
		name string
		by   map[string]map[string]int
	}{{"acknowledgement", ackBy}, {"notification", noteBy}} {
		for tag, mids := range g.by {
			for mid, n := range mids {
				if n > 1 {
					t.Logf("%s %s of %s delivered %d times (same Message-ID: a kill right after the server accepted it, allowed by §8)", g.name, mid, tag, n)
				}
			}
		}
	}

	// 3. Every message marked handled on the server; nothing quarantined.
	total, seen, err := crashSeenCount(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if total != len(msgs) || seen != len(msgs) {
		t.Errorf("escalations INBOX: %d messages, %d \\Seen; want %d, all \\Seen", total, seen, len(msgs))
	}
	if q, _, _, err := crashStatus(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil || q != 0 {
		t.Errorf("Quarantine: %d messages (err %v), want 0", q, err)
	}

	// 4. No torn tracking file, none behind the store, no temp file left.
	intact := 0
	for id := 1; id <= crashRequests; id++ {
		tag := fmt.Sprintf("ESC-%05d", id)
		b, err := os.ReadFile(filepath.Join(escDir, tag+"-tracking.md"))
		if err != nil {
			t.Errorf("%s: %v", tag, err)
			continue
		}
		if problem := crashCheckTracking(string(b), tag, inbound[id], outbound[id]); problem != "" {
			t.Errorf("%s-tracking.md: %s", tag, problem)
			continue
		}
		intact++
	}
	temps, _ := filepath.Glob(filepath.Join(escDir, ".*.tmp"))
	if len(temps) > 0 {
		t.Errorf("temp files left in escalations/: %v", temps)
	}
	// The last run removes what earlier kills left half-written in data_dir.
	rawTemps, _ := filepath.Glob(filepath.Join(dataDir, "raw", "incoming-*"))
	spool, _ := filepath.Glob(filepath.Join(dataDir, "spool", "*"))
	if len(rawTemps)+len(spool) > 0 {
		t.Errorf("left in data_dir: raw-archive temp files %v, spool files %v", rawTemps, spool)
	}
	for _, e := range lg.errors {
		t.Logf("daemon error line: %s", e)
	}

	took := time.Since(begin).Round(time.Second)
	t.Logf("crash test: %d messages, %d kills (%d mid-batch [%d landed mid-batch], %d mid-send, %d mid-mark, %d at start), %d escalations (%d opened by their request), %d distinct acks, %d duplicate ack copies (same Message-ID), %d distinct notifications, %d duplicate notification copies, %d \"mail sent\" lines for %d mails, %d lost, %d applied twice (store), %d Message-IDs logged \"message applied\" twice, %d of %d marked \\Seen, %d tracking files intact, %d temp files left (%d removed at restarts), daemon busy %s over %d runs (%.0f messages/s, %.0f mails/s), took %s",
		len(msgs), len(plan), phaseCount["mid-batch"], midBatchLanded, phaseCount["mid-send"], phaseCount["mid-mark"], phaseCount["start"],
		nEsc, rootOK, distinctAcks, ackCopies, distinctNotes, noteCopies, lg.sent, 2*crashRequests, lost, appliedTwice, logTwice, seen, total, intact, len(temps)+len(rawTemps)+len(spool), lg.swept,
		busy.Round(100*time.Millisecond), len(plan)+1, float64(len(msgs))/busy.Seconds(), float64(2*crashRequests)/busy.Seconds(), took)
	// At most workflow.MaxUnrecorded mails are out without their result
	// committed: each kill can cut at most that many off between the
	// server's acceptance and the outbox commit.
	if ackCopies+noteCopies > len(plan)*workflow.MaxUnrecorded {
		t.Errorf("%d duplicate copies for %d kills: more than %d mails accepted and unrecorded per kill", ackCopies+noteCopies, len(plan), workflow.MaxUnrecorded)
	}
	if lost != 0 || appliedTwice != 0 {
		t.Errorf("lost %d, applied twice %d: want 0", lost, appliedTwice)
	}
	failed = false
}

// crashCheckTracking checks one tracking file is whole and shows the store:
// it starts with the title, ends with the Resolution Plan section and a
// newline, and its Communication Log has one entry per logged mail.
func crashCheckTracking(s, tag string, inbound, outbound int) string {
	if !strings.HasPrefix(s, "# Escalation Tracking:") {
		return "does not start with \"# Escalation Tracking:\""
	}
	if !strings.HasSuffix(s, "\n") {
		return "does not end with a newline"
	}
	if !strings.Contains(s, "\n**ID**: "+tag+"\n") {
		return "no **ID** line for " + tag
	}
	var headings []string
	section := ""
	received, sent := 0, 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
			headings = append(headings, line)
			continue
		}
		if section == "## Communication Log" && strings.HasPrefix(line, "### ") {
			switch {
			case strings.Contains(line, " — received from "):
				received++
			case strings.Contains(line, " — sent to "):
				sent++
			}
		}
	}
	if len(headings) == 0 || headings[len(headings)-1] != "## Resolution Plan" {
		return fmt.Sprintf("the last section is %q, want \"## Resolution Plan\"", headings)
	}
	if !slices.Contains(headings, "## Communication Log") {
		return "no Communication Log"
	}
	if received != inbound || sent != outbound {
		return fmt.Sprintf("Communication Log has %d received / %d sent entries, the store %d / %d", received, sent, inbound, outbound)
	}
	return ""
}
