package mailout

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/escalationd/escalationd/workflow"
)

// envelope is one message ready for the wire: the SMTP envelope and the
// rendered bytes.
type envelope struct {
	from  string   // MAIL FROM argument, "<addr>"
	rcpts []string // RCPT TO arguments, "<addr>", no duplicates
	data  []byte   // the message, CRLF line ends
}

// reservedHeaders are the fields Render sets itself; Outgoing.Headers may not
// name them (an extra "Bcc" or a second "Message-ID" would change who gets
// the mail or how it threads).
var reservedHeaders = map[string]bool{
	"From": true, "Sender": true, "To": true, "Cc": true, "Bcc": true,
	"Reply-To": true, "Subject": true, "Date": true, "Message-Id": true,
	"In-Reply-To": true, "References": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true, "Return-Path": true,
}

// Render builds the message m as it goes on the wire (CRLF line ends), with
// go-mail: From, To, Cc, Subject (RFC 2047 when not ASCII), Message-ID
// exactly <m.MessageID>, Date m.Date (now when zero), In-Reply-To and
// References when set, Reply-To, the extra m.Headers, and m.Body as text/plain
// UTF-8, quoted-printable. Every header value is first stripped of CR, LF and
// other control characters (each run becomes one space), so untrusted
// subjects and names cannot add header fields. The output depends only on m,
// which makes it fit for golden files.
//
// The error, when not nil, wraps workflow.ErrPermanent: the message cannot be
// built, and sending it again would not help.
func Render(m *workflow.Outgoing) ([]byte, error) {
	env, err := build(m)
	if err != nil {
		return nil, err
	}
	return env.data, nil
}

// build validates m and renders it; errors wrap workflow.ErrPermanent.
func build(m *workflow.Outgoing) (*envelope, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: no message", workflow.ErrPermanent)
	}
	env, err := buildEnvelope(m)
	if err != nil {
		return nil, fmt.Errorf("%w: message %q: %v", workflow.ErrPermanent, m.MessageID, err)
	}
	return env, nil
}

func buildEnvelope(m *workflow.Outgoing) (*envelope, error) {
	msgID := cleanMsgID(m.MessageID)
	if msgID == "" {
		return nil, errors.New("no Message-ID (it must be chosen and stored when the mail is queued)")
	}
	if strings.TrimSpace(m.EnvelopeFrom) == "" {
		return nil, errors.New("no envelope sender (MAIL FROM must be the escalation address, never empty)")
	}
	envFrom, err := parseEmail(m.EnvelopeFrom)
	if err != nil {
		return nil, fmt.Errorf("envelope sender: %w", err)
	}
	from, err := address(m.From)
	if err != nil {
		return nil, fmt.Errorf("From: %w", err)
	}
	to, err := addresses(m.To)
	if err != nil {
		return nil, fmt.Errorf("To: %w", err)
	}
	cc, err := addresses(m.Cc)
	if err != nil {
		return nil, fmt.Errorf("Cc: %w", err)
	}
	rcpts := envelopeRecipients(to, cc)
	if len(rcpts) == 0 {
		return nil, errors.New("no recipients")
	}

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(from)
	if err := msg.EnvelopeFrom(envFrom); err != nil {
		return nil, fmt.Errorf("envelope sender: %w", err)
	}
	if len(to) > 0 {
		msg.ToMailAddress(to...)
	}
	if len(cc) > 0 {
		msg.CcMailAddress(cc...)
	}
	if strings.TrimSpace(m.ReplyTo) != "" {
		replyTo, err := parseEmail(m.ReplyTo)
		if err != nil {
			return nil, fmt.Errorf("Reply-To: %w", err)
		}
		msg.ReplyToMailAddress(&mail.Address{Address: replyTo})
	}
	msg.Subject(cleanHeader(m.Subject))
	// go-mail adds the angle brackets itself: pass the bare id.
	msg.SetMessageIDWithValue(msgID)
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	msg.SetDateWithValue(date)
	if id := cleanMsgID(m.InReplyTo); id != "" {
		msg.SetGenHeader(gomail.HeaderInReplyTo, "<"+id+">")
	}
	if refs := msgIDList(m.References); refs != "" {
		msg.SetGenHeader(gomail.HeaderReferences, refs)
	}
	for _, h := range m.Headers {
		name := strings.TrimSpace(h[0])
		if !validFieldName(name) {
			return nil, fmt.Errorf("invalid header field name %q", h[0])
		}
		if reservedHeaders[canonicalKey(name)] {
			return nil, fmt.Errorf("header %s is set from the message's own fields, not from Headers", name)
		}
		msg.SetGenHeader(gomail.Header(name), cleanHeader(h[1]))
	}
	msg.SetBodyString(gomail.TypeTextPlain, strings.ToValidUTF8(m.Body, "\uFFFD"))

	// A go-mail Msg can be written once only (its body is a consumed
	// buffer): render it here, once, and keep the bytes.
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	return &envelope{from: angle(envFrom), rcpts: rcpts, data: buf.Bytes()}, nil
}

