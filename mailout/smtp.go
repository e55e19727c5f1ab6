// Package mailout is escalationd's door to SMTP: it turns a queued
// workflow.Outgoing into a message (with go-mail) and hands it to the
// configured server, telling a permanent refusal (5xx) from a failure worth
// retrying.
package mailout

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/escalationd/escalationd/workflow"
)

// Options configure the SMTP connection. cmd fills them from the config.
type Options struct {
	Host string
	Port int
	// TLS is "implicit" (TLS from the first byte, usually port 465),
	// "starttls" (STARTTLS is required; the mail is not sent in clear when
	// the server lacks it) or "none" (plain text; the config allows it for
	// loopback hosts only unless told otherwise).
	TLS string
	// Username and Password log in with AUTH PLAIN (or LOGIN when the
	// server offers only that) when Username is not "".
	Username, Password string
	// TLSConfig is used for implicit TLS and STARTTLS. nil means the system
	// roots and Host as the server name; ServerName "" means Host.
	TLSConfig *tls.Config
	// Timeout bounds the connection set-up and each command. 0 means 30s.
	Timeout time.Duration
	// HeloName is the name given in EHLO. "" means go-mail's default, the
	// local host name.
	HeloName string
}

// ErrAuth marks a login the SMTP server refused, or could not offer: a
// configuration problem. It is not permanent for the mail (the mail stays
// queued), but retrying soon will not help either; back off to the cap.
var ErrAuth = errors.New("smtp authentication failed")

// Sender delivers mail over SMTP. It is safe for concurrent use. It keeps no
// connection between calls: Send opens one per message, SendEach and
// SendAll one per call.
type Sender struct {
	opts Options
	addr string // host:port, for messages
}

// NewSender returns a Sender for opts. It does not connect; an invalid option
// shows up as an error from Send.
func NewSender(opts Options) *Sender {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	return &Sender{opts: opts, addr: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))}
}

// Send delivers one message on a connection of its own. It returns nil when
// the server accepted it; an error wrapping workflow.ErrPermanent when the
// message can never go as it is (a 5xx reply to MAIL FROM, RCPT TO or the
// data, or a message that cannot be built); and any other error (connection
// refused, TLS or login problems, a 4xx, a timeout, ctx ending) is transient:
// the mail stays queued and is tried again.
//
// When some recipients are refused with 5xx and others accepted, the mail is
// delivered to those accepted and the error (permanent) names the refused
// ones, as an MTA would; a 4xx for any recipient sends nothing and is
// transient.
func (s *Sender) Send(ctx context.Context, m *workflow.Outgoing) error {
	return s.SendAll(ctx, []*workflow.Outgoing{m})[0]
}

// SendAll delivers msgs over one connection, in order, and returns one error
// (nil for delivered) per message, classified as Send does.
func (s *Sender) SendAll(ctx context.Context, msgs []*workflow.Outgoing) []error {
	errs := make([]error, len(msgs))
	s.SendEach(ctx, msgs, func(i int, err error) bool {
		errs[i] = err
		return true
	})
	return errs
}

// SendEach delivers msgs over one connection, in order, and calls report with
// each message's result (nil for delivered, else classified as Send does) as
// soon as the server has answered it, so the caller can record it while the
// next message goes out. It stops when report returns false; the messages
// after that get no report. After a failed message the session is reset
// (RSET) and reused; when the connection breaks, it is opened again for the
// messages that remain, and when connecting fails, every remaining message
// gets that error without another attempt.
func (s *Sender) SendEach(ctx context.Context, msgs []*workflow.Outgoing, report func(i int, err error) bool) {
	var (
		conn    *session
		dialErr error
	)
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	for i, m := range msgs {
		env, err := build(m)
		switch {
		case err != nil: // cannot be built; err says why
		case dialErr != nil:
			err = dialErr
		case ctx.Err() != nil:
			err = s.transient("stopped before sending: %v", ctx.Err())
		default:
			if conn == nil {
				conn, dialErr = s.dial(ctx)
				err = dialErr
			}
			if conn != nil {
				if err = conn.deliver(env); err != nil && !conn.reset() {
					conn.close()
					conn = nil
				}
			}
		}
		if !report(i, err) {
			return
		}
	}
}

