// Package localmail runs mail servers in the process, on loopback: an IMAP
// server (go-imap's imapmemserver) and an SMTP sink (go-smtp) that keeps
// every message it accepts. `escalationd demo` runs on them, and so do the
// tests that need a real server at the other end of a connection.
package localmail

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/escalationd/escalationd/internal/durable"
)

// SMTPOptions configure StartSMTP. The zero value is an in-memory sink on
// 127.0.0.1 with a free port and no AUTH.
type SMTPOptions struct {
	// Addr is where to listen. "" means 127.0.0.1:0 (a free port); a fixed
	// address lets a test stop a server and start another on the same port.
	Addr string
	// Dir, when not "", also receives each accepted message as a file
	// NNNN-<message-id>.eml (numbered in arrival order, after any files
	// already there; the id reduced to safe characters). "" keeps messages
	// in memory only.
	Dir string
	// Username and Password, when Username is not "", make the server offer
	// AUTH PLAIN (over plain text too) and require a login before MAIL FROM.
	Username, Password string
	// TLSConfig, when not nil, makes the server offer STARTTLS with it, or
	// speak TLS from the first byte when ImplicitTLS is set.
	TLSConfig   *tls.Config
	ImplicitTLS bool
	// Reject, when not nil, is asked at the end of DATA with the envelope;
	// a non-nil error refuses the message with that reply (for example
	// &smtp.SMTPError{Code: 451, ...} or Code: 550).
	Reject func(from string, to []string) *smtp.SMTPError
	// RejectRcpt, when not nil, is asked at each RCPT TO; a non-nil error
	// refuses that recipient with that reply.
	RejectRcpt func(from, to string) *smtp.SMTPError
}

// Received is one message the sink accepted.
type Received struct {
	From     string      // MAIL FROM address, without angle brackets
	To       []string    // RCPT TO addresses, in order
	Data     []byte      // the message as received (CRLF line ends)
	Header   mail.Header // parsed from Data; nil when Data has no valid header
	AuthUser string      // the user that logged in, "" without AUTH
	Path     string      // the .eml file in SMTPOptions.Dir, "" in memory only
}

// SMTPServer is a go-smtp sink on loopback that keeps every accepted message.
type SMTPServer struct {
	Addr string // "127.0.0.1:port"
	Port int

	opts   SMTPOptions
	srv    *smtp.Server
	ln     net.Listener
	served chan struct{} // closed when Serve has returned

	mu       sync.Mutex
	closed   bool
	sessions sync.WaitGroup // one per open session; Close waits for them
	msgs     []Received
	arrived  chan struct{} // closed and replaced on each arrival
	seq      int           // number of the last .eml file
	begun    int           // sessions begun
}

// StartSMTP starts a sink as opts say. Close stops it.
func StartSMTP(opts SMTPOptions) (*SMTPServer, error) {
	s := &SMTPServer{opts: opts, served: make(chan struct{}), arrived: make(chan struct{})}
	if opts.Dir != "" {
		if err := os.MkdirAll(opts.Dir, durable.DirMode); err != nil {
			return nil, fmt.Errorf("localmail: smtp sink folder: %w", err)
		}
		seq, err := lastSeq(opts.Dir)
		if err != nil {
			return nil, fmt.Errorf("localmail: smtp sink folder: %w", err)
		}
		s.seq = seq
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localmail: smtp listen: %w", err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	if opts.ImplicitTLS {
		if opts.TLSConfig == nil {
			ln.Close()
			return nil, errors.New("localmail: ImplicitTLS needs a TLSConfig")
		}
		ln = tls.NewListener(ln, opts.TLSConfig)
	}

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	if !opts.ImplicitTLS {
		srv.TLSConfig = opts.TLSConfig
	}
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 64 << 20
	srv.MaxRecipients = 1000
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = log.New(io.Discard, "", 0)
	s.srv, s.ln = srv, ln
	go func() {
		defer close(s.served)
		_ = srv.Serve(ln) // returns once Close is called
	}()
	return s, nil
}

// Received returns a copy of the accepted messages, in arrival order.
func (s *SMTPServer) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

// Sessions returns how many SMTP sessions have begun: one per connection
// that said EHLO (or HELO), and one more after each STARTTLS.
func (s *SMTPServer) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.begun
}

