package mailin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// dial opens the connection as Options.TLS says; ctx bounds the dial.
func (p *Poller) dial(ctx context.Context, opts *imapclient.Options) (*imapclient.Client, error) {
	nd := &net.Dialer{Timeout: 30 * time.Second}
	switch p.opts.TLS {
	case "implicit":
		cfg := opts.TLSConfig.Clone()
		if cfg.NextProtos == nil {
			cfg.NextProtos = []string{"imap"}
		}
		conn, err := (&tls.Dialer{NetDialer: nd, Config: cfg}).DialContext(ctx, "tcp", p.addr())
		if err != nil {
			return nil, err
		}
		return imapclient.New(conn, opts), nil
	case "starttls":
		conn, err := nd.DialContext(ctx, "tcp", p.addr())
		if err != nil {
			return nil, err
		}
		return imapclient.NewStartTLS(conn, opts)
	default:
		conn, err := nd.DialContext(ctx, "tcp", p.addr())
		if err != nil {
			return nil, err
		}
		return imapclient.New(conn, opts), nil
	}
}

// connect dials, logs in, creates the quarantine and processed mailboxes if
// missing and selects the mailbox.
func (p *Poller) connect(ctx context.Context) (*imapclient.Client, uint32, error) {
	opts := &imapclient.Options{
		TLSConfig: p.opts.TLSConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case p.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	if opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{ServerName: p.opts.Host}
	}
	c, err := p.dial(ctx, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("imap connect %s (tls: %s): %w", p.addr(), p.opts.TLS, err)
	}
	if err := c.Login(p.opts.Username, p.opts.Password).Wait(); err != nil {
		c.Close()
		var ie *imap.Error
		if errors.As(err, &ie) && (ie.Type == imap.StatusResponseTypeNo || ie.Code == imap.ResponseCodeAuthenticationFailed) {
			return nil, 0, fmt.Errorf("%w: %s as %s: %v", ErrAuth, p.addr(), p.opts.Username, err)
		}
		return nil, 0, fmt.Errorf("imap login %s: %w", p.addr(), err)
	}
	for _, mbox := range []string{p.opts.QuarantineMailbox, p.opts.ProcessedMailbox} {
		if err := p.ensureMailbox(c, mbox); err != nil {
			c.Close()
			return nil, 0, err
		}
	}
	sel, err := c.Select(p.opts.Mailbox, nil).Wait()
	if err != nil {
		c.Close()
		return nil, 0, fmt.Errorf("imap select %s: %w", p.opts.Mailbox, err)
	}
	return c, sel.UIDValidity, nil
}

func (p *Poller) ensureMailbox(c *imapclient.Client, name string) error {
	if name == "" {
		return nil
	}
	list, err := c.List("", name, nil).Collect()
	if err != nil {
		return fmt.Errorf("imap list %s: %w", name, err)
	}
	if len(list) > 0 {
		return nil
	}
	if err := c.Create(name, nil).Wait(); err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Code == imap.ResponseCodeAlreadyExists {
			return nil
		}
		return fmt.Errorf("imap create mailbox %s: %w", name, err)
	}
	p.log.Info("created mailbox", "mailbox", name)
	return nil
}

// wait blocks until new mail is announced, PollInterval passes or ctx ends.
func (p *Poller) wait(ctx context.Context, c *imapclient.Client) error {
	timer := time.NewTimer(p.opts.PollInterval)
	defer timer.Stop()
	if !p.opts.Idle || !c.Caps().Has(imap.CapIdle) {
		select {
		case <-ctx.Done():
		case <-timer.C:
		case <-c.Closed():
			return errors.New("imap connection closed")
		}
		return nil
	}
	idle, err := c.Idle()
	if err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	p.log.Debug("idling", "mailbox", p.opts.Mailbox, "renew_in", p.opts.PollInterval)
	select {
	case <-ctx.Done():
	case <-timer.C:
	case <-p.newMail:
	case <-c.Closed():
	}
	if err := idle.Close(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	if err := idle.Wait(); err != nil {
		return fmt.Errorf("imap idle: %w", err)
	}
	return nil
}

// cycle finishes marking what is committed, then fetches and handles every
// message newer than the checkpoint, batch by batch. After each batch it
