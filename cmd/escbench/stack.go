package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/internal/e2e/stack"
	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/workflow"
)

// The same backlog against the e2e suite's Dovecot and Postfix
// (internal/e2e/stack), when they run: Dovecot serves the escalation
// mailbox, Postfix takes the acknowledgements and delivers them over LMTP to
// jane@acme.test, each request coming from its own jane+NNNNN@acme.test.
// Beside the raw fetch, a raw SMTP submission of as many acks (submit.go)
// shows what Postfix alone costs.

// stackSender is the address of request r against the stack.
func stackSender(r int) string { return fmt.Sprintf("%s+%05d@acme.test", "jane", r) }

// stackBench measures, against the stack, the raw fetch baseline (a), the
// raw SMTP submission (s) of as many acks as the daemon sends, and
// `escalationd once` (b), with b as a multiple of a and of the slower of a
// and s; without a stack it says so in a row and returns no error.
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
	for _, mb := range stackMailboxes {
		if err := stack.Clear(a.IMAP, mb.user, mb.pass, "INBOX"); err != nil {
			return nil, fmt.Errorf("clear %s: %w", mb.user, err)
		}
	}
	defer func() {
		for _, mb := range stackMailboxes {
			stack.Clear(a.IMAP, mb.user, mb.pass, "INBOX")
		}
	}()

	n := o.stackN
	g := newGen(stackSender)
	t0 := time.Now()
	if err := appendAll(a.IMAP, g, n); err != nil {
		return nil, fmt.Errorf("fill Dovecot: %w", err)
	}
	logf("stack: filled Dovecot INBOX with %d messages in %s", n, time.Since(t0).Round(time.Millisecond))

	var rows []row
	fetch, fetchTook, err := stackFetchBench(a, n)
	if err != nil {
		return rows, err
	}
	rows = append(rows, fetch)
	sub, subTook, err := stackSubmitBench(a, g.requests)
	if err != nil {
		return rows, err
	}
	rows = append(rows, sub)
	once, res, err := stackOnceBench(o, dir, bin, a, g)
	if err != nil {
		return rows, err
	}
	rows = append(rows, once, row{what: "ratio b/a against Dovecot + Postfix (time)", took: times(res.took, fetchTook)})
	slower, base := "a", fetchTook
	if subTook > fetchTook {
		slower, base = "s", subTook
	}
	rows = append(rows, row{
		what: "ratio b/max(a, s) against Dovecot + Postfix (time)", took: times(res.took, base),
		notes: fmt.Sprintf("daemon wall time ÷ the slower raw baseline (%s)", slower),
	})

	// Postfix goes on delivering the acks to jane over LMTP: wait, so
	// that clearing her mailbox leaves nothing behind.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := waitCount(ctx, a.IMAP, stack.Jane, stack.CustomerPass, g.requests); err != nil {
		logf("stack: acks still on their way to %s: %v", stack.Jane, err)
	}
	return rows, nil
}

// stackMailboxes are emptied before and after a stack run: the backlog's,
// and the one the acks are delivered to.
var stackMailboxes = []struct{ user, pass string }{
	{stack.Escalations, stack.EscalationsPass},
	{stack.Jane, stack.CustomerPass},
}

// stackFetchBench measures the raw fetch baseline (a) on the n messages of
// the escalation mailbox in Dovecot.
func stackFetchBench(a stack.Addrs, n int) (row, time.Duration, error) {
	t0 := time.Now()
	c, err := stack.Login(a.IMAP, stack.Escalations, stack.EscalationsPass)
	if err != nil {
		return row{}, 0, err
	}
	got, size, err := baseline(c)
	took := time.Since(t0)
	if err != nil || got != n {
		return row{}, took, fmt.Errorf("stack baseline: %d of %d messages: %v", got, n, err)
	}
	logf("stack: baseline %d messages, %.1f MiB in %s", got, float64(size)/(1<<20), took.Round(time.Millisecond))
	return row{
		what: "(a) baseline against Dovecot", msgs: fmt.Sprint(n), took: dur(took), rate: rate(n, took),
		rss: "n/a (in bench process)", notes: fmt.Sprintf("%.1f MiB fetched over 127.0.0.1", float64(size)/(1<<20)),
	}, took, nil
}

