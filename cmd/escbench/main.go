// Command escbench measures escalationd against the in-process IMAP server
// and SMTP sink of internal/localmail: the raw fetch-and-parse baseline, the
// throughput of `escalationd once` on a backlog, the latency of `escalationd
// run` from APPEND to acknowledgement, and the daemon's peak memory. The
// daemon always runs as its own subprocess, so its numbers are not mixed
// with the servers'. It prints a markdown table on stdout; progress goes to
// stderr.
//
//	go run ./cmd/escbench -n 10000 -latency
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // as the daemon parses

	"github.com/escalationd/escalationd/internal/localmail"
)

const (
	mailboxUser = "escalations@example.com"
	mailboxPass = "bench"
)

type options struct {
	n        int
	latency  bool
	latN     int
	latGap   time.Duration
	mem50    bool
	memRuns  int
	bin      string
	dir      string
	keep     bool
	timeout  time.Duration
	baseline bool
	backlog  bool
	profile  string
	stack    bool
	stackN   int
	runBack  bool
}

// row is one line of the result table.
type row struct {
	what, msgs, took, rate, rss, notes string
}

func main() {
	launched()
	var o options
	flag.IntVar(&o.n, "n", 10000, "messages in the backlog")
	flag.BoolVar(&o.latency, "latency", false, "also measure APPEND→ack latency of `escalationd run`")
	flag.IntVar(&o.latN, "latency-n", 200, "requests appended in the latency run")
	flag.DurationVar(&o.latGap, "latency-gap", 50*time.Millisecond, "spacing of the latency run's APPENDs (the workload)")
	flag.BoolVar(&o.mem50, "mem50", true, "also measure peak RSS for one message with a 50 MiB attachment")
	flag.IntVar(&o.memRuns, "mem50-runs", 3, "how many times to run the 50 MiB case (peak RSS varies with GC timing)")
	flag.BoolVar(&o.baseline, "baseline", true, "measure the raw imapclient+go-message baseline")
	flag.BoolVar(&o.backlog, "backlog", true, "measure `escalationd once` on the N-message backlog")
	flag.StringVar(&o.bin, "bin", "", "escalationd binary (default: go build into the work folder)")
	flag.StringVar(&o.dir, "dir", "", "work folder (default: a new temporary folder)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on a daemon run after this long")
	flag.BoolVar(&o.stack, "stack", true, "also run the backlog against the e2e Dovecot + Postfix when they run (internal/e2e/stack)")
	flag.IntVar(&o.stackN, "stack-n", 0, "messages in the Dovecot backlog (default: -n)")
	flag.BoolVar(&o.runBack, "run-backlog", true, "also measure `escalationd run` started on the N-message backlog")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the daemon's `once` run to this file")
	flag.Parse()
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "escbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s escbench: "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func bench(o options) error {
	started := time.Now()
	if o.n < 1 {
		return errors.New("-n must be at least 1")
	}
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "escbench-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(dir, "escalationd")
		logf("building %s", bin)
		cmd := exec.Command("go", "build", "-o", bin, "github.com/escalationd/escalationd/cmd/escalationd")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build: %w", err)
		}
	}
	bin, _ = filepath.Abs(bin)

	var rows []row
	if o.baseline || o.backlog {
		r, err := backlogBench(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, o, rows, time.Since(started))
			return err
		}
	}
	if o.stack && o.backlog {
		if o.stackN <= 0 {
			o.stackN = o.n
		}
		r, err := stackBench(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, o, rows, time.Since(started))
			return err
		}
	}
	if o.runBack && o.backlog {
		r, err := runBacklogBench(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, o, rows, time.Since(started))
			return err
		}
	}
	if o.latency {
		r, err := latencyBench(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, o, rows, time.Since(started))
			return err
		}
	}
	if o.mem50 {
		r, err := bigBenchN(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, o, rows, time.Since(started))
			return err
		}
	}
	printTable(os.Stdout, o, rows, time.Since(started))
	return nil
}

func printTable(w io.Writer, o options, rows []row, total time.Duration) {
	fmt.Fprintf(w, "\n`%s`  (GOMAXPROCS/CPUs: %d; total %s)\n\n", strings.Join(os.Args, " "), runtime.NumCPU(), total.Round(time.Millisecond))
	fmt.Fprintln(w, "| measurement | messages | wall time | msg/s | daemon peak RSS (ru_maxrss) | notes |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.msgs, r.took, r.rate, r.rss, r.notes)
	}
}

