// Package e2e runs the escalationd binary against the private Dovecot +
// Postfix stack of internal/e2e/stack: real IMAP in, real SMTP out, and the
// faults real servers have (down, 4xx, 5xx, restarts, cut connections).
//
// Every test calls stack.Require (skip without the stack, fail under
// CI=true) and stack.Lock, empties the mailboxes it uses, and gives the
// daemon fresh folders. The helpers in this file are shared by every test of
// the package: buildBinary, writeConfig, startDaemon (a daemonProc), runCLI,
// and the mail helpers.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"go.yaml.in/yaml/v3"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// TestMain removes the binary buildBinary made.
func TestMain(m *testing.M) {
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	os.Exit(code)
}

// patience bounds every wait in this package for a state that is coming (a
// log line, mail in a mailbox, a file, a connection). The waits poll for the
// state and return as soon as it holds, so this is only a safety net: it is
// reached when the daemon hangs, never because a busy machine (other builds,
// the race detector, two cores) made a step that takes 50 ms idle take
// seconds. Time limits that are part of the contract (exit within 10 s of
// SIGTERM) are spelt out where they are checked.
const patience = 2 * time.Minute

// ---------------------------------------------------------------------------
// The binary

var binary struct {
	once sync.Once
	dir  string // temporary folder holding it
	path string
	err  error
}

// repoRoot is the module's root folder (where go.mod is).
func repoRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if gomod := strings.TrimSpace(string(out)); err == nil && gomod != "" && gomod != os.DevNull {
		return filepath.Dir(gomod)
	}
	// The test runs in internal/e2e.
	abs, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// buildBinary builds ./cmd/escalationd once per test binary, into a
