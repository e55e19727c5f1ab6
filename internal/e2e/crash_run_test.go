package e2e

// The crash test's daemon runs: the config, one process with its stderr
// read line by line, the kill that ends it, and the store read between runs.

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

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
  acks_per_domain_per_hour: 100000
  acks_per_hour: 100000
  notifications_per_hour: 100000
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
	phase  string // start, mid-batch, mid-send, mid-mark
	n      int
	delay  time.Duration // from the trigger line to SIGKILL
	second bool          // mid-batch: inside the run's second batch
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

// need is what the backlog must still hold, unapplied, for the trigger to
// come at all: messages, and requests (each sends an acknowledgement and a
// notification). A run applies everything that is left, so a mid-batch
// trigger at n needs n messages and one more after it, to land inside the
// batch rather than at its end.
func (k crashKill) need() (msgs, requests int) {
	switch k.phase {
	case "mid-batch":
		return k.n + 1, 0
	case "mid-send":
		return 1, k.n
	case "mid-mark":
		return 1, 0
	}
	return 0, 0
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
// run's second batch), with counts from the fixed-seed rng. The counts are
// what each trigger waits for in its own run; the test refills the backlog
// before a run whose trigger could not come from what is left.
func crashPlan(rng *rand.Rand) []crashKill {
	phases := []string{"start", "mid-batch", "mid-send", "mid-batch", "mid-mark", "mid-batch",
		"start", "mid-batch", "mid-send", "mid-batch", "mid-mark", "mid-batch"}
	var plan []crashKill
	batches := 0
	for _, p := range phases {
		var k crashKill
		switch p {
		case "mid-batch":
			k = crashMidBatch(rng, batches == 2 || batches == 5, batches%2 == 1)
			batches++
		case "start":
			k = crashKill{phase: p, n: 1 + rng.IntN(2)}
		case "mid-send":
			k = crashKill{phase: p, n: 1 + rng.IntN(8)}
		default:
			k = crashKill{phase: p}
		}
		plan = append(plan, k)
	}
	return plan
}

// crashMidBatch is a kill in the middle of a batch: after 2..48 messages
// applied in the run's first batch of 50, or in its second. Delayed, it lands
// a little later (after a commit, in a tracking-file write, or before the
// next message); at once, in the transaction of the message just logged
// (the log line comes before the commit).
func crashMidBatch(rng *rand.Rand, second, delayed bool) crashKill {
	k := crashKill{phase: "mid-batch", n: 2 + rng.IntN(47), second: second}
	if second {
		k.n += 50
	}
	if delayed {
		k.delay = time.Duration(1+rng.IntN(20)) * time.Millisecond
	}
	return k
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

// crashStall is how long a daemon may log nothing while work is left before
// the test calls it stuck. It is a safety net, not a budget: the test waits
// for states, however long a busy machine takes to reach them, as long as
// the daemon keeps going.
const crashStall = 90 * time.Second

// crashStorePath is the daemon's SQLite store under dataDir.
func crashStorePath(dataDir string) string { return filepath.Join(dataDir, "escalationd.db") }

// crashLeft reads the store between runs: how many messages of the backlog,
// and how many of its requests, are not applied yet. Before the first run
// there is no store and everything is left.
func crashLeft(t *testing.T, dataDir string, msgs []crashMsg) (left, leftRequests int) {
	t.Helper()
	applied := map[string]bool{}
	if _, err := os.Stat(crashStorePath(dataDir)); err == nil {
		db := crashOpenStore(t, dataDir)
		defer db.Close()
		rows, err := db.Query(`SELECT message_id FROM messages WHERE disposition = 'applied'`)
		if err != nil {
			t.Fatalf("read the store: %v", err)
		}
		for rows.Next() {
			var mid string
			if err := rows.Scan(&mid); err != nil {
				t.Fatal(err)
			}
			applied[mid] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	for _, m := range msgs {
		if !applied[m.mid] {
			left++
			if m.reply == 0 {
				leftRequests++
			}
		}
	}
	return left, leftRequests
}

// crashFinished reports whether the store shows the whole backlog of total
// messages applied and marked, no mail queued and no tracking file behind.
func crashFinished(t *testing.T, dataDir string, total int) bool {
	t.Helper()
	if _, err := os.Stat(crashStorePath(dataDir)); err != nil {
		return false
	}
	db := crashOpenStore(t, dataDir)
	defer db.Close()
	msgs, marked, queued, behind, err := crashProgress(db)
	return err == nil && msgs == total && marked == total && queued == 0 && behind == 0
}

// crashAwait waits until run r dies. It reports whether its trigger killed
// it; false means the trigger could no longer come: the daemon finished
// everything the backlog holds and went quiet, and was killed by the test.
// A daemon that exits by itself, or logs nothing for crashStall while work
// is left, fails the test.
func crashAwait(t *testing.T, r *crashRun, lg *crashLog, dataDir string, total int) bool {
	t.Helper()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.done:
			r.mu.Lock()
			triggered := r.triggered
			r.mu.Unlock()
			if !triggered {
				t.Fatalf("run #%d: the daemon exited by itself: %v", r.n, r.err)
			}
			return true
		case <-tick.C:
		}
		quiet := lg.quiet()
		if quiet < 2*time.Second {
			continue
		}
		if crashFinished(t, dataDir, total) {
			r.mu.Lock()
			triggered := r.triggered // it may have come while we read the store
			r.triggered = true
			r.mu.Unlock()
			r.cmd.Process.Kill()
			<-r.done
			return triggered
		}
		if quiet > crashStall {
			r.cmd.Process.Kill()
			<-r.done
			t.Fatalf("run #%d: the daemon logged nothing for %s with work left: stuck", r.n, quiet.Round(time.Second))
		}
	}
}

// crashWaitFor polls probe until it reports done. probe describes the state
// it saw; the test fails when that state has not changed for crashStall (the
// work stopped moving), however long the whole wait takes while it moves.
func crashWaitFor(t *testing.T, what string, probe func() (state string, done bool)) {
	t.Helper()
	last, since := "", time.Now()
	for {
		state, done := probe()
		if done {
			return
		}
		if state != last {
			last, since = state, time.Now()
		} else if time.Since(since) > crashStall {
			t.Fatalf("waiting for %s: no change for %s: %s", what, crashStall, state)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