// envelopeRecipients lists To then Cc as RCPT arguments, each address once
// (compared without regard to case).
func envelopeRecipients(lists ...[]*mail.Address) []string {
	seen := make(map[string]bool)
	var rcpts []string
	for _, list := range lists {
		for _, a := range list {
			key := strings.ToLower(a.Address)
			if seen[key] {
				continue
			}
			seen[key] = true
			rcpts = append(rcpts, angle(a.Address))
		}
	}
	return rcpts
}

// angle formats an address as an SMTP path, "<addr>".
func angle(email string) string {
	return (&mail.Address{Address: email}).String()
}

func address(a workflow.Address) (*mail.Address, error) {
	email, err := parseEmail(a.Email)
	if err != nil {
		return nil, err
	}
	return &mail.Address{Name: cleanHeader(a.Name), Address: email}, nil
}

func addresses(list []workflow.Address) ([]*mail.Address, error) {
	out := make([]*mail.Address, 0, len(list))
	for _, a := range list {
		addr, err := address(a)
		if err != nil {
			return nil, err
		}
		out = append(out, addr)
	}
	return out, nil
}

// parseEmail accepts a bare address ("jane@acme.test") and nothing else: no
// display name, no group, no control characters.
func parseEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("empty address")
	}
	for _, r := range s {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", fmt.Errorf("invalid address %q", s)
		}
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || !strings.EqualFold(a.Address, strings.Trim(s, "<>")) {
		return "", fmt.Errorf("invalid address %q", s)
	}
	return a.Address, nil
}

// cleanHeader makes s safe as one header value: invalid UTF-8 is replaced,
// and every run of control characters (workflow.ControlRune: CR, LF, TAB,
// NUL, DEL, C1, the Unicode line and paragraph separators) becomes a single
// space, so the value can never end the header field or start another one.
// Outer space is trimmed.
func cleanHeader(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s))
	inRun := false
	for _, r := range s {
		if workflow.ControlRune(r) {
			if !inRun {
				b.WriteByte(' ')
			}
			inRun = true
			continue
		}
		inRun = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// cleanMsgID reduces a message id to its printable ASCII characters, without
// angle brackets or white space: what may stand between "<" and ">".
func cleanMsgID(id string) string {
	return strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' || r == '<' || r == '>' {
			return -1
		}
		return r
	}, id)
}

// msgIDList formats ids as "<a> <b>", dropping empty ones.
func msgIDList(ids []string) string {
	var parts []string
	for _, id := range ids {
		if id = cleanMsgID(id); id != "" {
			parts = append(parts, "<"+id+">")
		}
	}
	return strings.Join(parts, " ")
}

// validFieldName reports whether name is an RFC 5322 field name: printable
// ASCII without ":".
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func canonicalKey(name string) string {
	parts := strings.Split(strings.ToLower(name), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}
