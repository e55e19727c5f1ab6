package localmail

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPOptions configure StartIMAPWith.
type IMAPOptions struct {
	Username, Password string
	// Mailboxes are created besides INBOX, which always exists.
	Mailboxes []string
	// Addr is where to listen. "" means 127.0.0.1:0 (a free port).
	Addr string
	// Caps are the capabilities the server advertises. nil means DefaultCaps
	// (IMAP4rev1 and IMAP4rev2, so IDLE, MOVE, UIDPLUS, NAMESPACE, ...).
	// A set without IMAP4rev2 makes an older server: of IDLE, MOVE and
	// UIDPLUS it advertises only those listed, and refuses the commands of
	// the others (MOVE and UID MOVE; UID EXPUNGE; IDLE, which imapserver
	// answers with "+ idling" before the session has a say, so the refusal
	// comes only when the client ends it, and no update arrives meanwhile),
	// so a client's fallbacks can be tested. Such a set must hold IMAP4rev1.
	Caps imap.CapSet
	// TLSConfig, when not nil, makes the server offer STARTTLS with it, or
	// speak TLS from the first byte when ImplicitTLS is set.
	TLSConfig   *tls.Config
	ImplicitTLS bool
}

// DefaultCaps returns the capabilities StartIMAP advertises: IMAP4rev1 and
// IMAP4rev2. (imapserver advertises only IMAP4rev1 by default, and a client
// that checks capabilities would then not use MOVE.)
func DefaultCaps() imap.CapSet {
	return imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
}

// StoredMessage is a message in a mailbox of an IMAPServer.
type StoredMessage struct {
	UID          uint32
	Flags        []string // as the server reports them, e.g. `\Seen`
	InternalDate time.Time
	Raw          []byte
}

// IMAPServer is go-imap's imapmemserver on loopback, with one user.
// Plain-text login is allowed (there is no TLS).
type IMAPServer struct {
	Addr string // "127.0.0.1:port"
	Port int

	username, password string
	user               *imapmemserver.User
	srv                *imapserver.Server
	served             chan struct{} // closed when Serve has returned

	mu       sync.Mutex
	closed   bool
	sessions sync.WaitGroup // one per connection; Close waits for them
	appended chan struct{}  // closed and replaced on each Append
}

// StartIMAP starts a server with the user username and the mailboxes INBOX
// and those named, advertising DefaultCaps.
func StartIMAP(username, password string, mailboxes ...string) (*IMAPServer, error) {
	return StartIMAPWith(IMAPOptions{Username: username, Password: password, Mailboxes: mailboxes})
}

// StartIMAPWith starts a server as opts say. Close stops it.
func StartIMAPWith(opts IMAPOptions) (*IMAPServer, error) {
	caps := opts.Caps
	if caps == nil {
		caps = DefaultCaps()
	}
	legacy := !caps.Has(imap.CapIMAP4rev2)
	if legacy && !caps.Has(imap.CapIMAP4rev1) {
		return nil, errors.New("localmail: IMAP caps without IMAP4rev2 must hold IMAP4rev1")
	}

	mem := imapmemserver.New()
	user := imapmemserver.NewUser(opts.Username, opts.Password)
	for _, name := range append([]string{"INBOX"}, opts.Mailboxes...) {
		if err := createMailbox(user, name); err != nil {
			return nil, err
		}
	}
	mem.AddUser(user)

	s := &IMAPServer{
		username: opts.Username,
		password: opts.Password,
		user:     user,
		served:   make(chan struct{}),
		appended: make(chan struct{}),
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return s.newSession(mem.NewSession(), caps, legacy)
		},
		Caps:         caps,
		InsecureAuth: true,
		TLSConfig:    opts.TLSConfig,
		Logger:       log.New(io.Discard, "", 0),
	})

	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("localmail: imap listen: %w", err)
	}
	s.Addr = ln.Addr().String()
	s.Port = ln.Addr().(*net.TCPAddr).Port
	if legacy && !caps.Has(imap.CapIdle) {
		// imapserver advertises IDLE on every IMAP4rev1 server, whatever
		// Caps says: take it out of the CAPABILITY lines on the wire.
		ln = &capFilterListener{Listener: ln, drop: []string{string(imap.CapIdle)}}
	}
	if opts.TLSConfig != nil && opts.ImplicitTLS {
		ln = tls.NewListener(ln, opts.TLSConfig)
	}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(ln) // returns once Close is called
	}()
	return s, nil
}

func (s *IMAPServer) newSession(inner imapserver.Session, caps imap.CapSet, legacy bool) (imapserver.Session, *imapserver.GreetingData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, &imap.Error{Type: imap.StatusResponseTypeBye, Text: "shutting down"}
	}
	s.sessions.Add(1)
	base := &trackedSession{Session: inner, server: s}
	if !legacy {
		return &fullSession{base}, nil, nil
	}
	ls := &legacySession{trackedSession: base, caps: caps}
	if caps.Has(imap.CapMove) {
		return &legacyMoveSession{ls}, nil, nil
	}
	return ls, nil, nil
}