// Wait blocks until at least n messages have arrived, then returns them (all
// of them, in arrival order). When ctx ends first it returns those that did
// arrive and an error saying how many were missing.
func (s *SMTPServer) Wait(ctx context.Context, n int) ([]Received, error) {
	for {
		s.mu.Lock()
		got, arrived := len(s.msgs), s.arrived
		if got >= n {
			msgs := slices.Clone(s.msgs)
			s.mu.Unlock()
			return msgs, nil
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return s.Received(), fmt.Errorf("localmail: %d of %d messages arrived: %w", got, n, ctx.Err())
		case <-arrived:
		}
	}
}

// Close stops the server, drops its connections and waits for its
// goroutines. It may be called more than once.
func (s *SMTPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	// go-smtp's Close closes only the listeners Serve has registered; when
	// Close comes first, Serve would wait in Accept for ever. Close ours.
	_ = s.ln.Close()
	<-s.served
	s.sessions.Wait()
	return err
}

func (s *SMTPServer) newSession(*smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}
	}
	s.sessions.Add(1)
	s.begun++
	sess := &smtpSession{s: s}
	if s.opts.Username != "" {
		return &smtpAuthSession{sess}, nil
	}
	return sess, nil
}

// store keeps one accepted message (and writes its file).
func (s *SMTPServer) store(r Received) error {
	if msg, err := mail.ReadMessage(bytes.NewReader(r.Data)); err == nil {
		r.Header = msg.Header
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Dir != "" {
		name := fmt.Sprintf("%04d-%s.eml", s.seq+1, fileSafe(r.Header.Get("Message-Id")))
		path := filepath.Join(s.opts.Dir, name)
		if err := durable.WriteFile(path, r.Data, durable.FileMode); err != nil {
			return err
		}
		s.seq++
		r.Path = path
	}
	s.msgs = append(s.msgs, r)
	close(s.arrived)
	s.arrived = make(chan struct{})
	return nil
}

type smtpSession struct {
	s        *SMTPServer
	once     sync.Once
	authUser string
	from     string
	to       []string
}

func (sess *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if sess.s.opts.Username != "" && sess.authUser == "" {
		return smtp.ErrAuthRequired
	}
	sess.from, sess.to = from, nil
	return nil
}

func (sess *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if f := sess.s.opts.RejectRcpt; f != nil {
		if err := f(sess.from, to); err != nil {
			return err
		}
	}
	sess.to = append(sess.to, to)
	return nil
}

func (sess *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if f := sess.s.opts.Reject; f != nil {
		if err := f(sess.from, slices.Clone(sess.to)); err != nil {
			return err
		}
	}
	err = sess.s.store(Received{From: sess.from, To: slices.Clone(sess.to), Data: data, AuthUser: sess.authUser})
	if err != nil {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "cannot store the message: " + err.Error()}
	}
	return nil
}

func (sess *smtpSession) Reset() { sess.from, sess.to = "", nil }

func (sess *smtpSession) Logout() error {
	sess.once.Do(sess.s.sessions.Done)
	return nil
}

// smtpAuthSession adds AUTH PLAIN; used when SMTPOptions.Username is set.
type smtpAuthSession struct{ *smtpSession }

func (sess *smtpAuthSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (sess *smtpAuthSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		okUser := subtle.ConstantTimeCompare([]byte(username), []byte(sess.s.opts.Username)) == 1
		okPass := subtle.ConstantTimeCompare([]byte(password), []byte(sess.s.opts.Password)) == 1
		if !okUser || !okPass {
			return smtp.ErrAuthFailed
		}
		sess.authUser = username
		return nil
	}), nil
}

var (
	seqFile  = regexp.MustCompile(`^(\d{4,})-.*\.eml$`)
	unsafeID = regexp.MustCompile(`[^A-Za-z0-9._@+=-]+`)
)

// lastSeq returns the highest number of the NNNN-*.eml files in dir.
func lastSeq(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	last := 0
	for _, e := range entries {
		if m := seqFile.FindStringSubmatch(e.Name()); m != nil {
			if n, err := strconv.Atoi(m[1]); err == nil && n > last {
				last = n
			}
		}
	}
	return last, nil
}

// fileSafe reduces a Message-ID to a file name part: no brackets, nothing
// outside [A-Za-z0-9._@+=-], at most 100 bytes, never empty or dot-led.
func fileSafe(msgID string) string {
	id := unsafeID.ReplaceAllString(msgID, "_")
	id = strings.Trim(id, "_.")
	if len(id) > 100 {
		id = id[:100]
	}
	if id == "" {
		return "no-message-id"
	}
	return id
}
