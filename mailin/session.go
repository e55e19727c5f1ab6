package mailin

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2/imapclient"
)

// Session is one logged-in connection to the mailbox, selected.
// `escalationd once` runs it as plain steps: Connect, FetchAll, (send the
// mail), Settle, Logout, Close; `run` cycles on it until it fails.
type Session struct {
	p           *Poller
	c           *imapclient.Client
	uidValidity uint32
}

// Connect dials, logs in, creates the quarantine and processed mailboxes if
// missing and selects the mailbox.
func (p *Poller) Connect(ctx context.Context) (*Session, error) {
	c, uidValidity, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	return &Session{p: p, c: c, uidValidity: uidValidity}, nil
}

// FetchAll fetches every message above the checkpoint, parses it and has
// the core apply it, batch by batch, without marking anything: Settle marks
// at the end, so each tracking file is written once for the whole run.
func (s *Session) FetchAll(ctx context.Context) (Stats, error) {
	return s.cycle(ctx, true)
}

// Settle has the core write the tracking files that are behind, then marks
// on the server every message the core says is finished.
func (s *Session) Settle(ctx context.Context) error {
	return s.p.settle(ctx, s.c, s.uidValidity)
}

// Logout ends the session politely.
func (s *Session) Logout() error {
	if err := s.c.Logout().Wait(); err != nil {
		return fmt.Errorf("imap logout: %w", err)
	}
	return nil
}

// Close closes the connection.
func (s *Session) Close() error { return s.c.Close() }