// temporary folder that TestMain removes, and returns its path.
func buildBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		root := repoRoot(t)
		binary.dir, binary.err = os.MkdirTemp("", "escalationd-e2e-bin-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "escalationd")
		cmd := exec.Command("go", "build", "-o", binary.path, "./cmd/escalationd")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/escalationd in %s: %v\n%s", root, err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// ---------------------------------------------------------------------------
// Configuration

// daemonConfig are the settings a test changes; zero values take the
// defaults noted per field, which point the daemon at the stack (plain
// IMAP and SMTP on loopback) with short retry and reconnect times.
type daemonConfig struct {
	// Dir is the folder of the config file, escalations/ and data/; ""
	// means a new t.TempDir().
	Dir string

	IMAPAddr         string        // host:port; "" means the stack's plain IMAP port
	IMAPTLS          string        // implicit | starttls | none; "" means none
	IMAPUser         string        // "" means stack.Escalations
	IMAPPassword     string        // "" means stack.EscalationsPass
	ProcessedMailbox string        // "" means flag handled mail \Seen
	PollInterval     time.Duration // 0 means 30s (also the longest IDLE)
	ReconnectMax     time.Duration // 0 means 2s (backoff 1s, 2s, 2s, ...)

	SMTPAddr string        // host:port; "" means the stack's Postfix
	SMTPTLS  string        // "" means none
	RetryMin time.Duration // 0 means 1s
	RetryMax time.Duration // 0 means 4s

	// AcksPerSenderPerHour 0 means 1000: the rate limit is not what these
	// tests look at, and it must not hide work; -1 writes 0 (no acks).
	AcksPerSenderPerHour int
	AcksPerDomainPerHour int // 0 means 100000

	// Set overrides or adds any key, by its dotted path
	// ("limits.ack_max_age": "1h", "roster.technical": map[string]any{...});
	// a nil value removes the key. Applied last.
	Set map[string]any
}

// daemonFiles is where a written config put things.
type daemonFiles struct {
	Dir     string // the folder of all of it
	Config  string // the YAML file
	EscDir  string // escalation.dir
	DataDir string // escalation.data_dir
}

// Tracking is the path of the tracking file of escalation n (ESC-0000n).
func (f daemonFiles) Tracking(n int) string {
	return filepath.Join(f.EscDir, fmt.Sprintf("ESC-%05d-tracking.md", n))
}

// Roster contacts of every config writeConfig writes: stack users, so that
// notifications land in real mailboxes.
var (
	teamLead = map[string]any{"email": stack.Lead, "name": "Sam Ortiz", "title": "Team Lead", "phone": "+1 555 0101"}
	tier3    = map[string]any{"email": stack.Manager, "name": "Dana Lee", "title": "Senior Engineer", "phone": "+1 555 0100"}
)

// writeConfig writes a YAML config for the stack with c's overrides and
// returns where everything is. The roster notifies tier2@ at Tier 2,
// manager@ (Dana Lee) at Tier 3 and up, lead@ (Sam Ortiz) at Team Lead,
// manager@ above it; vendor case requests go to vendor@. Customers:
// acme.test (Acme Corp, enterprise); globex.test is not listed, so each of
// its addresses is a customer of its own.
func writeConfig(t testing.TB, addrs stack.Addrs, c daemonConfig) daemonFiles {
	t.Helper()
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	dur := func(d, def time.Duration) string {
		if d == 0 {
			d = def
		}
		return d.String()
	}
	dir := c.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	f := daemonFiles{Dir: dir, Config: filepath.Join(dir, "escalationd.yaml"),
		EscDir: filepath.Join(dir, "escalations"), DataDir: filepath.Join(dir, "data")}
	imapHost, imapPort := splitAddr(t, or(c.IMAPAddr, addrs.IMAP))
	smtpHost, smtpPort := splitAddr(t, or(c.SMTPAddr, addrs.SMTP))
	acks := c.AcksPerSenderPerHour
	switch {
	case acks == 0:
		acks = 1000
	case acks < 0:
		acks = 0
	}
	cfg := map[string]any{
		"imap": map[string]any{
			"host":               imapHost,
			"port":               imapPort,
			"tls":                or(c.IMAPTLS, "none"),
			"username":           or(c.IMAPUser, stack.Escalations),
			"password":           or(c.IMAPPassword, stack.EscalationsPass),
			"mailbox":            "INBOX",
			"processed_mailbox":  c.ProcessedMailbox,
			"quarantine_mailbox": "Quarantine",
			"poll_interval":      dur(c.PollInterval, 30*time.Second),
			"idle":               true,
			"reconnect_max":      dur(c.ReconnectMax, 2*time.Second),
		},
		"smtp": map[string]any{
			"host":      smtpHost,
			"port":      smtpPort,
			"tls":       or(c.SMTPTLS, "none"),
			"from":      "Escalations <" + stack.Escalations + ">",
			"retry_min": dur(c.RetryMin, time.Second),
			"retry_max": dur(c.RetryMax, 4*time.Second),
		},
		"escalation": map[string]any{
			"address":         stack.Escalations,
			"id_prefix":       "ESC",
			"dir":             f.EscDir,
			"data_dir":        f.DataDir,
			"timezone":        "UTC",
			"update_interval": "4h",
			"sla":             map[string]any{"technical": "8h", "executive": "24h", "vendor": "24h"},
			"timer_tick":      "30s",
		},
		"limits": map[string]any{
			"max_message_bytes":        26214400,
			"ack_max_age":              "24h",
			"acks_per_sender_per_hour": acks,
			// The other limits of §11 are not what these tests are
			// about, unless a test sets them.
			"acks_per_domain_per_hour": orInt(c.AcksPerDomainPerHour, 100000),
			"acks_per_hour":            100000,
			"notifications_per_hour":   100000,
		},
		"staff": map[string]any{"domains": []string{"example.com"}},
		"customers": []any{
			map[string]any{"domain": "acme.test", "name": "Acme Corp", "tier": "enterprise"},
		},
		"vendors": map[string]any{"aws": stack.Vendor, "azure": stack.Vendor, "gcp": stack.Vendor, "oracle": stack.Vendor},
		"roster": map[string]any{
			"technical": map[string]any{
				"Tier 2": []any{stack.Tier2},
				"Tier 3": []any{tier3},
				"Vendor": []any{stack.Manager},
			},
			"executive": map[string]any{
				"Team Lead": []any{teamLead},
				"Manager":   []any{stack.Manager},
				"Director":  []any{stack.Manager},
				"VP":        []any{stack.Manager},
			},
			"vendor": map[string]any{"Case opened": []any{stack.Tier2}},
		},
	}
	for key, v := range c.Set {
		parts := strings.Split(key, ".")
		m := cfg
		for _, p := range parts[:len(parts)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		if v == nil {
			delete(m, parts[len(parts)-1])
		} else {
			m[parts[len(parts)-1]] = v
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.Config, out, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func splitAddr(t testing.TB, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	var port int
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return addr[:i], port
}

// ---------------------------------------------------------------------------
// The daemon process

// logBuffer is the daemon's stderr: safe for concurrent use, and it wakes
// whoever waits for a line.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on each write
}

func newLogBuffer() *logBuffer { return &logBuffer{changed: make(chan struct{})} }

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	close(b.changed)
	b.changed = make(chan struct{})
	return len(p), nil
}

// snapshot returns the complete lines so far and a channel closed at the
// next write.
func (b *logBuffer) snapshot() ([]string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	} else {
		s = ""
	}
	if s == "" {
		return nil, b.changed
	}
	return strings.Split(s, "\n"), b.changed
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemonProc is one `escalationd run` subprocess.
type daemonProc struct {
	cmd     *exec.Cmd
	log     *logBuffer
	started time.Time
	done    chan struct{} // closed when the process has exited
	waitErr error         // valid once done is closed
}

// startDaemon starts `escalationd run --config configPath -v` in the
// config's folder, with the test's environment (less any ESCALATIOND_ and
// SSL_CERT_ variables) plus env ("SSL_CERT_FILE=...") and its stderr (the
// log) captured, and waits for it to log "escalationd running" (its store is
// open and migrated, its signal handler installed). A cleanup
// kills it if the test has not stopped it, and prints its log when the test
// failed.
func startDaemon(t testing.TB, configPath string, env ...string) *daemonProc {
	t.Helper()
	d := launchDaemon(t, configPath, env...)
	d.waitLog(t, `msg="escalationd running"`, patience)
	return d
}

// launchDaemon is startDaemon without the wait: for a daemon that is
// expected to fail at start, or to be killed before it gets going. Note that
// a SIGTERM in its first milliseconds, before Go installs the handler, kills
// it (exit by signal, not 0), and that `escalationd list`/`show` run while
// it creates a fresh store can make either fail with "migration 1: ...
// table mailboxes already exists": workflow.Store.migrate reads the schema
// version outside the transaction that migrates.
func launchDaemon(t testing.TB, configPath string, env ...string) *daemonProc {
	t.Helper()
	bin := buildBinary(t)
	d := &daemonProc{log: newLogBuffer(), done: make(chan struct{})}
	d.cmd = exec.Command(bin, "run", "--config", configPath, "-v")
	d.cmd.Dir = filepath.Dir(configPath)
	d.cmd.Env = append(cleanEnv(), env...)
	d.cmd.Stderr = d.log
	d.cmd.Stdout = d.log
	d.cmd.SysProcAttr = deathSignal()
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start escalationd: %v", err)
	}
	d.started = time.Now()
	go func() {
		d.waitErr = d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		if !d.exited() {
			d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("escalationd (pid %d) log:\n%s", d.cmd.Process.Pid, tail(d.log.String(), 400))
		}
	})
	return d
}

// deathSignal asks Linux to kill the daemon when the test binary dies (a
// panic or -timeout skips the cleanups); elsewhere it does nothing.
func deathSignal() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	if f := reflect.ValueOf(attr).Elem().FieldByName("Pdeathsig"); f.IsValid() && f.Type() == reflect.TypeFor[syscall.Signal]() {
		f.Set(reflect.ValueOf(syscall.SIGKILL))
	}
	return attr
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ESCALATIOND_") && !strings.HasPrefix(kv, "SSL_CERT_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) <= lines {
		return strings.Join(all, "\n")
	}
	return fmt.Sprintf("... (%d lines before)\n%s", len(all)-lines, strings.Join(all[len(all)-lines:], "\n"))
}

