package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	gomail "github.com/wneessen/go-mail"

	"github.com/escalationd/escalationd/templates"
	"github.com/escalationd/escalationd/workflow"
)

// The raw SMTP submission baseline: the least any SMTP client must do to
// hand the daemon's acknowledgements to the server, without the daemon's
// work. The mails go as the daemon's outbox sends them at best
// (workflow/outbox.go): consecutive chunks of up to mailsPerConnection
// mails, one connection each, up to submitConnections connections at once.
const (
	mailsPerConnection = 100 // outboxChunk
	submitConnections  = 4   // smtpConnections
)

// rawMail is one mail ready to submit.
type rawMail struct {
	from, to string // envelope
	data     []byte
}

// ackMails renders the acknowledgement of each of requests 1..n, request r
// coming from to(r).
func ackMails(n int, to func(r int) string) ([]rawMail, error) {
	tmpl, err := templates.Load("")
	if err != nil {
		return nil, err
	}
	now := time.Now()
	mails := make([]rawMail, 0, n)
	for r := 1; r <= n; r++ {
		data, err := ackMail(tmpl, r, to(r), now)
		if err != nil {
			return nil, fmt.Errorf("ack %d: %w", r, err)
		}
		mails = append(mails, rawMail{from: "escalations@example.com", to: to(r), data: data})
	}
	return mails, nil
}

// ackMail is the acknowledgement of request r (see gen) as the daemon
// makes it with the bench's config: the ack template (empty roster, updates
// every 4 hours) and the daemon's headers, built with go-mail as mailout
// does, so that it has the size of a real one.
func ackMail(tmpl *templates.Set, r int, to string, now time.Time) ([]byte, error) {
	tag := fmt.Sprintf("ESC-%05d", r)
	subject := fmt.Sprintf("Sync worker fails on node %d", r)
	body, err := tmpl.Render(templates.Ack, templates.AckData{
		Salutation:  fmt.Sprintf("Customer %d", r),
		Subject:     subject,
		Tag:         tag,
		UpdateEvery: "4 hours",
		NextUpdate:  workflow.FormatTime(now.Add(4*time.Hour), time.UTC),
		Signature:   templates.Signature{Name: "Escalations", Contact: []string{"escalations@example.com"}},
	})
	if err != nil {
		return nil, err
	}
	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := m.FromFormat("Escalations", "escalations@example.com"); err != nil {
		return nil, err
	}
	if err := m.AddToFormat(fmt.Sprintf("Customer %d", r), to); err != nil {
		return nil, err
	}
	if err := m.ReplyTo("escalations+" + tag + "@example.com"); err != nil {
		return nil, err
	}
	m.Subject(fmt.Sprintf("RE: %s - Escalation Acknowledged [%s]", subject, tag))
	m.SetMessageIDWithValue(fmt.Sprintf("%s.ack.%016x@example.com", strings.ToLower(tag), r))
	m.SetDateWithValue(now)
	req := fmt.Sprintf("<req-%d@acme.test>", r)
	m.SetGenHeader(gomail.HeaderInReplyTo, req)
	m.SetGenHeader(gomail.HeaderReferences, req)
	m.SetGenHeader("Auto-Submitted", "auto-replied")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader("X-Escalationd-Loop", "escalations@example.com")
	m.SetBodyString(gomail.TypeTextPlain, body)
	var b bytes.Buffer
	if _, err := m.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// submit hands mails to the SMTP server at addr (plain, no login) with
// go-smtp, in chunks of mailsPerConnection over submitConnections
// connections at once, and returns once the server has accepted every mail
// (answered its data), with how many connections it used. Every chunk is
// tried; the error joins those of the chunks that failed.
func submit(addr string, mails []rawMail) (conns int, err error) {
	var chunks [][]rawMail
	for len(mails) > 0 {
		k := min(mailsPerConnection, len(mails))
		chunks, mails = append(chunks, mails[:k]), mails[k:]
	}
	next := make(chan int) // index of the chunk to send
	errs := make([]error, len(chunks))
	var wg sync.WaitGroup
	for range min(submitConnections, len(chunks)) {
		wg.Go(func() {
			for i := range next {
				errs[i] = submitChunk(addr, chunks[i])
			}
		})
	}
	for i := range chunks {
		next <- i
	}
	close(next)
	wg.Wait()
	return len(chunks), errors.Join(errs...)
}

// submitChunk submits mails over one connection of its own.
func submitChunk(addr string, mails []rawMail) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = 30*time.Second, 30*time.Second
	if err := c.Hello("localhost"); err != nil {
		return fmt.Errorf("EHLO: %w", err)
	}
	for _, m := range mails {
		if err := c.SendMail(m.from, []string{m.to}, bytes.NewReader(m.data)); err != nil {
			return fmt.Errorf("mail to %s: %w", m.to, err)
		}
	}
	return c.Quit()
}