// ---------------------------------------------------------------- servers

type servers struct {
	imap *localmail.IMAPServer
	smtp *localmail.SMTPServer
}

func startServers() (*servers, error) {
	im, err := localmail.StartIMAP(mailboxUser, mailboxPass, "Quarantine")
	if err != nil {
		return nil, err
	}
	sm, err := localmail.StartSMTP(localmail.SMTPOptions{})
	if err != nil {
		im.Close()
		return nil, err
	}
	return &servers{imap: im, smtp: sm}, nil
}

func (s *servers) close() {
	s.smtp.Close()
	s.imap.Close()
}

// target is where the daemon under test reads and sends mail.
type target struct {
	imapAddr, smtpAddr string // host:port, plain (no TLS)
	user, pass         string // of the escalation mailbox
}

func (s *servers) target() target {
	return target{imapAddr: s.imap.Addr, smtpAddr: s.smtp.Addr, user: mailboxUser, pass: mailboxPass}
}

// writeConfig writes a config for the daemon against t in work and returns
// its path. escalations and data are fresh folders under work.
func writeConfig(work string, t target, poll string, maxBytes int64) (string, error) {
	// Every run starts from an empty store, also in a kept -dir.
	if err := os.RemoveAll(work); err != nil {
		return "", err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return "", err
	}
	port := func(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
	cfg := fmt.Sprintf(`imap:
  host: 127.0.0.1
  port: %s
  tls: none
  username: %s
  password: %s
  mailbox: INBOX
  quarantine_mailbox: Quarantine
  poll_interval: %s
  idle: true
smtp:
  host: 127.0.0.1
  port: %s
  tls: none
  from: "Escalations <escalations@example.com>"
  retry_min: 1s
  retry_max: 4s
escalation:
  address: escalations@example.com
  id_prefix: ESC
  dir: %s
  data_dir: %s
  timer_tick: 1h
limits:
  max_message_bytes: %d
  acks_per_sender_per_hour: 100000
  acks_per_domain_per_hour: 100000
  acks_per_hour: 100000
  notifications_per_hour: 100000
staff:
  domains: [example.com]
roster: {technical: {}, executive: {}, vendor: {}}
`, port(t.imapAddr), t.user, t.pass, poll, port(t.smtpAddr),
		filepath.Join(work, "escalations"), filepath.Join(work, "data"), maxBytes)
	path := filepath.Join(work, "config.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// ---------------------------------------------------------------- messages

// gen makes the backlog. Of each ten messages six are new requests (each
// from its own cust+NNNNN@acme.test), three reply by tag to an earlier
// request and one replies by In-Reply-To only; one in fifty carries a 1 MiB
// attachment. On a fresh store request number r becomes ESC-r.
type gen struct {
	sender   func(r int) string // the address of request r
	rng      *mrand.Rand
	requests int // requests made so far
	tagged   int
	threaded int
	attached int
	now      time.Time
}

func newGen(sender func(int) string) *gen {
	return &gen{sender: sender, rng: mrand.New(mrand.NewPCG(1, 2)), now: time.Now()}
}

// sender is the address of request r against the in-process servers.
func sender(r int) string { return fmt.Sprintf("cust+%05d@acme.test", r) }

func (g *gen) next(i int) []byte {
	attach := 0
	if i%50 == 25 {
		attach = 1 << 20
		g.attached++
	}
	switch k := i % 10; {
	case k < 6 || g.requests == 0:
		g.requests++
		r := g.requests
		return request(r, g.sender(r), fmt.Sprintf("<req-%d@acme.test>", r), fmt.Sprintf("Sync worker fails on node %d", r), "", "", g.now, attach)
	case k < 9:
		g.tagged++
		r := 1 + g.rng.IntN(g.requests)
		return request(r, g.sender(r), fmt.Sprintf("<tag-%d@acme.test>", i), fmt.Sprintf("Re: Sync worker fails on node %d [ESC-%05d]", r, r), "", "", g.now, attach)
	default:
		g.threaded++
		r := 1 + g.rng.IntN(g.requests)
		ref := fmt.Sprintf("<req-%d@acme.test>", r)
		return request(r, g.sender(r), fmt.Sprintf("<irt-%d@acme.test>", i), fmt.Sprintf("Re: Sync worker fails on node %d", r), ref, ref, g.now, attach)
	}
}

// request is one plain mail, multipart with an application/octet-stream
// attachment of attach random bytes when attach > 0.
func request(r int, from, msgID, subject, inReplyTo, refs string, date time.Time, attach int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Customer %d <%s>\r\n", r, from)
	b.WriteString("To: Escalations <escalations@example.com>\r\n")
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", msgID)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", inReplyTo, refs)
	}
	b.WriteString("MIME-Version: 1.0\r\n")
	text := fmt.Sprintf("Hello,\r\n\r\nthe sync worker on node %d fails with HTTP 500 since 09:14 UTC.\r\n"+
		"Orders are not exported. Logs show a deadlock on table orders.\r\n\r\nRegards,\r\nCustomer %d\r\n", r, r)
	if attach == 0 {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
		b.WriteString(text)
		return []byte(b.String())
	}
	b.WriteString("Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n")
	b.WriteString("--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(text)
	b.WriteString("--b1\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=\"dump.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	raw := make([]byte, attach)
	_, _ = rand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	for len(enc) > 76 {
		b.WriteString(enc[:76])
		b.WriteString("\r\n")
		enc = enc[76:]
	}
	b.WriteString(enc)
	b.WriteString("\r\n--b1--\r\n")
	return []byte(b.String())
}

// ---------------------------------------------------------------- baseline

// baseline fetches every message with one UID FETCH 1:* BODY.PEEK[] and
// parses each with go-message, reading every body to io.Discard. c is
// logged in; baseline closes it.
func baseline(c *imapclient.Client) (int, int64, error) {
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return 0, 0, err
	}
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	n, bytes := 0, int64(0)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok {
				continue
			}
			lit := body.Literal
			if lit == nil {
				continue
			}
			cr := &countReader{r: lit}
			e, err := message.Read(cr)
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return n, bytes, fmt.Errorf("parse message %d: %w", n+1, err)
			}
			if err := walk(e); err != nil {
				return n, bytes, fmt.Errorf("walk message %d: %w", n+1, err)
			}
			_, _ = io.Copy(io.Discard, cr) // the rest of the literal, if any
			bytes += cr.n
			n++
		}
	}
	if err := cmd.Close(); err != nil {
		return n, bytes, err
	}
	return n, bytes, nil
}

