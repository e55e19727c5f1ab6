package main

import (
	"fmt"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // as the daemon parses
)

// The raw IMAP fetch baseline: the least any IMAP client must do to read
// the backlog, without the daemon's work.

// baseline fetches every message with one UID FETCH 1:* BODY.PEEK[] and
// parses each with go-message, reading every body to io.Discard. c is
// logged in; baseline closes it.
func baseline(c *imapclient.Client) (int, int64, error) {
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		return 0, 0, err
	}
	cmd := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{{Peek: true}},
	})
	n, bytes := 0, int64(0)
	for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
		for item := msg.Next(); item != nil; item = msg.Next() {
			body, ok := item.(imapclient.FetchItemDataBodySection)
			if !ok {
				continue
			}
			lit := body.Literal
			if lit == nil {
				continue
			}
			cr := &countReader{r: lit}
			e, err := message.Read(cr)
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return n, bytes, fmt.Errorf("parse message %d: %w", n+1, err)
			}
			if err := walk(e); err != nil {
				return n, bytes, fmt.Errorf("walk message %d: %w", n+1, err)
			}
			_, _ = io.Copy(io.Discard, cr) // the rest of the literal, if any
			bytes += cr.n
			n++
		}
	}
	if err := cmd.Close(); err != nil {
		return n, bytes, err
	}
	return n, bytes, nil
}

func walk(e *message.Entity) error {
	if mr := e.MultipartReader(); mr != nil {
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return nil
			}
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				return err
			}
			if err := walk(p); err != nil {
				return err
			}
		}
	}
	_, err := io.Copy(io.Discard, e.Body)
	return err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
