package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

// demo runs the whole loop with the code of `run` against an in-process IMAP
// server and SMTP sink on loopback, in a fresh dir, then prints what it made.
func demo(ctx context.Context, dir string, stdout io.Writer, log *slog.Logger) error {
	start := time.Now()
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear %s: %w", dir, err)
	}
	sentDir := filepath.Join(dir, "sent")
	for _, sub := range []string{"escalations", "sent", "data"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), durable.DirMode); err != nil {
			return err
		}
	}
	cfg := config.Default()
	imapSrv, err := localmail.StartIMAP(cfg.Escalation.Address, "demo")
	if err != nil {
		return fmt.Errorf("start in-process IMAP server: %w", err)
	}
	defer imapSrv.Close()
	smtpSrv, err := localmail.StartSMTP(localmail.SMTPOptions{Dir: sentDir})
	if err != nil {
		return fmt.Errorf("start in-process SMTP sink: %w", err)
	}
	defer smtpSrv.Close()
	if err := demoConfig(&cfg, dir, imapSrv.Addr, smtpSrv.Addr); err != nil {
		return err
	}

	seeds := demoMessages(time.Now())
	for _, s := range seeds {
		if _, err := imapSrv.Append("INBOX", s.raw, s.arrived); err != nil {
			return fmt.Errorf("seed %q: %w", s.what, err)
		}
	}

	// The daemon of `run`, quiet unless something goes wrong.
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := build(cfg, time.Now, quiet)
	if err != nil {
		return err
	}
	defer d.close()
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.run(runCtx) }()

	// Done when every seeded message is handled and no mail is left queued.
	// A busy machine may take its time; the demo gives up only when nothing
	// moves (no message handled, no mail sent) for demoStall.
	var werr error
	progress, moved := -1, time.Now()
	for {
		finished, p, err := demoFinished(ctx, d, len(seeds))
		if err != nil || finished {
			werr = err
			break
		}
		if p != progress {
			progress, moved = p, time.Now()
		}
		if time.Since(moved) > demoStall {
			werr = fmt.Errorf("nothing handled or sent for %s", demoStall)
			break
		}
		select {
		case <-ctx.Done():
			werr = ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if werr != nil {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	if werr != nil {
		return fmt.Errorf("the demo did not finish: %w", werr)
	}
	log.Debug("demo finished", "took", time.Since(start))
	return demoSummary(ctx, d, dir, len(seeds), smtpSrv, time.Since(start), stdout)
}

// demoStall is how long the demo waits for the daemon to handle a message
// or send a mail before it gives up: a safety net against a hang, not a
// measure of how long the demo takes (about a second on an idle machine).
const demoStall = time.Minute

// demoFinished reports whether all seeded messages are handled and the
// outbox holds no queued mail, and how far the daemon got: messages handled
// plus mails no longer queued.
func demoFinished(ctx context.Context, d *daemon, seeded int) (finished bool, progress int, err error) {
	counts, err := d.engine.MessageCounts(ctx)
	if err != nil {
		return false, 0, err
	}
	handled := counts[workflow.Applied] + counts[workflow.Duplicate] + counts[workflow.Quarantined]
	out, err := d.engine.Outbox(ctx)
	if err != nil {
		return false, 0, err
	}
	queued := 0
	for _, m := range out {
		if m.Status == "queued" {
			queued++
		}
	}
	return handled >= seeded && queued == 0, handled + len(out) - queued, nil
}

func demoConfig(cfg *config.Config, dir, imapAddr, smtpAddr string) error {
	var err error
	if cfg.IMAP.Host, cfg.IMAP.Port, err = splitHostPort(imapAddr); err != nil {
		return err
	}
	if cfg.SMTP.Host, cfg.SMTP.Port, err = splitHostPort(smtpAddr); err != nil {
		return err
	}
	cfg.IMAP.TLS, cfg.SMTP.TLS = "none", "none"
	cfg.IMAP.Username, cfg.IMAP.Password = cfg.Escalation.Address, "demo"
	cfg.IMAP.PollInterval = time.Second
	cfg.Escalation.Dir = filepath.Join(dir, "escalations")
	cfg.Escalation.DataDir = filepath.Join(dir, "data")
	cfg.Customers = []config.Customer{
		{Domain: "acme.test", Name: "Acme Corp", Tier: "enterprise"},
		{Domain: "globex.test", Name: "Globex", Tier: "standard"},
	}
	return cfg.Validate()
}

func demoSummary(ctx context.Context, d *daemon, dir string, seeded int, smtpSrv *localmail.SMTPServer, took time.Duration, w io.Writer) error {
	list, err := d.engine.List(ctx)
	if err != nil {
		return err
	}
	counts, err := d.engine.MessageCounts(ctx)
	if err != nil {
		return err
	}
	sent := smtpSrv.Received()
	fmt.Fprintf(w, "escalationd demo: %d messages seeded, %d applied, %d duplicates, %d quarantined; %d escalations; %d mails sent (%v)\n\n",
		seeded, counts[workflow.Applied], counts[workflow.Duplicate], counts[workflow.Quarantined], len(list), len(sent), took.Round(time.Millisecond))
	fmt.Fprintln(w, "Escalations:")
	for _, s := range list {
		fmt.Fprintf(w, "  %s  %-9s  %-6s  %-9s  %s — %s\n", s.Tag, s.Type, s.Level, s.Status, s.CustomerName, s.Subject)
		fmt.Fprintf(w, "             %s  (in: %d, sent: %d, attachments: %d)\n", s.TrackingPath, s.Messages, s.Sent, s.Attachments)
	}
	fmt.Fprintf(w, "\nSent mail, as the SMTP server received it (%s):\n", filepath.Join(dir, "sent"))
	for _, m := range sent {
		fmt.Fprintf(w, "  %s\n      to %s: %s\n", filepath.Base(m.Path), strings.Join(m.To, ", "), decodeHeader(m.Header.Get("Subject")))
	}
	fmt.Fprintf(w, "\nStore and raw mail archive: %s\n", filepath.Join(dir, "data"))
	fmt.Fprintf(w, "Read one: cat %s\n", filepath.Join(dir, "escalations", "ESC-00001-tracking.md"))
	return nil
}

type seed struct {
	what    string
	raw     []byte
	arrived time.Time
}

// demoMessages are the sample requests: a new technical request, a reply
// with the tag, a reply threaded only by In-Reply-To, a Russian request in
// KOI8-R and an HTML-only request with an attachment.
func demoMessages(now time.Time) []seed {
	date := func(d time.Duration) string { return now.Add(-d).Format(time.RFC1123Z) }
	crlf := func(s string) []byte { return []byte(strings.ReplaceAll(s, "\n", "\r\n")) }

	koi8 := func(s string) string {
		b, err := charmap.KOI8R.NewEncoder().String(s)
		if err != nil {
			panic(err)
		}
		return b
	}
	ruSubject := mime.BEncoding.Encode("KOI8-R", koi8("Не проходят платежи с карт"))
	ruName := mime.BEncoding.Encode("KOI8-R", koi8("Иван Петров"))
	ruBody := koi8("Здравствуйте!\n\nС 09:00 по Москве ни один платёж картой не проходит, ошибка 502 на шлюзе.\nПрошу эскалировать: мы теряем заказы.\n\nИван Петров\nGlobex")
	logText := "2026-11-28T09:14:03Z ERROR sync worker: deadlock detected on table orders\n2026-11-28T09:14:04Z ERROR sync worker: retry 1/3 failed\n"

	return []seed{
		{"new technical request", crlf(`From: Jane Doe <jane@acme.test>
To: Escalations <escalations@example.com>
Subject: Database outage in eu-west
Date: ` + date(40*time.Minute) + `
Message-ID: <demo-1@acme.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello,

Our primary database in eu-west has been unreachable since 09:10 UTC.
Checkout is down for all EU customers. We restarted the app servers;
no change. Please escalate.

Jane Doe
Acme Corp, Platform team
`), now.Add(-40 * time.Minute)},
		{"reply carrying the tag", crlf(`From: Jane Doe <jane@acme.test>
To: escalations@example.com
Subject: Re: [ESC-00001] Database outage in eu-west
Date: ` + date(20*time.Minute) + `
Message-ID: <demo-2@acme.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Update: the replica in eu-west-1b answers, the primary does not.

On Sat, Nov 28, 2026 at 09:30, Escalations <escalations@example.com> wrote:
> Dear Jane Doe,
> Thank you for escalating this to my attention.
`), now.Add(-20 * time.Minute)},
		{"reply threaded only by In-Reply-To", crlf(`From: Jane Doe <jane@acme.test>
To: escalations@example.com
Subject: Re: Database outage in eu-west
Date: ` + date(10*time.Minute) + `
Message-ID: <demo-3@acme.test>
In-Reply-To: <demo-1@acme.test>
References: <demo-1@acme.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Our CTO asks for an ETA. Anything you need from us?
`), now.Add(-10 * time.Minute)},
		{"Russian request in KOI8-R", append(crlf(`From: `+ruName+` <ivan@globex.test>
To: escalations@example.com
Subject: `+ruSubject+`
Date: `+date(8*time.Minute)+`
Message-ID: <demo-4@globex.test>
MIME-Version: 1.0
Content-Type: text/plain; charset=KOI8-R
Content-Transfer-Encoding: 8bit

`), crlf(ruBody+"\n")...), now.Add(-8 * time.Minute)},
		{"HTML-only request with an attachment", crlf(`From: Li Wei <li.wei@initech.test>
To: escalations@example.com
Subject: Nightly sync fails with deadlock
Date: ` + date(5*time.Minute) + `
Message-ID: <demo-5@initech.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<html><head><style>p{color:red}</style></head><body>
<p>Hi team,</p>
<p>Since Tuesday the <b>nightly sync</b> fails with a deadlock &amp; leaves orders half-written.</p>
<ul><li>Tier: production</li><li>Started: after the 4.2 upgrade</li></ul>
<p>Log attached. See <a href="https://status.initech.test/incident/77">our incident page</a>.</p>
</body></html>
--b1
Content-Type: text/plain; name="sync-error.log"
Content-Disposition: attachment; filename="sync-error.log"
Content-Transfer-Encoding: base64

` + wrap76(base64.StdEncoding.EncodeToString([]byte(logText))) + `
--b1--
`), now.Add(-5 * time.Minute)},
	}
}

// decodeHeader decodes RFC 2047 words for display, or returns s as it is.
func decodeHeader(s string) string {
	if d, err := new(mime.WordDecoder).DecodeHeader(s); err == nil {
		return d
	}
	return s
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s)
	return b.String()
}