func (d *daemonProc) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// logLines returns the log lines that match the regular expression pattern.
func (d *daemonProc) logLines(pattern string) []string {
	re := regexp.MustCompile(pattern)
	lines, _ := d.log.snapshot()
	var out []string
	for _, l := range lines {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}

// countLog is len(logLines(pattern)).
func (d *daemonProc) countLog(pattern string) int { return len(d.logLines(pattern)) }

// waitLog waits up to within for a log line matching the regular expression
// pattern and returns it; the test fails at the deadline or when the daemon
// exits first.
func (d *daemonProc) waitLog(t testing.TB, pattern string, within time.Duration) string {
	t.Helper()
	return d.waitLogN(t, pattern, 1, within)[0]
}

// waitLogN waits up to within for n log lines matching pattern and returns
// all matching lines.
func (d *daemonProc) waitLogN(t testing.TB, pattern string, n int, within time.Duration) []string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	exited := false
	for {
		lines, changed := d.log.snapshot()
		var got []string
		for _, l := range lines {
			if re.MatchString(l) {
				got = append(got, l)
			}
		}
		switch {
		case len(got) >= n:
			return got
		case exited: // its output is complete: no more lines will come
			t.Fatalf("escalationd exited (%v) after %d of %d log lines matching %q", d.waitErr, len(got), n, pattern)
		}
		select {
		case <-changed:
		case <-d.done:
			exited = true
		case <-deadline.C:
			t.Fatalf("after %s: %d of %d log lines matching %q", within, len(got), n, pattern)
		}
	}
}