func walk(e *message.Entity) error {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			if err := walk(p); err != nil {
				return err
			}
		}
	}
	_, err := io.Copy(io.Discard, e.Body)
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// ---------------------------------------------------------------- daemon runs

type result struct {
	code   int
	took   time.Duration
	maxRSS int64 // bytes, ru_maxrss
	hwm    int64 // bytes, VmHWM polled every 2 ms
	stderr string
	cpu    time.Duration // user + system CPU of the daemon
	served time.Duration // user + system CPU of this process (the servers) meanwhile
}

// selfCPU is the user + system CPU this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runOnce runs `escalationd once --config cfg` as a subprocess.
func runOnce(bin, cfg string, timeout time.Duration, profile string) (result, error) {
	logPath := filepath.Join(filepath.Dir(cfg), "once.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return result{}, err
	}
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rssFile := filepath.Join(filepath.Dir(cfg), "once.rss")
	args := []string{"once", "--config", cfg}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd, err := daemonCommand(ctx, rssFile, bin, args...)
	if err != nil {
		return result{}, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start, served := time.Now(), selfCPU()
	err = cmd.Run()
	took := time.Since(start)
	res := result{took: took, stderr: logPath, served: selfCPU() - served}
	if cmd.ProcessState == nil {
		return res, err
	}
	res.code = cmd.ProcessState.ExitCode()
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	res.maxRSS, res.hwm = readRSS(rssFile)
	return res, nil
}

func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024 // KiB on Linux
	}
	return 0
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// verify checks that each of the requests got exactly one ack, addressed to
// its sender, and has its tracking file, and that nothing opened more.
func verify(s *servers, escDir string, requests int) error {
	got := s.smtp.Received()
	if len(got) != requests {
		return fmt.Errorf("the sink received %d mails, want %d acks (empty roster)", len(got), requests)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if len(m.To) != 1 {
			return fmt.Errorf("mail to %v, want one recipient", m.To)
		}
		if !strings.Contains(m.Header.Get("Subject"), "Escalation Acknowledged") {
			return fmt.Errorf("mail to %v is not an ack: %q", m.To, m.Header.Get("Subject"))
		}
		seen[strings.ToLower(m.To[0])] = true
	}
	for r := 1; r <= requests; r++ {
		if !seen[sender(r)] {
			return fmt.Errorf("no ack to %s", sender(r))
		}
		p := filepath.Join(escDir, fmt.Sprintf("ESC-%05d-tracking.md", r))
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("tracking file: %w", err)
		}
	}
	extra := filepath.Join(escDir, fmt.Sprintf("ESC-%05d-tracking.md", requests+1))
	if _, err := os.Stat(extra); err == nil {
		return fmt.Errorf("%s exists: a reply opened a new escalation", extra)
	}
	return nil
}

func backlogBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	t0 := time.Now()
	g, err := fill(s, o.n)
	if err != nil {
		return nil, err
	}
	logf("filled INBOX with %d messages (%d requests, %d tag replies, %d In-Reply-To replies, %d with 1 MiB) in %s",
		o.n, g.requests, g.tagged, g.threaded, g.attached, time.Since(t0).Round(time.Millisecond))
	mix := fmt.Sprintf("%d new, %d by tag, %d by In-Reply-To, %d × 1 MiB attachment", g.requests, g.tagged, g.threaded, g.attached)

	var rows []row
	var baseTook time.Duration
	if o.baseline {
		t0 = time.Now()
		c, err := s.imap.Dial()
		if err != nil {
			return rows, err
		}
		n, size, err := baseline(c)
		baseTook = time.Since(t0)
		if err != nil {
			return rows, fmt.Errorf("baseline: %w", err)
		}
		if n != o.n {
			return rows, fmt.Errorf("baseline fetched %d messages, want %d", n, o.n)
		}
		logf("baseline: %d messages, %.1f MiB in %s", n, float64(size)/(1<<20), baseTook.Round(time.Millisecond))
		rows = append(rows, row{
			what: "(a) baseline: imapclient `UID FETCH 1:* BODY.PEEK[]` + go-message walk", msgs: fmt.Sprint(n),
			took: dur(baseTook), rate: rate(n, baseTook), rss: "n/a (in bench process)",
			notes: fmt.Sprintf("%.1f MiB fetched; %s", float64(size)/(1<<20), mix),
		})
	}
	if !o.backlog {
		return rows, nil
	}

	work := filepath.Join(dir, "once")
	cfg, err := writeConfig(work, s.target(), "60s", 26214400)
	if err != nil {
		return rows, err
	}
	logf("running %s once --config %s", bin, cfg)
	res, err := runOnce(bin, cfg, o.timeout, o.profile)
	if err != nil {
		return rows, fmt.Errorf("once: %w\n%s", err, tail(res.stderr, 20))
	}
	logf("once: exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	status := "verified: exit 0, one ack per request, every tracking file"
	if res.code != 0 {
		status = fmt.Sprintf("FAILED: exit %d; log tail:\n%s", res.code, tail(res.stderr, 20))
		rows = append(rows, row{what: "(b) `escalationd once`", msgs: fmt.Sprint(o.n), took: dur(res.took), rate: rate(o.n, res.took), rss: rssCell(res.maxRSS, res.hwm), notes: "exit " + fmt.Sprint(res.code)})
		return rows, errors.New(status)
	}
	if err := verify(s, filepath.Join(work, "escalations"), g.requests); err != nil {
		rows = append(rows, row{what: "(b) `escalationd once`", msgs: fmt.Sprint(o.n), took: dur(res.took), rate: rate(o.n, res.took), rss: rssCell(res.maxRSS, res.hwm), notes: "NOT VERIFIED: " + err.Error()})
		return rows, fmt.Errorf("verify: %w", err)
	}
	logf("%s", status)
	rows = append(rows, row{
		what: "(b) `escalationd once` (subprocess, fresh store)", msgs: fmt.Sprint(o.n),
		took: dur(res.took), rate: rate(o.n, res.took), rss: rssCell(res.maxRSS, res.hwm),
		notes: fmt.Sprintf("%s; %d acks over %d SMTP sessions; CPU: daemon %.1f s, servers %.1f s", status, g.requests, s.smtp.Sessions(),
			res.cpu.Seconds(), res.served.Seconds()),
	})
	if o.baseline {
		rows = append(rows, row{
			what: "ratio b/a (time)", msgs: "", took: fmt.Sprintf("%.1f×", res.took.Seconds()/baseTook.Seconds()),
			notes: "daemon wall time ÷ baseline wall time",
		})
	}
	return rows, nil
}

