// Package stack is the test-side handle on the private Dovecot + Postfix
// stack of the end-to-end suite (start.sh in this folder): where it listens,
// its users, and small helpers to submit mail over SMTP and read it back over
// IMAP.
//
// The stack keeps its state (mailboxes, queue, logs) in /tmp/esce2e across
// test runs, and `go test ./...` runs test binaries of different packages at
// the same time: tests that depend on what is (or is not) in a mailbox call
// Lock, and look for their own messages (a unique token) rather than counting
// everything in a mailbox.
package stack

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DefaultStateDir is where start.sh keeps the stack's state and its env file
// unless E2E_STATE_DIR says otherwise.
const DefaultStateDir = "/tmp/esce2e"

// Users of the stack (Dovecot passwd-file, see the file users).
const (
	// The daemon's mailbox. Plus-addresses (escalations+ESC-00001@…) land
	// in its INBOX.
	Escalations     = "escalations@example.com"
	EscalationsPass = "escpass"

	// Customers.
	Jane         = "jane@acme.test"
	Bob          = "bob@globex.test"
	CustomerPass = "custpass"

	// Staff and roster (example.com is the staff domain), and a vendor
	// contact.
	Tier2     = "tier2@example.com"
	Lead      = "lead@example.com"
	Manager   = "manager@example.com"
	Vendor    = "vendor@example.com"
	StaffPass = "staffpass"

	// Ghost is accepted by Postfix but unknown to Dovecot: mail to it
	// bounces with a real delivery report (multipart/report) to the
	// envelope sender.
	Ghost = "ghost@acme.test"
)

// processLock serializes Lock within one test binary.
var processLock sync.Mutex

// Addrs are the stack's listeners, as host:port.
type Addrs struct {
	IMAP  string // plain IMAP, STARTTLS offered
	IMAPS string // IMAP over implicit TLS (self-signed certificate)
	SMTP  string // Postfix smtpd, no auth, STARTTLS offered
	LMTP  string // Dovecot LMTP (Postfix delivers here)
}

// StateDir is E2E_STATE_DIR or DefaultStateDir.
func StateDir() string {
	if d := os.Getenv("E2E_STATE_DIR"); d != "" {
		return d
	}
	return DefaultStateDir
}

// Env finds the running stack: the E2E_IMAP_ADDR, E2E_IMAPS_ADDR,
// E2E_SMTP_ADDR and E2E_LMTP_ADDR environment variables, else the env file
// start.sh writes, and checks that each port answers. ok is false when the
// stack is not running.
func Env() (Addrs, bool) {
	a, err := probe()
	return a, err == nil
}

// Require returns the stack's addresses, or skips the test when the stack is
// not running (fails it instead when CI=true, so CI cannot go green by
// skipping the end-to-end suite).
func Require(t testing.TB) Addrs {
	t.Helper()
	a, err := probe()
	if err == nil {
		return a
	}
	const msg = "e2e: Dovecot/Postfix stack not running; start it with internal/e2e/stack/start.sh"
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (%v)", msg, err)
	}
	t.Skipf("%s (%v)", msg, err)
	return Addrs{}
}

func probe() (Addrs, error) {
	a, err := lookup()
	if err != nil {
		return a, err
	}
	checks := []struct {
		name, addr, greeting string
		tls                  bool
	}{
		{"IMAP", a.IMAP, "* OK", false},
		{"IMAPS", a.IMAPS, "* OK", true},
		{"SMTP", a.SMTP, "220 ", false},
		{"LMTP", a.LMTP, "220 ", false},
	}
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := greets(c.addr, c.greeting, c.tls); err != nil {
				errs[i] = fmt.Errorf("%s %s: %w", c.name, c.addr, err)
			}
		}()
	}
	wg.Wait()
	return a, errors.Join(errs...)
}

// lookup reads the addresses from the environment, then the env file.
func lookup() (Addrs, error) {
	vars := map[string]string{}
	path := filepath.Join(StateDir(), "env")
	if b, err := os.ReadFile(path); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
				vars[k] = v
			}
		}
	}
	get := func(k string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return vars[k]
	}
	a := Addrs{
		IMAP:  get("E2E_IMAP_ADDR"),
		IMAPS: get("E2E_IMAPS_ADDR"),
		SMTP:  get("E2E_SMTP_ADDR"),
		LMTP:  get("E2E_LMTP_ADDR"),
	}
	if a.IMAP == "" || a.IMAPS == "" || a.SMTP == "" || a.LMTP == "" {
		return a, fmt.Errorf("no E2E_*_ADDR variables and no complete %s", path)
	}
	return a, nil
}