// stop sends SIGTERM and requires exit code 0 within 10 s (§2); it returns
// how long the exit took.
func (d *daemonProc) stop(t testing.TB) time.Duration {
	t.Helper()
	start := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !d.exited() {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		t.Fatalf("escalationd did not exit within 10 s of SIGTERM")
	}
	took := time.Since(start)
	if d.waitErr != nil {
		t.Fatalf("escalationd exited with %v after SIGTERM, want exit code 0", d.waitErr)
	}
	return took
}

// kill sends SIGKILL and waits for the process to go.
func (d *daemonProc) kill(t testing.TB) {
	t.Helper()
	d.cmd.Process.Kill()
	select {
	case <-d.done:
	case <-time.After(patience):
		t.Fatalf("escalationd did not die of SIGKILL within %s", patience)
	}
}

// logTime is the time= field of a log line.
func logTime(t testing.TB, line string) time.Time {
	t.Helper()
	m := regexp.MustCompile(`^time=(\S+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("log line without time=: %s", line)
	}
	at, err := time.Parse(time.RFC3339Nano, m[1])
	if err != nil {
		t.Fatalf("log line %q: %v", line, err)
	}
	return at
}

// logField is the value of key= in a log line ("" when absent), unquoted.
func logField(line, key string) string {
	m := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	v := m[1]
	if strings.HasPrefix(v, `"`) {
		var s string
		if _, err := fmt.Sscanf(v, "%q", &s); err == nil {
			return s
		}
	}
	return v
}

// runCLI runs `escalationd ARGS... --config configPath` (list, show ID,
// once) and returns its stdout, stderr and exit code.
func runCLI(t testing.TB, configPath string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := buildBinary(t)
	cmdArgs := append([]string{args[0], "--config", configPath}, args[1:]...)
	cmd := exec.Command(bin, cmdArgs...)
	cmd.Dir = filepath.Dir(configPath)
	cmd.Env = cleanEnv()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("escalationd %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errb.String(), code
}

// ---------------------------------------------------------------------------
// The stack

// mailboxUser is one stack user and its password.
type mailboxUser struct{ user, pass string }

var (
	escBox     = mailboxUser{stack.Escalations, stack.EscalationsPass}
	janeBox    = mailboxUser{stack.Jane, stack.CustomerPass}
	bobBox     = mailboxUser{stack.Bob, stack.CustomerPass}
	tier2Box   = mailboxUser{stack.Tier2, stack.StaffPass}
	leadBox    = mailboxUser{stack.Lead, stack.StaffPass}
	managerBox = mailboxUser{stack.Manager, stack.StaffPass}
	vendorBox  = mailboxUser{stack.Vendor, stack.StaffPass}
)

// stagingMailbox is where tests put mail before moving it into the daemon's
// INBOX in one go.
const stagingMailbox = "E2EStaging"

// lockStack takes the stack (stack.Lock), says how long that took when it
// had to wait for another test, and empties the mailboxes (resetStack).
func lockStack(t testing.TB, addrs stack.Addrs) {
	t.Helper()
	start := time.Now()
	stack.Lock(t)
	if w := time.Since(start); w > time.Second {
		t.Logf("waited %s for the stack lock", w.Round(100*time.Millisecond))
	}
	resetStack(t, addrs)
}

// resetStack empties the INBOX of every stack user and deletes the
// escalations user's other mailboxes (Quarantine, Processed, staging; the
// daemon creates what it needs at start). Hold stack.Lock.
func resetStack(t testing.TB, addrs stack.Addrs) {
	t.Helper()
	for _, u := range []mailboxUser{escBox, janeBox, bobBox, tier2Box, leadBox, managerBox, vendorBox} {
		if err := stack.Clear(addrs.IMAP, u.user, u.pass, "INBOX"); err != nil {
			t.Fatalf("clear INBOX of %s: %v", u.user, err)
		}
	}
	c, err := stack.Login(addrs.IMAP, escBox.user, escBox.pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatalf("list mailboxes of %s: %v", escBox.user, err)
	}
	for _, mb := range list {
		if !strings.EqualFold(mb.Mailbox, "INBOX") {
			if err := c.Delete(mb.Mailbox).Wait(); err != nil {
				t.Fatalf("delete mailbox %s of %s: %v", mb.Mailbox, escBox.user, err)
			}
		}
	}
	c.Logout().Wait()
}

// stackCtl runs internal/e2e/stack/<script>.sh with args (stop.sh postfix,
// stop.sh dovecot, start.sh, which starts whatever is down). It needs
// root: the test is skipped otherwise.
func stackCtl(t testing.TB, script string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("stopping and starting the stack needs root")
	}
	path := filepath.Join(repoRoot(t), "internal", "e2e", "stack", script+".sh")
	cmd := exec.Command("bash", append([]string{path}, args...)...)
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", script, strings.Join(args, " "), err, out)
	}
}

