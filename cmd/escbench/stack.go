package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	_ "modernc.org/sqlite" // to read the daemon's store

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// The same backlog against the e2e suite's Dovecot and Postfix
// (internal/e2e/stack), when they run: Dovecot serves the escalation
// mailbox, Postfix takes the acknowledgements and delivers them over LMTP to
// jane@acme.test, each request coming from its own jane+NNNNN@acme.test.

// stackSender is the address of request r against the stack.
func stackSender(r int) string { return fmt.Sprintf("%s+%05d@acme.test", "jane", r) }

// stackBench measures the raw baseline and `escalationd once` against the
// stack; without one it says so in a row and returns no error.
func stackBench(o options, dir, bin string) ([]row, error) {
	a, ok := stack.Env()
	if !ok {
		logf("Dovecot/Postfix stack not running: skipped (start it with internal/e2e/stack/start.sh)")
		return []row{{what: "Dovecot + Postfix", notes: "skipped: the e2e stack is not running (internal/e2e/stack/start.sh)"}}, nil
	}
	release, err := stack.Acquire()
	if err != nil {
		return nil, err
	}
	defer release()
	n := o.stackN
	t := target{imapAddr: a.IMAP, smtpAddr: a.SMTP, user: stack.Escalations, pass: stack.EscalationsPass}
	for _, mb := range []struct{ user, pass string }{{stack.Escalations, stack.EscalationsPass}, {stack.Jane, stack.CustomerPass}} {
		if err := stack.Clear(a.IMAP, mb.user, mb.pass, "INBOX"); err != nil {
			return nil, fmt.Errorf("clear %s: %w", mb.user, err)
		}
	}
	defer func() {
		stack.Clear(a.IMAP, stack.Escalations, stack.EscalationsPass, "INBOX")
		stack.Clear(a.IMAP, stack.Jane, stack.CustomerPass, "INBOX")
	}()

	g := newGen(stackSender)
	t0 := time.Now()
	if err := appendAll(a.IMAP, g, n); err != nil {
		return nil, fmt.Errorf("fill Dovecot: %w", err)
	}
	logf("stack: filled Dovecot INBOX with %d messages in %s", n, time.Since(t0).Round(time.Millisecond))

	var rows []row
	t0 = time.Now()
	c, err := stack.Login(a.IMAP, t.user, t.pass)
	if err != nil {
		return nil, err
	}
	got, size, err := baseline(c)
	baseTook := time.Since(t0)
	if err != nil || got != n {
		return rows, fmt.Errorf("stack baseline: %d of %d messages: %v", got, n, err)
	}
	logf("stack: baseline %d messages, %.1f MiB in %s", got, float64(size)/(1<<20), baseTook.Round(time.Millisecond))
	rows = append(rows, row{
		what: "(a) baseline against Dovecot", msgs: fmt.Sprint(n), took: dur(baseTook), rate: rate(n, baseTook),
		rss: "n/a (in bench process)", notes: fmt.Sprintf("%.1f MiB fetched over 127.0.0.1", float64(size)/(1<<20)),
	})

	work := filepath.Join(dir, "stack")
	cfg, err := writeConfig(work, t, "60s", 26214400)
	if err != nil {
		return rows, err
	}
	logf("stack: running %s once --config %s", bin, cfg)
	res, err := runOnce(bin, cfg, o.timeout, "")
	if err != nil {
		return rows, fmt.Errorf("stack once: %w\n%s", err, tail(res.stderr, 20))
	}
	logf("stack: once exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	if res.code != 0 {
		return rows, fmt.Errorf("stack once: exit %d; log tail:\n%s", res.code, tail(res.stderr, 20))
	}
	if err := verifyStore(filepath.Join(work, "data"), filepath.Join(work, "escalations"), g.requests); err != nil {
		return rows, fmt.Errorf("stack verify: %w", err)
	}
	rows = append(rows, row{
		what: "(b) `escalationd once` against Dovecot + Postfix", msgs: fmt.Sprint(n), took: dur(res.took), rate: rate(n, res.took),
		rss:   rssCell(res.maxRSS, res.hwm),
		notes: fmt.Sprintf("verified: exit 0, %d acks accepted by Postfix (outbox: sent), every tracking file", g.requests),
	}, row{what: "ratio b/a against Dovecot + Postfix (time)", took: fmt.Sprintf("%.1f×", res.took.Seconds()/baseTook.Seconds())})

	// Postfix goes on delivering the acks to jane over LMTP: wait, so
	// that clearing her mailbox leaves nothing behind.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := waitCount(ctx, a.IMAP, stack.Jane, stack.CustomerPass, g.requests); err != nil {
		logf("stack: acks still on their way to %s: %v", stack.Jane, err)
	}
	return rows, nil
}

// appendAll APPENDs n generated messages to the escalation mailbox, in
// order (request r must become ESC-r), on one connection with up to 32
// commands in flight.
func appendAll(addr string, g *gen, n int) error {
	c, err := stack.Login(addr, stack.Escalations, stack.EscalationsPass)
	if err != nil {
		return err
	}
	defer c.Close()
	var inflight []*imapclient.AppendCommand
	wait := func(keep int) error {
		for len(inflight) > keep {
			if _, err := inflight[0].Wait(); err != nil {
				return fmt.Errorf("APPEND: %w", err)
			}
			inflight = inflight[1:]
		}
		return nil
	}
	for i := range n {
		raw := g.next(i)
		cmd := c.Append("INBOX", int64(len(raw)), nil)
		if _, err := cmd.Write(raw); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		inflight = append(inflight, cmd)
		if err := wait(32); err != nil {
			return err
		}
	}
	if err := wait(0); err != nil {
		return err
	}
	return c.Logout().Wait()
}

// verifyStore checks in the daemon's store that every request's ack was
// accepted (and nothing failed or waits), and that each has its tracking
// file.
func verifyStore(dataDir, escDir string, requests int) error {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "escalationd.db")+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var sent, other int
	if err := db.QueryRow(`SELECT count(*) FILTER (WHERE status = 'sent' AND kind = 'ack'), count(*) FILTER (WHERE status <> 'sent') FROM outbox`).Scan(&sent, &other); err != nil {
		return err
	}
	if sent != requests || other != 0 {
		return fmt.Errorf("outbox: %d acks sent, %d mails not sent; want %d and 0", sent, other, requests)
	}
	for r := 1; r <= requests; r++ {
		if _, err := os.Stat(filepath.Join(escDir, fmt.Sprintf("ESC-%05d-tracking.md", r))); err != nil {
			return fmt.Errorf("tracking file: %w", err)
		}
	}
	return nil
}

// waitCount polls user's INBOX until it holds at least n messages.
func waitCount(ctx context.Context, addr, user, pass string, n int) error {
	c, err := stack.Login(addr, user, pass)
	if err != nil {
		return err
	}
	defer c.Close()
	for {
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil {
			return err
		}
		if st.NumMessages != nil && int(*st.NumMessages) >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d delivered: %w", *st.NumMessages, n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
