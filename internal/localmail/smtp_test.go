package localmail

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func startSMTP(t *testing.T, opts SMTPOptions) *SMTPServer {
	t.Helper()
	s, err := StartSMTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// send delivers one message with go-smtp's client; auth may be nil.
func send(addr string, auth sasl.Client, from string, to []string, msg string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

func message(id string) string {
	return "From: escalations@example.com\r\nTo: jane@acme.test\r\nSubject: hi\r\nMessage-ID: <" + id + ">\r\n\r\nBody.\r\n"
}

func TestSMTPKeepsMessagesInOrder(t *testing.T) {
	s := startSMTP(t, SMTPOptions{})
	for _, id := range []string{"a@x", "b@x"} {
		if err := send(s.Addr, nil, "escalations@example.com", []string{"jane@acme.test", "bob@acme.test"}, message(id)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Wait(waitCtx(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("got %d messages, want 2", len(got))
	}
	if got[0].Header.Get("Message-Id") != "<a@x>" || got[1].Header.Get("Message-Id") != "<b@x>" {
		t.Errorf("order: %q, %q", got[0].Header.Get("Message-Id"), got[1].Header.Get("Message-Id"))
	}
	if got[0].From != "escalations@example.com" || !slices.Equal(got[0].To, []string{"jane@acme.test", "bob@acme.test"}) {
		t.Errorf("envelope: from %q to %q", got[0].From, got[0].To)
	}
	if string(got[0].Data) != message("a@x") {
		t.Errorf("data %q", got[0].Data)
	}
	if got[0].Path != "" {
		t.Errorf("in-memory sink wrote %s", got[0].Path)
	}
	if n := s.Sessions(); n != 2 {
		t.Errorf("%d sessions, want 2", n)
	}
	// Received is a copy.
	r := s.Received()
	r[0].From = "changed"
	if s.Received()[0].From != "escalations@example.com" {
		t.Error("Received shares its slice with the server")
	}
}

func TestSMTPWaitEndsWithContext(t *testing.T) {
	s := startSMTP(t, SMTPOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := s.Wait(ctx, 1)
	if !errors.Is(err, context.Canceled) || len(got) != 0 {
		t.Errorf("Wait = %v, %v; want nothing and context.Canceled", got, err)
	}
}

func TestSMTPDirWritesFilesAndKeepsNumbering(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sent")
	s := startSMTP(t, SMTPOptions{Dir: dir})
	if err := send(s.Addr, nil, "e@example.com", []string{"j@acme.test"}, message("ack-1/../x@escalationd.example")); err != nil {
		t.Fatal(err)
	}
	got, err := s.Wait(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(dir, "0001-ack-1_.._x@escalationd.example.eml")
	if got[0].Path != want {
		t.Errorf("path %s, want %s", got[0].Path, want)
	}
	data, err := os.ReadFile(want)
	if err != nil || string(data) != message("ack-1/../x@escalationd.example") {
		t.Errorf("file: %q, %v", data, err)
	}
	addr := s.Addr
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A new sink on the same folder and port numbers on.
	s2 := startSMTP(t, SMTPOptions{Dir: dir, Addr: addr})
	if s2.Addr != addr {
		t.Fatalf("restarted on %s, want %s", s2.Addr, addr)
	}
	if err := send(addr, nil, "e@example.com", []string{"j@acme.test"}, "Subject: no id\r\n\r\nx\r\n"); err != nil {
		t.Fatal(err)
	}
	got, err = s2.Wait(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "0002-no-message-id.eml"); got[0].Path != want {
		t.Errorf("path %s, want %s", got[0].Path, want)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("folder holds %d files, want 2 (no temporary files left)", len(entries))
	}
}

func TestSMTPAuth(t *testing.T) {
	s := startSMTP(t, SMTPOptions{Username: "relay", Password: "pw"})
	msg := message("a@x")
	if err := send(s.Addr, nil, "e@example.com", []string{"j@acme.test"}, msg); err == nil {
		t.Error("sent without AUTH")
	}
	if err := send(s.Addr, sasl.NewPlainClient("", "relay", "wrong"), "e@example.com", []string{"j@acme.test"}, msg); err == nil {
		t.Error("sent with a wrong password")
	}
	if err := send(s.Addr, sasl.NewPlainClient("", "relay", "pw"), "e@example.com", []string{"j@acme.test"}, msg); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	got, err := s.Wait(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].AuthUser != "relay" {
		t.Errorf("got %d messages, auth user %q", len(got), got[0].AuthUser)
	}
}

func TestSMTPReject(t *testing.T) {
	s := startSMTP(t, SMTPOptions{
		RejectRcpt: func(from, to string) *smtp.SMTPError {
			if strings.HasPrefix(to, "nobody@") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		},
		Reject: func(from string, to []string) *smtp.SMTPError {
			if slices.Contains(to, "later@acme.test") {
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		},
	})
	var smtpErr *smtp.SMTPError
	err := send(s.Addr, nil, "e@example.com", []string{"nobody@acme.test"}, message("a@x"))
	if !errors.As(err, &smtpErr) || smtpErr.Code != 550 {
		t.Errorf("RCPT: %v, want 550", err)
	}
	err = send(s.Addr, nil, "e@example.com", []string{"later@acme.test"}, message("b@x"))
	if !errors.As(err, &smtpErr) || smtpErr.Code != 451 {
		t.Errorf("DATA: %v, want 451", err)
	}
	if n := len(s.Received()); n != 0 {
		t.Errorf("kept %d refused messages", n)
	}
}

func TestSMTPTLS(t *testing.T) {
	serverTLS, roots, err := SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}

	implicit := startSMTP(t, SMTPOptions{TLSConfig: serverTLS, ImplicitTLS: true})
	c, err := smtp.DialTLS(implicit.Addr, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("e@example.com", []string{"j@acme.test"}, strings.NewReader(message("tls@x"))); err != nil {
		t.Fatalf("implicit TLS: %v", err)
	}
	c.Close()

	starttls := startSMTP(t, SMTPOptions{TLSConfig: serverTLS})
	c, err = smtp.DialStartTLS(starttls.Addr, clientTLS)
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	if err := c.SendMail("e@example.com", []string{"j@acme.test"}, strings.NewReader(message("starttls@x"))); err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	c.Close()
	for _, s := range []*SMTPServer{implicit, starttls} {
		if _, err := s.Wait(waitCtx(t), 1); err != nil {
			t.Error(err)
		}
	}
}

func TestSMTPCloseTwice(t *testing.T) {
	s, err := StartSMTP(SMTPOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(s.Addr) // an open session Close must end
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestFileSafe(t *testing.T) {
	for in, want := range map[string]string{
		"<abc@example.com>":      "abc@example.com",
		"":                       "no-message-id",
		"<../../etc/passwd>":     "etc_passwd",
		"<a b\r\nc@x>":           "a_b_c@x",
		strings.Repeat("a", 300): strings.Repeat("a", 100),
	} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
