package stack_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/internal/e2e/stack"
)

// patience bounds the waits for mail to arrive. They poll and return as soon
// as it is there: this is a safety net against a hang, long enough that a
// busy machine never reaches it.
const patience = 2 * time.Minute

// token makes this run's messages recognisable in mailboxes that keep mail
// from earlier runs.
func token() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "e2e-" + hex.EncodeToString(b)
}

func message(from, to, subject, msgID, body string) []byte {
	return []byte("From: " + from + "\r\n" +
		"To: " + to + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: " + msgID + "\r\n" +
		"Date: " + time.Now().Format(time.RFC1123Z) + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n" +
		"\r\n" + body + "\r\n")
}

func containing(s string) func([]byte) bool {
	return func(raw []byte) bool { return bytes.Contains(raw, []byte(s)) }
}

func header(t *testing.T, raw []byte, name string) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v\n%s", err, raw)
	}
	return m.Header.Get(name)
}

// Mail through Postfix reaches the right Dovecot INBOX, plus-addresses
// included, and raw UTF-8 in headers survives (smtputf8_enable = no).
func TestDelivery(t *testing.T) {
	stack.Lock(t)
	a := stack.Require(t)
	tok := token()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	plus := "escalations+ESC-00001@example.com"
	raw := message("Tier 2 <"+stack.Tier2+">", "Jane <"+stack.Jane+">, "+plus,
		"Проблема с сервером "+tok, "<"+tok+"@e2e.test>", "Здравствуйте, "+tok)
	start := time.Now()
	if err := stack.Send(ctx, a.SMTP, stack.Tier2, []string{stack.Jane, plus}, raw); err != nil {
		t.Fatal(err)
	}

	got, err := stack.WaitForFunc(ctx, a.IMAP, stack.Jane, stack.CustomerPass, "INBOX", containing(tok), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("jane@acme.test: delivered in %v", time.Since(start).Round(time.Millisecond))
	if subj := header(t, got[0], "Subject"); !strings.Contains(subj, "Проблема") {
		t.Errorf("raw UTF-8 subject came out as %q", subj)
	}

	got, err = stack.WaitForFunc(ctx, a.IMAP, stack.Escalations, stack.EscalationsPass, "INBOX", containing(tok), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: delivered in %v", plus, time.Since(start).Round(time.Millisecond))
	if dt := header(t, got[0], "Delivered-To"); dt != plus {
		t.Errorf("Delivered-To = %q, want %q", dt, plus)
	}
	if rp := header(t, got[0], "Return-Path"); rp != "<"+stack.Tier2+">" {
		t.Errorf("Return-Path = %q, want <%s>", rp, stack.Tier2)
	}

	// lmtp_save_to_detail_mailbox = no: no mailbox named after the detail.
	c, err := stack.Login(a.IMAP, stack.Escalations, stack.EscalationsPass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	boxes, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		if strings.Contains(b.Mailbox, "ESC-") {
			t.Errorf("unexpected mailbox %q", b.Mailbox)
		}
	}
}

// A recipient Postfix accepts but Dovecot refuses comes back as a DSN to the
// envelope sender, the daemon's mailbox.
func TestBounce(t *testing.T) {
	stack.Lock(t)
	a := stack.Require(t)
	tok := token()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()

	msgID := "<" + tok + "@escalationd.test>"
	raw := message("Escalations <"+stack.Escalations+">", stack.Ghost,
		"RE: Outage - Escalation Acknowledged [ESC-00001]", msgID, "Ack "+tok)
	start := time.Now()
	if err := stack.Send(ctx, a.SMTP, stack.Escalations, []string{stack.Ghost}, raw); err != nil {
		t.Fatal(err)
	}
	got, err := stack.WaitForFunc(ctx, a.IMAP, stack.Escalations, stack.EscalationsPass, "INBOX", containing(msgID), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("DSN after %v", time.Since(start).Round(time.Millisecond))
	dsn := got[0]
	if ct := header(t, dsn, "Content-Type"); !strings.HasPrefix(ct, "multipart/report") || !strings.Contains(ct, "delivery-status") {
		t.Errorf("DSN Content-Type = %q", ct)
	}
	if rp := header(t, dsn, "Return-Path"); rp != "<>" {
		t.Errorf("DSN Return-Path = %q, want <>", rp)
	}
	for _, want := range []string{"Final-Recipient: rfc822; " + stack.Ghost, "Status: 5.", "Action: failed"} {
		if !bytes.Contains(dsn, []byte(want)) {
			t.Errorf("DSN lacks %q:\n%s", want, dsn)
		}
	}
}

// A wrong password fails promptly, and does not slow the next logins (no
// auth penalty). The limits sit between what the defects cost and what a
// busy machine costs: Dovecot's default auth_failure_delay holds each failed
// login 2 s (three take 6 s or more), and its anvil penalty delays each later
// login from the address by a time that doubles with every failure (8 s or
// more after three); here a failed login answers after ~0.5 s and a good one
// at once.
func TestBadPassword(t *testing.T) {
	stack.Lock(t) // the e2e suite restarts the servers while it holds the lock
	a := stack.Require(t)
	var failing time.Duration
	for i := range 3 {
		start := time.Now()
		c, err := stack.Login(a.IMAP, stack.Jane, "wrong")
		took := time.Since(start)
		failing += took
		if err == nil {
			c.Close()
			t.Fatal("login with a wrong password succeeded")
		}
		t.Logf("failed login %d: %v after %v", i+1, err, took.Round(time.Millisecond))
	}
	if failing >= 6*time.Second {
		t.Errorf("three failed logins took %v together, want < 6s (no failure delay, no penalty)", failing)
	}
	start := time.Now()
	c, err := stack.Login(a.IMAP, stack.Jane, stack.CustomerPass)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	took := time.Since(start)
	t.Logf("good login after the failures: %v", took.Round(time.Millisecond))
	if took >= 5*time.Second {
		t.Errorf("good login after failures took %v, want < 5s (no auth penalty)", took)
	}
}

func checkSession(t *testing.T, c *imapclient.Client, how string) {
	t.Helper()
	defer c.Close()
	if err := c.Login(stack.Escalations, stack.EscalationsPass).Wait(); err != nil {
		t.Fatalf("%s login: %v", how, err)
	}
	caps := c.Caps()
	for _, want := range []imap.Cap{imap.CapIdle, imap.CapMove, imap.CapUIDPlus} {
		if !caps.Has(want) {
			t.Errorf("%s: capability %s missing (have %v)", how, want, caps)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Errorf("%s SELECT: %v", how, err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("%s LOGOUT: %v", how, err)
	}
}

func TestIMAPS(t *testing.T) {
	stack.Lock(t) // the e2e suite restarts the servers while it holds the lock
	a := stack.Require(t)
	c, err := imapclient.DialTLS(a.IMAPS, &imapclient.Options{TLSConfig: stack.InsecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, c, "IMAPS")
}

func TestSTARTTLS(t *testing.T) {
	stack.Lock(t) // the e2e suite restarts the servers while it holds the lock
	a := stack.Require(t)
	c, err := imapclient.DialStartTLS(a.IMAP, &imapclient.Options{TLSConfig: stack.InsecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, c, "STARTTLS")
}

func TestPlainIMAP(t *testing.T) {
	stack.Lock(t) // the e2e suite restarts the servers while it holds the lock
	a := stack.Require(t)
	c, err := imapclient.DialInsecure(a.IMAP, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkSession(t, c, "plain")
}

func TestEnv(t *testing.T) {
	stack.Lock(t)
	want := stack.Require(t)
	got, ok := stack.Env()
	if !ok || got != want {
		t.Fatalf("Env() = %+v, %v; Require gave %+v", got, ok, want)
	}
	for _, addr := range []string{got.IMAP, got.IMAPS, got.SMTP, got.LMTP} {
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Errorf("address %q is not on 127.0.0.1", addr)
		}
	}
	t.Logf("stack: %+v", got)
}