// fill APPENDs n generated messages to the in-process INBOX.
func fill(s *servers, n int) (*gen, error) {
	g := newGen(sender)
	for i := range n {
		if _, err := s.imap.Append("INBOX", g.next(i), time.Time{}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// daemonRun is `escalationd run` started as a subprocess.
type daemonRun struct {
	cmd      *exec.Cmd
	log, rss string // its log and the file its peak RSS is written to
	exited   chan error
	stopped  bool
	code     int
}

// startRun starts `escalationd run --config cfg`, logging to work/run.log.
func startRun(bin, work, cfg string) (*daemonRun, error) {
	r := &daemonRun{log: filepath.Join(work, "run.log"), rss: filepath.Join(work, "run.rss"), exited: make(chan error, 1)}
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	if r.cmd, err = daemonCommand(context.Background(), r.rss, bin, "run", "--config", cfg); err != nil {
		return nil, err
	}
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.exited <- r.cmd.Wait() }()
	return r, nil
}

// stop sends SIGTERM and waits for the exit, killing the daemon after 15 s;
// it returns an error when it had to. Calling it again does nothing.
func (r *daemonRun) stop() error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		r.code = r.cmd.ProcessState.ExitCode()
		return nil
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("no exit 15 s after SIGTERM: killed")
	}
}

// latencyBench runs `escalationd run` with poll_interval 1h (so only IDLE
// wakes it) and measures APPEND-returned → ack-accepted per request.
func latencyBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	work := filepath.Join(dir, "latency")
	cfg, err := writeConfig(work, s.target(), "1h", 26214400)
	if err != nil {
		return nil, err
	}
	run, err := startRun(bin, work, cfg)
	if err != nil {
		return nil, err
	}
	defer run.stop()

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	now := time.Now()
	// Warm-up: one request, acknowledged, means the daemon is connected and idling.
	if _, err := s.imap.Append("INBOX", request(0, "warmup@acme.test", "<warmup@acme.test>", "Warm-up", "", "", now, 0), time.Time{}); err != nil {
		return nil, err
	}
	if _, err := s.smtp.Wait(ctx, 1); err != nil {
		return nil, fmt.Errorf("warm-up ack: %w\n%s", err, tail(run.log, 20))
	}
	time.Sleep(200 * time.Millisecond) // let it settle back into IDLE

	type arrival struct {
		to string
		at time.Time
	}
	arrivals := make(chan arrival, o.latN+10)
	go func() {
		seen := 1
		for seen < o.latN+1 {
			msgs, err := s.smtp.Wait(ctx, seen+1)
			at := time.Now()
			if err != nil {
				close(arrivals)
				return
			}
			for _, m := range msgs[seen:] {
				if len(m.To) > 0 {
					arrivals <- arrival{strings.ToLower(m.To[0]), at}
				}
			}
			seen = len(msgs)
		}
		close(arrivals)
	}()

	appended := make([]time.Time, o.latN)
	tick := time.NewTicker(o.latGap)
	t0 := time.Now()
	for i := range o.latN {
		from := fmt.Sprintf("lat+%04d@acme.test", i)
		raw := request(i, from, fmt.Sprintf("<lat-%d@acme.test>", i), fmt.Sprintf("Latency probe %d", i), "", "", now, 0)
		if _, err := s.imap.Append("INBOX", raw, time.Time{}); err != nil {
			return nil, err
		}
		appended[i] = time.Now()
		if i < o.latN-1 {
			<-tick.C
		}
	}
	tick.Stop()
	lat := make([]time.Duration, 0, o.latN)
	for a := range arrivals {
		var i int
		if _, err := fmt.Sscanf(a.to, "lat+%04d@acme.test", &i); err != nil || i < 0 || i >= o.latN {
			continue
		}
		lat = append(lat, a.at.Sub(appended[i]))
	}
	took := time.Since(t0)
	run.stop()
	rss, hwm := readRSS(run.rss)
	if len(lat) != o.latN {
		return nil, fmt.Errorf("latency: %d of %d acks arrived\n%s", len(lat), o.latN, tail(run.log, 20))
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration {
		return lat[int(math.Ceil(q*float64(len(lat))))-1]
	}
	logf("latency: %d requests in %s: p50 %s p99 %s max %s", len(lat), took.Round(time.Millisecond), p(0.5), p(0.99), lat[len(lat)-1])
	return []row{{
		what: fmt.Sprintf("latency: `escalationd run` (IDLE, poll 1h), APPEND → ack at sink, %d requests %s apart", o.latN, o.latGap),
		msgs: fmt.Sprint(o.latN), took: dur(took), rate: rate(o.latN, took), rss: rssCell(rss, hwm),
		notes: fmt.Sprintf("**p50 %s, p99 %s**, min %s, max %s", p(0.5).Round(100*time.Microsecond), p(0.99).Round(100*time.Microsecond),
			lat[0].Round(100*time.Microsecond), lat[len(lat)-1].Round(100*time.Microsecond)),
	}}, nil
}

