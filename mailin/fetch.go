package mailin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/workflow"
)

// memRaw is the largest message kept in memory after it is archived, to be
// parsed from there instead of being read back from the archive; a larger
// one is streamed to the archive and parsed from the file, never held whole.
const memRaw = 256 << 10

// fetchRaw fetches the full bytes of each message in uids into the raw
// archive (DataDir/raw/ab/<sha256>.eml).
func (p *Poller) fetchRaw(c *imapclient.Client, uids imap.UIDSet) (map[imap.UID]rawFile, error) {
	dir, err := p.dataSub("raw", durable.DirMode)
	if err != nil {
		return nil, local(fmt.Errorf("raw archive: %w", err))
	}
	defer dir.Close()
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := c.Fetch(uids, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	defer cmd.Close()
	out := map[imap.UID]rawFile{}
	for {
		msg := cmd.Next()
		if msg == nil {
			break
		}
		var uid imap.UID
		var rf rawFile
		for {
			item := msg.Next()
			if item == nil {
				break
			}
			switch item := item.(type) {
			case imapclient.FetchItemDataUID:
				uid = item.UID
			case imapclient.FetchItemDataBodySection:
				lit := item.Literal
				if lit == nil {
					continue
				}
				var r io.Reader = lit
				var data []byte
				if lit.Size() <= memRaw {
					data = make([]byte, lit.Size())
					if _, err := io.ReadFull(lit, data); err != nil {
						return nil, fmt.Errorf("imap fetch messages: %w", err)
					}
					r = bytes.NewReader(data)
				}
				var err error
				if rf, err = archive(dir, r); err != nil {
					return nil, local(err)
				}
				rf.data = data
			}
		}
		if uid != 0 && rf.path != "" {
			out[uid] = rf
		}
	}
	if err := cmd.Close(); err != nil {
		return nil, fmt.Errorf("imap fetch messages: %w", err)
	}
	return out, nil
}

// parse reads an archived message. A panic in a parser is turned into an
// error, so one hostile message cannot stop the daemon.
func (p *Poller) parse(raw rawFile) (in *workflow.Inbound, err error) {
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("%w: parser panic: %v", ErrMalformed, r)
		}
	}()
	spool, err := p.dataSub("spool", spoolMode)
	if err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	defer spool.Close()
	opts := ParseOptions{spool: spool, MaxHeaderBytes: p.opts.MaxHeaderBytes, MaxHeaderFields: p.opts.MaxHeaderFields}
	if raw.data != nil {
		return Parse(bytes.NewReader(raw.data), opts)
	}
	f, err := os.OpenFile(raw.path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, opts)
}
