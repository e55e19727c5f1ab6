package mailout_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/mailout"
	"github.com/escalationd/escalationd/workflow"
)

// waitTimeout bounds every wait in these tests, and every SMTP command the
// sender sends. Each ends as soon as the answer comes, so this is only a
// safety net against a hang, long enough that a busy machine never reaches
// it.
const waitTimeout = 2 * time.Minute

func startSink(t *testing.T, opts localmail.SMTPOptions) *localmail.SMTPServer {
	t.Helper()
	s, err := localmail.StartSMTP(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func senderFor(s *localmail.SMTPServer, mod func(*mailout.Options)) *mailout.Sender {
	opts := mailout.Options{Host: "127.0.0.1", Port: s.Port, TLS: "none", Timeout: waitTimeout}
	if mod != nil {
		mod(&opts)
	}
	return mailout.NewSender(opts)
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// ack is an acknowledgement as workflow queues one.
func ack() *workflow.Outgoing {
	return &workflow.Outgoing{
		ID:           7,
		EscalationID: 42,
		Kind:         "ack",
		MessageID:    "ack-42-1.5f3c@escalationd.example.com",
		From:         workflow.Address{Name: "Escalations", Email: "escalations@example.com"},
		EnvelopeFrom: "escalations@example.com",
		To:           []workflow.Address{{Name: "Jane Doe", Email: "jane@acme.test"}},
		Cc:           []workflow.Address{{Email: "tier2@example.com"}},
		ReplyTo:      "escalations+ESC-00042@example.com",
		Subject:      "RE: Database outage in eu-west - Escalation Acknowledged [ESC-00042]",
		InReplyTo:    "CAF=jane.1@mail.acme.test",
		References:   []string{"root.0@mail.acme.test", "CAF=jane.1@mail.acme.test"},
		Date:         time.Date(2026, 11, 28, 14, 5, 0, 0, time.UTC),
		Headers: [][2]string{
			{"Auto-Submitted", "auto-replied"},
			{"X-Auto-Response-Suppress", "All"},
			{"X-Escalationd-Loop", "escalations@example.com"},
		},
		Body: "Dear Jane,\n\nWe have received your escalation — ESC-00042.\nUpdates every 4 hours.\n",
	}
}

func TestSendCarriesEveryHeaderOfSection8(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{})
	m := ack()
	if err := senderFor(sink, nil).Send(ctxFor(t), m); err != nil {
		t.Fatal(err)
	}
	got, err := sink.Wait(ctxFor(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.From != "escalations@example.com" {
		t.Errorf("MAIL FROM %q, want the escalation address", r.From)
	}
	if !slices.Equal(r.To, []string{"jane@acme.test", "tier2@example.com"}) {
		t.Errorf("RCPT TO %q", r.To)
	}
	h := r.Header
	if h == nil {
		t.Fatalf("unparsable message:\n%s", r.Data)
	}
	for name, want := range map[string]string{
		"Message-Id":               "<ack-42-1.5f3c@escalationd.example.com>",
		"In-Reply-To":              "<CAF=jane.1@mail.acme.test>",
		"References":               "<root.0@mail.acme.test> <CAF=jane.1@mail.acme.test>",
		"Reply-To":                 "<escalations+ESC-00042@example.com>",
		"Auto-Submitted":           "auto-replied",
		"X-Auto-Response-Suppress": "All",
		"X-Escalationd-Loop":       "escalations@example.com",
		"From":                     `"Escalations" <escalations@example.com>`,
		"To":                       `"Jane Doe" <jane@acme.test>`,
		"Cc":                       "<tier2@example.com>",
		"Subject":                  m.Subject,
		"Date":                     "Sat, 28 Nov 2026 14:05:00 +0000",
	} {
		if vals := h[name]; len(vals) != 1 || vals[0] != want {
			t.Errorf("%s: %q, want exactly %q", name, vals, want)
		}
	}
	// The wire form of Message-ID, exactly: no invented id, no double brackets.
	if !bytes.Contains(r.Data, []byte("\r\nMessage-ID: <ack-42-1.5f3c@escalationd.example.com>\r\n")) {
		t.Errorf("no exact Message-ID line in\n%s", r.Data)
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !strings.Contains(strings.ToLower(ct), "utf-8") {
		t.Errorf("Content-Type %q", ct)
	}
	if body := decodeBody(t, r.Data); body != strings.ReplaceAll(m.Body, "\n", "\r\n") {
		t.Errorf("body %q", body)
	}
	for _, absent := range []string{"Bcc", "User-Agent", "X-Mailer"} {
		if _, ok := h[absent]; ok {
			t.Errorf("unexpected %s header", absent)
		}
	}
}

// decodeBody returns the body of a single-part message, transfer-decoded.
func decodeBody(t *testing.T, data []byte) string {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var r io.Reader = msg.Body
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	case "7bit", "8bit", "":
	default:
		t.Fatalf("transfer encoding %q", msg.Header.Get("Content-Transfer-Encoding"))
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRenderEncodesNonASCIISubjectAndName(t *testing.T) {
	m := ack()
	m.Subject = "RE: Сбой базы данных - Escalation Acknowledged [ESC-00042]"
	m.To[0].Name = "Jürgen Müller"
	data, err := mailout.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	header, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	for _, b := range header {
		if b >= 0x80 {
			t.Fatalf("raw 8-bit byte in the header:\n%s", header)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("subject %q (%v), want %q", subject, err, m.Subject)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Jürgen Müller" || to[0].Address != "jane@acme.test" {
		t.Errorf("To %v (%v)", to, err)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := mailout.Render(ack())
	if err != nil {
		t.Fatal(err)
	}
	b, err := mailout.Render(ack())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two renderings differ:\n%s\n---\n%s", a, b)
	}
}

func TestHeaderInjectionIsNeutralised(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{})
	m := ack()
	m.Subject = "x\r\nBcc: evil@x"
	m.To[0].Name = "Jane\r\nBcc: evil2@x"
	m.From.Name = "Escalations\nX-Injected: 1"
	m.Headers = append(m.Headers, [2]string{"X-Note", "a\rb\nc\u2028d\x00e"})
	m.InReplyTo = "id@x>\r\nBcc: evil3@x"
	if err := senderFor(sink, nil).Send(ctxFor(t), m); err != nil {
		t.Fatal(err)
	}
	got, err := sink.Wait(ctxFor(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if _, ok := r.Header["Bcc"]; ok {
		t.Errorf("a Bcc header got through:\n%s", r.Data)
	}
	if _, ok := r.Header["X-Injected"]; ok {
		t.Errorf("an X-Injected header got through:\n%s", r.Data)
	}
	if subj := r.Header["Subject"]; len(subj) != 1 || subj[0] != "x Bcc: evil@x" {
		t.Errorf("Subject %q, want one line %q", subj, "x Bcc: evil@x")
	}
	if n := bytes.Count(r.Data, []byte("\nSubject:")); n != 1 {
		t.Errorf("%d Subject lines", n)
	}
	if got := r.Header.Get("X-Note"); got != "a b c d e" {
		t.Errorf("X-Note %q", got)
	}
	if !slices.Equal(r.To, []string{"jane@acme.test", "tier2@example.com"}) {
		t.Errorf("RCPT TO %q: an injected address became a recipient", r.To)
	}
	if bytes.Contains(r.Data, []byte("evil")) && bytes.Contains(r.Data, []byte("\nBcc")) {
		t.Errorf("Bcc line in\n%s", r.Data)
	}
}

func TestRefusesWhatCannotBeSent(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{})
	s := senderFor(sink, nil)
	for name, mod := range map[string]func(*workflow.Outgoing){
		"empty envelope sender": func(m *workflow.Outgoing) { m.EnvelopeFrom = "" },
		"no Message-ID":         func(m *workflow.Outgoing) { m.MessageID = "" },
		"no recipients":         func(m *workflow.Outgoing) { m.To, m.Cc = nil, nil },
		"bad recipient":         func(m *workflow.Outgoing) { m.To[0].Email = "jane@acme.test\r\nRCPT TO:<x@y>" },
		"bad header name":       func(m *workflow.Outgoing) { m.Headers = append(m.Headers, [2]string{"X Bad", "v"}) },
		"reserved header":       func(m *workflow.Outgoing) { m.Headers = append(m.Headers, [2]string{"bcc", "evil@x"}) },
	} {
		m := ack()
		mod(m)
		err := s.Send(ctxFor(t), m)
		if !errors.Is(err, workflow.ErrPermanent) {
			t.Errorf("%s: %v, want ErrPermanent", name, err)
		}
	}
	if n := len(sink.Received()); n != 0 {
		t.Errorf("sent %d messages", n)
	}
}

func TestMessageIDWithBracketsIsNotDoubled(t *testing.T) {
	m := ack()
	m.MessageID = "<ack@x>"
	data, err := mailout.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\r\nMessage-ID: <ack@x>\r\n")) {
		t.Errorf("Message-ID line in\n%s", data)
	}
}

func reject(code int, enhanced smtp.EnhancedCode, text string) *smtp.SMTPError {
	return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: text}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name      string
		opts      localmail.SMTPOptions
		permanent bool
		wantText  string
	}{
		{
			name: "451 at RCPT",
			opts: localmail.SMTPOptions{RejectRcpt: func(string, string) *smtp.SMTPError {
				return reject(451, smtp.EnhancedCode{4, 3, 0}, "mailbox busy")
			}},
			wantText: "451 4.3.0 mailbox busy; mail stays queued",
		},
		{
			name: "451 at DATA",
			opts: localmail.SMTPOptions{Reject: func(string, []string) *smtp.SMTPError {
				return reject(451, smtp.EnhancedCode{4, 3, 0}, "try later")
			}},
			wantText: "end of DATA: 451 4.3.0 try later; mail stays queued",
		},
		{
			name: "550 at RCPT",
			opts: localmail.SMTPOptions{RejectRcpt: func(string, string) *smtp.SMTPError {
				return reject(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
			}},
			permanent: true,
			wantText:  "550 5.1.1 no such user",
		},
		{
			name: "550 at DATA",
			opts: localmail.SMTPOptions{Reject: func(string, []string) *smtp.SMTPError {
				return reject(550, smtp.EnhancedCode{5, 7, 1}, "content rejected")
			}},
			permanent: true,
			wantText:  "end of DATA: 550 5.7.1 content rejected",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := startSink(t, tc.opts)
			err := senderFor(sink, nil).Send(ctxFor(t), ack())
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, workflow.ErrPermanent); got != tc.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if n := len(sink.Received()); n != 0 {
				t.Errorf("the sink kept %d messages", n)
			}
		})
	}
}

func TestSomeRecipientsRefused(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{RejectRcpt: func(_, to string) *smtp.SMTPError {
		if to == "tier2@example.com" {
			return reject(550, smtp.EnhancedCode{5, 1, 1}, "no such user")
		}
		return nil
	}})
	err := senderFor(sink, nil).Send(ctxFor(t), ack())
	if !errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "<tier2@example.com>: 550 5.1.1 no such user") {
		t.Errorf("err = %v; want permanent, naming the refused recipient", err)
	}
	got, werr := sink.Wait(ctxFor(t), 1)
	if werr != nil {
		t.Fatal(werr)
	}
	if !slices.Equal(got[0].To, []string{"jane@acme.test"}) {
		t.Errorf("delivered to %q, want the accepted recipient only", got[0].To)
	}

	// A 4xx for one recipient holds the whole mail back.
	sink2 := startSink(t, localmail.SMTPOptions{RejectRcpt: func(_, to string) *smtp.SMTPError {
		if to == "tier2@example.com" {
			return reject(452, smtp.EnhancedCode{4, 2, 2}, "mailbox full")
		}
		return nil
	}})
	err = senderFor(sink2, nil).Send(ctxFor(t), ack())
	if err == nil || errors.Is(err, workflow.ErrPermanent) {
		t.Errorf("err = %v; want transient", err)
	}
	if n := len(sink2.Received()); n != 0 {
		t.Errorf("sent to %d before the retry", n)
	}
}

// freePort returns a loopback port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestClosedPortIsTransient(t *testing.T) {
	port := freePort(t)
	s := mailout.NewSender(mailout.Options{Host: "127.0.0.1", Port: port, TLS: "none"})
	err := s.Send(ctxFor(t), ack())
	if err == nil || errors.Is(err, workflow.ErrPermanent) {
		t.Fatalf("err = %v; want transient", err)
	}
	want := "smtp 127.0.0.1:" + strconv.Itoa(port) + ": connection refused; mail stays queued"
	if err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

func TestRestartOnSameAddress(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{})
	addr := sink.Addr
	s := senderFor(sink, nil)
	if err := s.Send(ctxFor(t), ack()); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(ctxFor(t), ack()); err == nil || errors.Is(err, workflow.ErrPermanent) {
		t.Fatalf("server down: err = %v; want transient", err)
	}
	sink2 := startSink(t, localmail.SMTPOptions{Addr: addr})
	if err := s.Send(ctxFor(t), ack()); err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := sink2.Wait(ctxFor(t), 1); err != nil {
		t.Fatal(err)
	}
}