// session is one open SMTP connection, set up and logged in.
type session struct {
	s      *Sender
	ctx    context.Context
	client *smtp.Client
	raw    net.Conn // the TCP connection under any TLS, closed when ctx ends
	stop   func() bool
	broken bool // the connection cannot carry another message
}

// dial connects, says EHLO, starts TLS as configured and logs in.
func (s *Sender) dial(ctx context.Context) (*session, error) {
	sess := &session{s: s, ctx: ctx}
	tlsConfig := s.tlsConfig()
	// Our own dial function keeps hold of the TCP connection, so that ctx
	// can close it at any point of the dialogue (go-mail watches ctx only
	// while dialling) and so that a failed EHLO or STARTTLS does not leak it.
	// With it, go-mail leaves implicit TLS to us.
	dialFunc := func(dctx context.Context, network, address string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(dctx, network, address)
		if err != nil {
			return nil, err
		}
		sess.raw = c
		sess.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		if s.opts.TLS != "implicit" {
			return c, nil
		}
		// Returned as *tls.Conn, so that go-mail's smtp client knows the
		// connection is encrypted (PLAIN and LOGIN refuse to run otherwise).
		tc := tls.Client(c, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, err
		}
		return tc, nil
	}
	opts := []gomail.Option{
		gomail.WithPort(s.opts.Port),
		gomail.WithTimeout(s.opts.Timeout),
		gomail.WithDialContextFunc(dialFunc),
		gomail.WithTLSConfig(tlsConfig),
	}
	switch s.opts.TLS {
	case "implicit":
		// Tells go-mail the connection is TLS already: no STARTTLS inside.
		opts = append(opts, gomail.WithSSL())
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		return nil, s.transient("smtp.tls is %q; want implicit, starttls or none", s.opts.TLS)
	}
	if s.opts.HeloName != "" {
		opts = append(opts, gomail.WithHELO(s.opts.HeloName))
	}
	gc, err := gomail.NewClient(s.opts.Host, opts...)
	if err != nil {
		return nil, s.transient("%v", err)
	}
	client, err := gc.DialToSMTPClientWithContext(ctx)
	if err != nil {
		sess.close()
		return nil, s.dialError(ctx, err)
	}
	sess.client = client
	if s.opts.Username != "" {
		if err := sess.auth(); err != nil {
			sess.close()
			return nil, err
		}
	}
	return sess, nil
}