// greets connects and reads the server's first line. A stack that is down
// refuses the connection at once; one that is up but busy (Dovecot starting
// an imap-login process on a loaded machine) may take seconds to greet, so
// the deadline is only a safety net against a server that never answers.
func greets(addr, prefix string, useTLS bool) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if useTLS {
		tc := tls.Client(conn, InsecureTLS())
		if err := tc.Handshake(); err != nil {
			return err
		}
		conn = tc
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, prefix) {
		return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
	}
	return nil
}

// InsecureTLS is a client TLS configuration for the stack's self-signed
// certificate (issued to mx.example.com and 127.0.0.1).
func InsecureTLS() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, ServerName: "mx.example.com"}
}

// Send submits raw (a complete message; LF line ends are fine) to the SMTP
// server at addr with envelope sender from ("" for the null sender <>) and
// the given recipients. Plain SMTP without STARTTLS or AUTH: Postfix accepts
// anything from 127.0.0.0/8 for the stack's domains. ctx bounds the whole
// exchange (30 s when it has no deadline).
func Send(ctx context.Context, addr string, from string, to []string, raw []byte) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	host, _, _ := net.SplitHostPort(addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	defer c.Close()
	if err := c.Hello("e2e.test"); err != nil {
		return fmt.Errorf("smtp EHLO: %w", err)
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("smtp MAIL FROM:<%s>: %w", from, err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("smtp RCPT TO:<%s>: %w", rcpt, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(raw); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of DATA: %w", err)
	}
	return c.Quit()
}

// Login connects to the plain IMAP port at addr and logs in. The connection
// has a 30 s deadline, enough for any helper here; the caller closes it
// (Logout, then Close).
func Login(addr, user, pass string) (*imapclient.Client, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("imap dial %s: %w", addr, err)
	}
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := imapclient.New(conn, nil)
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("imap login %s as %s: %w", addr, user, err)
	}
	return c, nil
}

// FetchAll logs in at the plain IMAP port addr and returns every message in
// mailbox, raw, in mailbox order. It opens the mailbox read-only and peeks,
// so flags are left as they were. A mailbox that does not exist is an error.
func FetchAll(addr, user, pass, mailbox string) ([][]byte, error) {
	c, err := Login(addr, user, pass)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()

	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("imap EXAMINE %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return nil, fmt.Errorf("imap FETCH %s: %w", mailbox, err)
	}
	sort.Slice(bufs, func(i, j int) bool { return bufs[i].SeqNum < bufs[j].SeqNum })
	msgs := make([][]byte, 0, len(bufs))
	for _, b := range bufs {
		msgs = append(msgs, b.FindBodySection(section))
	}
	return msgs, nil
}

// WaitFor polls mailbox until it holds at least n messages and returns them
// all. ctx bounds the wait (2 min when it has no deadline: a safety net, not
// an expectation); on timeout the error says how many there were.
func WaitFor(ctx context.Context, addr, user, pass, mailbox string, n int) ([][]byte, error) {
	return WaitForFunc(ctx, addr, user, pass, mailbox, nil, n)
}

// WaitForFunc is WaitFor counting only the messages for which match returns
// true (all of them when match is nil), and returning only those.
func WaitForFunc(ctx context.Context, addr, user, pass, mailbox string, match func(raw []byte) bool, n int) ([][]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		msgs, err := FetchAll(addr, user, pass, mailbox)
		if err == nil && match != nil {
			kept := msgs[:0]
			for _, m := range msgs {
				if match(m) {
					kept = append(kept, m)
				}
			}
			msgs = kept
		}
		if err == nil && len(msgs) >= n {
			return msgs, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, fmt.Errorf("waiting for %d message(s) in %s of %s: %w (last error: %v)", n, mailbox, user, ctx.Err(), err)
			}
			return msgs, fmt.Errorf("waiting for %d message(s) in %s of %s: %w (have %d)", n, mailbox, user, ctx.Err(), len(msgs))
		case <-tick.C:
		}
	}
}

// Clear deletes every message in mailbox (STORE \Deleted, EXPUNGE). Hold
// Lock while relying on it: other test binaries may use the same mailbox.
func Clear(addr, user, pass, mailbox string) error {
	c, err := Login(addr, user, pass)
	if err != nil {
		return err
	}
	defer c.Close()
	defer func() { c.Logout().Wait() }()
	sel, err := c.Select(mailbox, nil).Wait()
	if err != nil {
		return fmt.Errorf("imap SELECT %s: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	var all imap.SeqSet
	all.AddRange(1, sel.NumMessages)
	store := &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}
	if err := c.Store(all, store, nil).Close(); err != nil {
		return fmt.Errorf("imap STORE %s: %w", mailbox, err)
	}
	if err := c.Expunge().Close(); err != nil {
		return fmt.Errorf("imap EXPUNGE %s: %w", mailbox, err)
	}
	return nil
}