// Append delivers raw to mailbox as a new message, with the arrival time
// internalDate (now when zero) and the flags given (e.g. `\Seen`). It goes
// through the server's own store, so sessions idling on the mailbox hear of
// it at once. It returns the new UID.
func (s *IMAPServer) Append(mailbox string, raw []byte, internalDate time.Time, flags ...string) (uint32, error) {
	if strings.EqualFold(mailbox, "INBOX") {
		mailbox = "INBOX"
	}
	opts := &imap.AppendOptions{Time: internalDate}
	for _, f := range flags {
		opts.Flags = append(opts.Flags, imap.Flag(f))
	}
	data, err := s.user.Append(mailbox, &literal{Reader: bytes.NewReader(raw)}, opts)
	if err != nil {
		return 0, fmt.Errorf("localmail: append to %q: %w", mailbox, err)
	}
	s.mu.Lock()
	close(s.appended)
	s.appended = make(chan struct{})
	s.mu.Unlock()
	return uint32(data.UID), nil
}

// appendSignal returns a channel closed at the next Append.
func (s *IMAPServer) appendSignal() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.appended
}

// CreateMailbox adds a mailbox; it is not an error when it exists.
func (s *IMAPServer) CreateMailbox(name string) error {
	return createMailbox(s.user, name)
}

func createMailbox(user *imapmemserver.User, name string) error {
	if strings.EqualFold(name, "INBOX") {
		name = "INBOX" // the one case-insensitive name, RFC 3501 5.1
	}
	err := user.Create(name, nil)
	var imapErr *imap.Error
	if errors.As(err, &imapErr) && imapErr.Code == imap.ResponseCodeAlreadyExists {
		return nil
	}
	if err != nil {
		return fmt.Errorf("localmail: create mailbox %q: %w", name, err)
	}
	return nil
}

// Messages returns every message in mailbox, in UID order, read over a
// client connection of its own (EXAMINE: nothing changes, not even \Recent).
func (s *IMAPServer) Messages(mailbox string) ([]StoredMessage, error) {
	c, err := s.Dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("localmail: examine %q: %w", mailbox, err)
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	bufs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:          true,
		Flags:        true,
		InternalDate: true,
		BodySection:  []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return nil, fmt.Errorf("localmail: fetch %q: %w", mailbox, err)
	}
	out := make([]StoredMessage, 0, len(bufs))
	for _, b := range bufs {
		m := StoredMessage{UID: uint32(b.UID), InternalDate: b.InternalDate, Raw: b.FindBodySection(section)}
		for _, f := range b.Flags {
			m.Flags = append(m.Flags, string(f))
		}
		out = append(out, m)
	}
	if err := c.Logout().Wait(); err != nil {
		return out, nil // the messages are read; a failed LOGOUT changes nothing
	}
	return out, nil
}

// Dial opens a client connection to the server, logged in as its user. The
// caller closes it.
func (s *IMAPServer) Dial() (*imapclient.Client, error) {
	return s.DialWith(nil)
}

// DialWith is Dial with client options (for example a
// UnilateralDataHandler to watch IDLE updates). opts may be nil.
func (s *IMAPServer) DialWith(opts *imapclient.Options) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(s.Addr, opts)
	if err != nil {
		return nil, fmt.Errorf("localmail: imap dial: %w", err)
	}
	if err := c.Login(s.username, s.password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("localmail: imap login: %w", err)
	}
	return c, nil
}

// Close stops the server, drops its connections and waits for their
// goroutines. It may be called more than once.
func (s *IMAPServer) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	<-s.served
	s.sessions.Wait()
	return err
}

// literal is raw bytes as an imap.LiteralReader.
type literal struct{ *bytes.Reader }

func (l *literal) Size() int64 { return l.Reader.Size() }

// idlePoll is how often an idling session looks for changes made by other
// sessions (an Append wakes it at once).
const idlePoll = 100 * time.Millisecond

// trackedSession tells the server when its connection ends, and idles
// without losing updates.
type trackedSession struct {
	imapserver.Session
	server *IMAPServer
	once   sync.Once
}

func (s *trackedSession) Close() error {
	err := s.Session.Close()
	s.once.Do(s.server.sessions.Done)
	return err
}

// Idle replaces imapserver's own IDLE loop (SessionTracker.Idle), which
// ignores updates queued before it starts listening: imapserver answers
// "+ idling" before it calls Idle, so a message appended just after the
// client saw that answer would not be announced until the next change. This
// loop sends what is queued first, then again at each Append and every
// idlePoll.
func (s *trackedSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	tick := time.NewTicker(idlePoll)
	defer tick.Stop()
	for {
		appended := s.server.appendSignal() // before Poll: no Append slips between
		if err := s.Session.Poll(w, true); err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-appended:
		case <-tick.C:
		}
	}
}

// fullSession is an IMAP4rev2 session: everything imapmemserver has.
type fullSession struct{ *trackedSession }

func (s *fullSession) Namespace() (*imap.NamespaceData, error) {
	return s.Session.(imapserver.SessionNamespace).Namespace()
}

func (s *fullSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}

// legacySession refuses what its capabilities do not list: IDLE (with a BAD
// once the client ends it, having sent no update), and UID EXPUNGE
// (UIDPLUS). It has no Move method, so imapserver refuses MOVE.
type legacySession struct {
	*trackedSession
	caps imap.CapSet
}

func (s *legacySession) Namespace() (*imap.NamespaceData, error) {
	return s.Session.(imapserver.SessionNamespace).Namespace()
}

func (s *legacySession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if !s.caps.Has(imap.CapIdle) {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "IDLE is not supported"}
	}
	return s.trackedSession.Idle(w, stop)
}

func (s *legacySession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if uids != nil && !s.caps.Has(imap.CapUIDPlus) {
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "UID EXPUNGE is not supported"}
	}
	return s.Session.Expunge(w, uids)
}

// legacyMoveSession is a legacySession whose caps list MOVE.
type legacyMoveSession struct{ *legacySession }

func (s *legacyMoveSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}