func TestAuth(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{Username: "relay@example.com", Password: "s3cret"})
	withAuth := func(user, pass string) func(*mailout.Options) {
		return func(o *mailout.Options) { o.Username, o.Password = user, pass }
	}
	if err := senderFor(sink, withAuth("relay@example.com", "s3cret")).Send(ctxFor(t), ack()); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	got, err := sink.Wait(ctxFor(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].AuthUser != "relay@example.com" {
		t.Errorf("logged in as %q", got[0].AuthUser)
	}

	for name, mod := range map[string]func(*mailout.Options){
		"wrong password": withAuth("relay@example.com", "nope"),
		"no login":       nil,
	} {
		err := senderFor(sink, mod).Send(ctxFor(t), ack())
		if !errors.Is(err, mailout.ErrAuth) || errors.Is(err, workflow.ErrPermanent) {
			t.Errorf("%s: err = %v; want ErrAuth, not permanent", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: the password shows in %q", name, err)
		}
	}

	noAuth := startSink(t, localmail.SMTPOptions{})
	err = senderFor(noAuth, withAuth("relay@example.com", "s3cret")).Send(ctxFor(t), ack())
	if !errors.Is(err, mailout.ErrAuth) {
		t.Errorf("server without AUTH: err = %v; want ErrAuth", err)
	}
}

func TestTLS(t *testing.T) {
	serverTLS, roots, err := localmail.SelfSignedTLS()
	if err != nil {
		t.Fatal(err)
	}
	trusted := func(o *mailout.Options) { o.TLSConfig = &tls.Config{RootCAs: roots} }
	tests := []struct {
		name    string
		server  localmail.SMTPOptions
		mode    string
		client  func(*mailout.Options)
		wantErr string // "" means delivered
	}{
		{name: "implicit", server: localmail.SMTPOptions{TLSConfig: serverTLS, ImplicitTLS: true}, mode: "implicit", client: trusted},
		{name: "starttls", server: localmail.SMTPOptions{TLSConfig: serverTLS}, mode: "starttls", client: trusted},
		{name: "implicit with AUTH", server: localmail.SMTPOptions{TLSConfig: serverTLS, ImplicitTLS: true, Username: "u", Password: "p"}, mode: "implicit",
			client: func(o *mailout.Options) { trusted(o); o.Username, o.Password = "u", "p" }},
		{name: "starttls with AUTH", server: localmail.SMTPOptions{TLSConfig: serverTLS, Username: "u", Password: "p"}, mode: "starttls",
			client: func(o *mailout.Options) { trusted(o); o.Username, o.Password = "u", "p" }},
		{name: "untrusted certificate", server: localmail.SMTPOptions{TLSConfig: serverTLS, ImplicitTLS: true}, mode: "implicit",
			wantErr: "TLS handshake failed"},
		{name: "starttls missing", server: localmail.SMTPOptions{}, mode: "starttls", client: trusted,
			wantErr: "the server does not offer STARTTLS"},
		{name: "implicit against plain", server: localmail.SMTPOptions{}, mode: "implicit", client: trusted,
			wantErr: "does not speak TLS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sink := startSink(t, tc.server)
			err := senderFor(sink, func(o *mailout.Options) {
				o.TLS = tc.mode
				if tc.client != nil {
					tc.client(o)
				}
			}).Send(ctxFor(t), ack())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sink.Wait(ctxFor(t), 1); err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v; want transient, saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestSendAllReusesOneConnection(t *testing.T) {
	sink := startSink(t, localmail.SMTPOptions{Reject: func(_ string, to []string) *smtp.SMTPError {
		if slices.Contains(to, "bounce@acme.test") {
			return reject(554, smtp.EnhancedCode{5, 6, 0}, "refused")
		}
		return nil
	}})
	var msgs []*workflow.Outgoing
	for i, to := range []string{"a@acme.test", "bounce@acme.test", "b@acme.test"} {
		m := ack()
		m.MessageID = "m" + strconv.Itoa(i) + "@x"
		m.To, m.Cc = []workflow.Address{{Email: to}}, nil
		msgs = append(msgs, m)
	}
	bad := ack()
	bad.EnvelopeFrom = ""
	msgs = append(msgs, bad)

	errs := senderFor(sink, nil).SendAll(ctxFor(t), msgs)
	if len(errs) != 4 || errs[0] != nil || errs[2] != nil {
		t.Fatalf("errs = %v", errs)
	}
	if !errors.Is(errs[1], workflow.ErrPermanent) || !errors.Is(errs[3], workflow.ErrPermanent) {
		t.Errorf("errs[1] = %v, errs[3] = %v; want permanent", errs[1], errs[3])
	}
	got, err := sink.Wait(ctxFor(t), 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Header.Get("Message-Id") != "<m0@x>" || got[1].Header.Get("Message-Id") != "<m2@x>" {
		t.Errorf("delivered %d: %v", len(got), got)
	}
	if n := sink.Sessions(); n != 1 {
		t.Errorf("%d SMTP sessions, want 1", n)
	}
}

func TestSendAllWhenServerIsDown(t *testing.T) {
	s := mailout.NewSender(mailout.Options{Host: "127.0.0.1", Port: freePort(t), TLS: "none"})
	errs := s.SendAll(ctxFor(t), []*workflow.Outgoing{ack(), ack(), ack()})
	for i, err := range errs {
		if err == nil || errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("errs[%d] = %v", i, err)
		}
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	sink := startSink(t, localmail.SMTPOptions{Reject: func(string, []string) *smtp.SMTPError {
		close(entered)
		<-release // the server hangs at the end of DATA
		return nil
	}})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- senderFor(sink, nil).Send(ctx, ack()) }()
	select {
	case <-entered:
	case <-time.After(waitTimeout):
		t.Fatal("the message never reached the server")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), "stopped") {
			t.Errorf("err = %v; want transient, saying it stopped", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Send did not return when its context ended")
	}
}

func TestUnknownTLSMode(t *testing.T) {
	s := mailout.NewSender(mailout.Options{Host: "127.0.0.1", Port: 25, TLS: "ssl"})
	err := s.Send(ctxFor(t), ack())
	if err == nil || errors.Is(err, workflow.ErrPermanent) || !strings.Contains(err.Error(), `smtp.tls is "ssl"`) {
		t.Errorf("err = %v", err)
	}
}