// stopServer stops "postfix" or "dovecot" and makes sure the whole stack
// runs again when the test ends.
func stopServer(t testing.TB, which string) {
	t.Helper()
	t.Cleanup(func() { stackCtl(t, "start") })
	stackCtl(t, "stop", which)
}

// ---------------------------------------------------------------------------
// Mail

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// outMsg is a message a test sends or appends.
type outMsg struct {
	From, To, Cc string
	Subject      string
	MessageID    string // "" means a fresh one (see newMsgID)
	InReplyTo    string // with angle brackets
	References   string
	Body         string
	Headers      []string // further "Name: value" lines
}

// newMsgID returns a fresh Message-ID with angle brackets.
func newMsgID(domain string) string {
	var b [8]byte
	rand.Read(b[:])
	return "<e2e." + hex.EncodeToString(b[:]) + "@" + domain + ">"
}

// bytes renders m with CRLF line ends; it sets m.MessageID when empty.
func (m *outMsg) bytes() []byte {
	if m.MessageID == "" {
		m.MessageID = newMsgID("e2e.test")
	}
	var b strings.Builder
	w := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
	}
	w("From", m.From)
	w("To", m.To)
	w("Cc", m.Cc)
	w("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	w("Date", time.Now().Format(time.RFC1123Z))
	w("Message-ID", m.MessageID)
	w("In-Reply-To", m.InReplyTo)
	w("References", m.References)
	w("MIME-Version", "1.0")
	w("Content-Type", "text/plain; charset=utf-8")
	w("Content-Transfer-Encoding", "8bit")
	for _, h := range m.Headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n"))
	if !strings.HasSuffix(m.Body, "\n") {
		b.WriteString("\r\n")
	}
	return []byte(b.String())
}