func (s *Sender) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if s.opts.TLSConfig != nil {
		cfg = s.opts.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.opts.Host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// auth logs in with PLAIN, else LOGIN. Both send the password as it is, so
// go-mail allows them only over TLS or to a loopback host; with smtp.tls
// "none" the operator has chosen plain text (the config allows it on
// loopback only unless told otherwise), so they are allowed there too.
func (sess *session) auth() error {
	s := sess.s
	ok, mechs := sess.client.Extension("AUTH")
	if !ok {
		return s.authError(nil, "the server offers no AUTH, but smtp.username is set")
	}
	offered := strings.Fields(strings.ToUpper(mechs))
	plainText := s.opts.TLS == "none"
	var a smtp.Auth
	switch {
	case slices.Contains(offered, "PLAIN"):
		a = smtp.PlainAuth("", s.opts.Username, s.opts.Password, s.opts.Host, plainText)
	case slices.Contains(offered, "LOGIN"):
		a = smtp.LoginAuth(s.opts.Username, s.opts.Password, s.opts.Host, plainText)
	default:
		return s.authError(nil, fmt.Sprintf("the server offers AUTH %s; escalationd can log in with PLAIN or LOGIN", mechs))
	}
	if err := sess.client.Auth(a); err != nil {
		if sess.ctx.Err() != nil {
			return s.transient("stopped while logging in: %v", sess.ctx.Err())
		}
		return s.authError(err, fmt.Sprintf("login as %q refused: %s; check smtp.username and smtp.password", s.opts.Username, replyText(err)))
	}
	return nil
}

// deliver runs one mail transaction. The error is classified; sess.broken
// tells whether the connection survived it.
func (sess *session) deliver(env *envelope) error {
	c := sess.client
	if err := c.UpdateDeadline(sess.s.opts.Timeout); err != nil {
		sess.broken = true
		return sess.fail("MAIL FROM "+env.from, err)
	}
	if err := c.Mail(env.from); err != nil {
		if authRequired(err) {
			// Every mail would meet the same refusal: a configuration
			// problem, not a permanent failure of this message.
			return sess.s.authError(err, fmt.Sprintf("MAIL FROM %s: %s; the server wants a login: set smtp.username and smtp.password", env.from, replyText(err)))
		}
		return sess.fail("MAIL FROM "+env.from, err)
	}
	var accepted, refused []string
	for _, rcpt := range env.rcpts {
		err := c.Rcpt(rcpt)
		switch code := replyCode(err); {
		case err == nil:
			accepted = append(accepted, rcpt)
		case code >= 500 && code < 600:
			refused = append(refused, rcpt+": "+replyText(err))
		default: // 4xx or no reply: the whole mail waits for the retry
			return sess.fail("RCPT TO "+rcpt, err)
		}
	}
	if len(accepted) == 0 {
		return sess.s.permanent(nil, "every recipient refused: %s", strings.Join(refused, "; "))
	}
	w, err := c.Data()
	if err != nil {
		return sess.fail("DATA", err)
	}
	if _, err := w.Write(env.data); err != nil {
		sess.broken = true
		return sess.fail("sending the message", err)
	}
	if err := w.Close(); err != nil {
		return sess.fail("end of DATA", err)
	}
	if len(refused) > 0 {
		return sess.s.permanent(nil, "delivered to %s; refused: %s", strings.Join(accepted, ", "), strings.Join(refused, "; "))
	}
	return nil
}

// fail classifies err, returned by the SMTP command what: a 5xx reply is
// permanent, a 4xx transient, anything else (I/O, timeout, ctx) transient and
// fatal to the connection.
func (sess *session) fail(what string, err error) error {
	code := replyCode(err)
	switch {
	case code >= 500 && code < 600:
		return sess.s.permanent(err, "%s: %s", what, replyText(err))
	case code >= 400 && code < 500:
		return sess.s.transient("%s: %s", what, replyText(err)).with(err)
	}
	sess.broken = true
	if sess.ctx.Err() != nil {
		return sess.s.transient("stopped during %s: %v", what, sess.ctx.Err()).with(err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return sess.s.transient("%s: no answer within %s", what, sess.s.opts.Timeout).with(err)
	}
	return sess.s.transient("%s: %v", what, err).with(err)
}

// reset readies the connection for the next message after a failure and
// reports whether it can be used.
func (sess *session) reset() bool {
	if sess.broken {
		return false
	}
	if err := sess.client.Reset(); err != nil {
		sess.broken = true
		return false
	}
	return true
}

// close ends the session politely (QUIT) when it can, and always closes the
// connection. Errors do not matter here: what was accepted is delivered.
func (sess *session) close() {
	if sess.client != nil && !sess.broken && sess.ctx.Err() == nil {
		_ = sess.client.UpdateDeadline(sess.s.opts.Timeout)
		_ = sess.client.Quit()
	}
	if sess.stop != nil {
		sess.stop()
	}
	if sess.raw != nil {
		_ = sess.raw.Close()
	}
}

// dialError turns a failure to set up the session into a message a user can
// act on. Such failures are transient even with a 5xx: they concern the
// server or the configuration, not the message.
func (s *Sender) dialError(ctx context.Context, err error) error {
	var (
		ne       net.Error
		dnsErr   *net.DNSError
		tpErr    *textproto.Error
		certErr  *tls.CertificateVerificationError
		recErr   tls.RecordHeaderError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		alertErr tls.AlertError
	)
	var what string
	switch {
	case ctx.Err() != nil:
		what = fmt.Sprintf("stopped while connecting: %v", ctx.Err())
	case errors.Is(err, syscall.ECONNREFUSED):
		what = "connection refused"
	case errors.As(err, &dnsErr):
		what = fmt.Sprintf("cannot resolve %s: %v", s.opts.Host, dnsErr.Err)
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		what = fmt.Sprintf("no answer within %s", s.opts.Timeout)
	case errors.As(err, &recErr):
		what = "the server does not speak TLS here; check smtp.tls and smtp.port"
	case errors.As(err, &certErr), errors.As(err, &hostErr), errors.As(err, &authErr), errors.As(err, &alertErr):
		what = fmt.Sprintf("TLS handshake failed: %v; check smtp.tls and the server's certificate", err)
	case strings.Contains(err.Error(), "does not support STARTTLS"):
		what = "the server does not offer STARTTLS; check smtp.tls (implicit for port 465)"
	case errors.As(err, &tpErr):
		what = fmt.Sprintf("the server refused the session: %s", replyText(err))
	default:
		what = err.Error()
	}
	return s.transient("%s", what).with(err)
}

// deliveryError is what Send returns: a message for people and, for
// errors.Is and errors.As, workflow.ErrPermanent or ErrAuth where they apply
// and the underlying error.
type deliveryError struct {
	msg  string
	errs []error
}

func (e *deliveryError) Error() string   { return e.msg }
func (e *deliveryError) Unwrap() []error { return e.errs }

func (e *deliveryError) with(err error) *deliveryError {
	if err != nil {
		e.errs = append(e.errs, err)
	}
	return e
}

// transient reads "smtp HOST:PORT: <what>; mail stays queued".
func (s *Sender) transient(format string, args ...any) *deliveryError {
	return &deliveryError{msg: fmt.Sprintf("smtp %s: %s; mail stays queued", s.addr, fmt.Sprintf(format, args...))}
}

// permanent reads "permanent delivery failure: smtp HOST:PORT: <what>", as
// fmt.Errorf("%w: %s", workflow.ErrPermanent, ...) would.
func (s *Sender) permanent(err error, format string, args ...any) error {
	e := &deliveryError{
		msg:  fmt.Sprintf("%v: smtp %s: %s", workflow.ErrPermanent, s.addr, fmt.Sprintf(format, args...)),
		errs: []error{workflow.ErrPermanent},
	}
	return e.with(err)
}

func (s *Sender) authError(err error, what string) error {
	e := s.transient("%s", what)
	e.errs = append(e.errs, ErrAuth)
	return e.with(err)
}

// replyCode returns the SMTP reply code carried by err, 0 when there is none.
func replyCode(err error) int {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return tpErr.Code
	}
	return 0
}

// authRequired reports whether err is the server's "authenticate first"
// (530, or enhanced status 5.7.0 as go-smtp sends it with code 502).
func authRequired(err error) bool {
	var tpErr *textproto.Error
	if !errors.As(err, &tpErr) {
		return false
	}
	return tpErr.Code == 530 || strings.HasPrefix(strings.TrimSpace(tpErr.Msg), "5.7.0 ")
}

// replyText is the server's reply on one line ("550 5.1.1 no such user"), or
// the error's text when it carries no reply.
func replyText(err error) string {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return fmt.Sprintf("%03d %s", tpErr.Code, strings.Join(strings.Fields(tpErr.Msg), " "))
	}
	return err.Error()
}