// bigBenchN runs bigBench -mem50-runs times and reports every peak RSS.
func bigBenchN(o options, dir, bin string) ([]row, error) {
	var rows []row
	var rss []string
	for i := range max(o.memRuns, 1) {
		r, err := bigBench(o, filepath.Join(dir, fmt.Sprint("big", i)), bin)
		if err != nil {
			return append(rows, r...), err
		}
		if len(rows) == 0 {
			rows = r
		}
		rss = append(rss, r[0].rss)
	}
	if len(rss) > 1 {
		rows[0].rss = strings.Join(rss, " / ")
		rows[0].notes += fmt.Sprintf(" (%d runs)", len(rss))
	}
	return rows, nil
}

// bigBench runs `once` on one request with a 50 MiB attachment.
func bigBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	raw := request(1, sender(1), "<big-1@acme.test>", "Core dump attached", "", "", time.Now(), 50<<20)
	if _, err := s.imap.Append("INBOX", raw, time.Time{}); err != nil {
		return nil, err
	}
	work := dir
	cfg, err := writeConfig(work, s.target(), "60s", 104857600)
	if err != nil {
		return nil, err
	}
	res, err := runOnce(bin, cfg, o.timeout, "")
	if err != nil {
		return nil, err
	}
	logf("50 MiB: exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	notes := fmt.Sprintf("message %.1f MiB on the wire; verified: exit 0, 1 ack, tracking file", float64(len(raw))/(1<<20))
	if res.code != 0 {
		return []row{{what: "memory: `once`, 1 message, 50 MiB attachment", msgs: "1", took: dur(res.took), rss: rssCell(res.maxRSS, res.hwm), notes: "FAILED"}},
			fmt.Errorf("50 MiB once: exit %d\n%s", res.code, tail(res.stderr, 20))
	}
	if err := verify(s, filepath.Join(work, "escalations"), 1); err != nil {
		notes = "NOT VERIFIED: " + err.Error()
	} else if fi, err := os.Stat(filepath.Join(work, "escalations", "ESC-00001", "dump.bin")); err != nil || fi.Size() != 50<<20 {
		notes = fmt.Sprintf("NOT VERIFIED: attachment not saved whole (%v)", err)
	} else {
		notes += ", attachment saved whole"
	}
	return []row{{what: "memory: `once`, 1 message, 50 MiB attachment (max_message_bytes 100 MiB)", msgs: "1",
		took: dur(res.took), rate: "", rss: rssCell(res.maxRSS, res.hwm), notes: notes}}, nil
}

// ---------------------------------------------------------------- formatting

func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

func mib(b int64) string {
	if b == 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// rssCell shows ru_maxrss, and VmHWM as polled when it differs.
func rssCell(maxrss, hwm int64) string {
	if hwm == 0 || mib(hwm) == mib(maxrss) {
		return mib(maxrss)
	}
	return fmt.Sprintf("%s (VmHWM %s)", mib(maxrss), mib(hwm))
}