// sendSMTP submits m through Postfix with envelope sender from (the address
// of m.From when "") to rcpts (m.To when none).
func sendSMTP(t testing.TB, addrs stack.Addrs, m *outMsg, from string, rcpts ...string) {
	t.Helper()
	raw := m.bytes()
	if from == "" {
		from = addrOf(t, m.From)
	}
	if len(rcpts) == 0 {
		rcpts = []string{addrOf(t, m.To)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := stack.Send(ctx, addrs.SMTP, from, rcpts, raw); err != nil {
		t.Fatalf("send %q: %v", m.Subject, err)
	}
}

func addrOf(t testing.TB, s string) string {
	t.Helper()
	a, err := mail.ParseAddress(s)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a.Address
}

// appendIMAP appends raws to mailbox of u, in order, with IMAP APPEND
// (mail arrives without Postfix: no Return-Path, no Delivered-To).
func appendIMAP(t testing.TB, addrs stack.Addrs, u mailboxUser, mailbox string, raws ...[]byte) {
	t.Helper()
	c, err := stack.Login(addrs.IMAP, u.user, u.pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.EqualFold(mailbox, "INBOX") {
		if err := c.Create(mailbox, nil).Wait(); err != nil && !strings.Contains(err.Error(), "exists") {
			t.Fatalf("create %s: %v", mailbox, err)
		}
	}
	for _, raw := range raws {
		cmd := c.Append(mailbox, int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			t.Fatalf("append to %s of %s: %v", mailbox, u.user, err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("append to %s of %s: %v", mailbox, u.user, err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("append to %s of %s: %v", mailbox, u.user, err)
		}
	}
	c.Logout().Wait()
}

// moveAll moves every message of u's mailbox from into to, with one UID
// MOVE, so the daemon watching to sees them all at once.
func moveAll(t testing.TB, addrs stack.Addrs, u mailboxUser, from, to string) {
	t.Helper()
	c, err := stack.Login(addrs.IMAP, u.user, u.pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(from, nil).Wait(); err != nil {
		t.Fatalf("select %s: %v", from, err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	if _, err := c.Move(all, to).Wait(); err != nil {
		t.Fatalf("move %s to %s: %v", from, to, err)
	}
	c.Logout().Wait()
}

// boxMsg is a message in a mailbox as the server has it.
type boxMsg struct {
	UID       imap.UID
	Flags     []imap.Flag
	MessageID string // without angle brackets
}

func (m boxMsg) has(f imap.Flag) bool {
	for _, g := range m.Flags {
		if strings.EqualFold(string(g), string(f)) {
			return true
		}
	}
	return false
}

// listBox returns UID, flags and Message-ID of every message in mailbox.
func listBox(t testing.TB, addrs stack.Addrs, u mailboxUser, mailbox string) []boxMsg {
	t.Helper()
	c, err := stack.Login(addrs.IMAP, u.user, u.pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("examine %s of %s: %v", mailbox, u.user, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatalf("fetch %s of %s: %v", mailbox, u.user, err)
	}
	out := make([]boxMsg, 0, len(msgs))
	for _, m := range msgs {
		bm := boxMsg{UID: m.UID, Flags: m.Flags}
		if m.Envelope != nil {
			bm.MessageID = m.Envelope.MessageID
		}
		out = append(out, bm)
	}
	return out
}

// gotMsg is a received message, parsed.
type gotMsg struct {
	Raw    []byte
	Header mail.Header
	Body   string // decoded text (quoted-printable and base64 undone)
}

func (m gotMsg) get(name string) string {
	v := m.Header.Get(name)
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// msgID is the Message-ID without angle brackets.
func (m gotMsg) msgID() string { return strings.Trim(m.Header.Get("Message-Id"), "<> ") }

func (m gotMsg) isAck() bool    { return m.Header.Get("Auto-Submitted") == "auto-replied" }
func (m gotMsg) isNotice() bool { return m.Header.Get("Auto-Submitted") == "auto-generated" }

func parseMsg(raw []byte) (gotMsg, error) {
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return gotMsg{}, err
	}
	var body io.Reader = pm.Body
	switch strings.ToLower(strings.TrimSpace(pm.Header.Get("Content-Transfer-Encoding"))) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return gotMsg{}, err
	}
	return gotMsg{Raw: raw, Header: pm.Header, Body: strings.ReplaceAll(string(b), "\r\n", "\n")}, nil
}

// waitMail waits up to within for n messages in u's INBOX for which match
// returns true (every message when nil) and returns those.
func waitMail(t testing.TB, addrs stack.Addrs, u mailboxUser, match func(gotMsg) bool, n int, within time.Duration) []gotMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	raws, err := stack.WaitForFunc(ctx, addrs.IMAP, u.user, u.pass, "INBOX", func(raw []byte) bool {
		m, err := parseMsg(raw)
		return err == nil && (match == nil || match(m))
	}, n)
	if err != nil {
		t.Fatalf("%s: %v", u.user, err)
	}
	out := make([]gotMsg, 0, len(raws))
	for _, raw := range raws {
		m, err := parseMsg(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// inbox returns every message in u's INBOX now.
func inbox(t testing.TB, addrs stack.Addrs, u mailboxUser) []gotMsg {
	t.Helper()
	raws, err := stack.FetchAll(addrs.IMAP, u.user, u.pass, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	var out []gotMsg
	for _, raw := range raws {
		m, err := parseMsg(raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// waitFile waits up to within for the file at path to exist and contain
// every one of want, and returns its content.
func waitFile(t testing.TB, path string, within time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		missing := ""
		if err == nil {
			for _, w := range want {
				if !strings.Contains(string(b), w) {
					missing = w
					break
				}
			}
			if missing == "" {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			if err != nil {
				t.Fatalf("after %s: %v", within, err)
			}
			t.Fatalf("after %s, %s lacks %q:\n%s", within, path, missing, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitUntil polls cond every 50 ms for up to within; what describes it in
// the failure.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: still not %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