// stackSubmitBench measures the raw SMTP submission (s) to Postfix of as
// many acks as the daemon will send for the backlog, to the same
// recipients, timed as the daemon's run is: until Postfix has accepted the
// last. Then it waits, untimed, until Dovecot holds them all and empties
// jane's mailbox again, so that the daemon finds Postfix idle and counts
// only its own acks.
func stackSubmitBench(a stack.Addrs, acks int) (row, time.Duration, error) {
	mails, err := ackMails(acks, stackSender)
	if err != nil {
		return row{}, 0, err
	}
	size := 0
	for _, m := range mails {
		size += len(m.data)
	}
	t0 := time.Now()
	conns, err := submit(a.SMTP, mails)
	took := time.Since(t0)
	if err != nil {
		return row{}, took, fmt.Errorf("stack submission: %w", err)
	}
	logf("stack: submitted %d acks over %d SMTP connections in %s", acks, conns, took.Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := waitCount(ctx, a.IMAP, stack.Jane, stack.CustomerPass, acks); err != nil {
		return row{}, took, fmt.Errorf("stack submission: delivery to %s: %w", stack.Jane, err)
	}
	if err := stack.Clear(a.IMAP, stack.Jane, stack.CustomerPass, "INBOX"); err != nil {
		return row{}, took, fmt.Errorf("clear %s: %w", stack.Jane, err)
	}
	return row{
		what: "(s) baseline: go-smtp submission of the acks to Postfix", msgs: fmt.Sprint(acks), took: dur(took), rate: rate(acks, took),
		rss: "n/a (in bench process)",
		notes: fmt.Sprintf("%d ack-sized mails (%.1f KiB each) over %d connections, up to %d at once and %d per connection as the daemon's outbox; until Postfix accepted the last",
			acks, float64(size)/float64(acks)/1024, conns, submitConnections, mailsPerConnection),
	}, took, nil
}

// stackOnceBench runs `escalationd once` (b) on the backlog g in Dovecot,
// sending to Postfix, and verifies what it did.
func stackOnceBench(o options, dir, bin string, a stack.Addrs, g *gen) (row, result, error) {
	n := o.stackN
	t := target{imapAddr: a.IMAP, smtpAddr: a.SMTP, user: stack.Escalations, pass: stack.EscalationsPass}
	work := filepath.Join(dir, "stack")
	cfg, err := writeConfig(work, t, "60s", 26214400)
	if err != nil {
		return row{}, result{}, err
	}
	logf("stack: running %s once --config %s", bin, cfg)
	res, err := runOnce(bin, cfg, o.timeout, "")
	if err != nil {
		return row{}, res, fmt.Errorf("stack once: %w\n%s", err, tail(res.stderr, 20))
	}
	logf("stack: once exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	if res.code != 0 {
		return row{}, res, fmt.Errorf("stack once: exit %d; log tail:\n%s", res.code, tail(res.stderr, 20))
	}
	if err := verifyStore(filepath.Join(work, "data"), filepath.Join(work, "escalations"), g.requests); err != nil {
		return row{}, res, fmt.Errorf("stack verify: %w", err)
	}
	return row{
		what: "(b) `escalationd once` against Dovecot + Postfix", msgs: fmt.Sprint(n), took: dur(res.took), rate: rate(n, res.took),
		rss:   rssCell(res.maxRSS, res.hwm),
		notes: fmt.Sprintf("verified: exit 0, %d acks accepted by Postfix (outbox: sent), every tracking file", g.requests),
	}, res, nil
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
	st, err := sqlite.Open(dataDir)
	if err != nil {
		return err
	}
	defer st.Close()
	var mails []workflow.OutboxItem
	if err := st.Read(context.Background(), func(tx workflow.Tx) error {
		mails, err = tx.Outbox()
		return err
	}); err != nil {
		return err
	}
	var sent, other int
	for _, m := range mails {
		switch {
		case m.Status == "sent" && m.Kind == "ack":
			sent++
		case m.Status != "sent":
			other++
		}
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
