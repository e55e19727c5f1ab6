// Package mailin is the inbound door: it watches the escalation mailbox over
// IMAP (go-imap v2), parses each new message with go-message into a
// workflow.Inbound, hands it to the workflow engine, and marks it handled on
// the server only after the engine committed it.
package mailin

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/internal/durable"
	"github.com/escalationd/escalationd/workflow"
)

// ErrAuth means the server refused the login: retrying soon will not help.
var ErrAuth = errors.New("IMAP login refused")

// Options configure the poller. Zero values are noted per field.
type Options struct {
	Host              string
	Port              int
	TLS               string      // "implicit", "starttls" or "none"
	TLSConfig         *tls.Config // nil means verify the server as Host
	Username          string
	Password          string
	Mailbox           string        // "" means INBOX
	ProcessedMailbox  string        // "" means flag handled mail \Seen and leave it
	QuarantineMailbox string        // "" means Quarantine
	PollInterval      time.Duration // 0 means one minute; also the longest IDLE
	Idle              bool          // use IDLE when the server has it
	MaxMessageBytes   int64         // larger mail is quarantined unread; 0 means no limit
	MaxHeaderBytes    int64         // per header block (the message's and each part's); more is quarantined; 0 means 256 KiB
	MaxHeaderFields   int           // per header block; more is quarantined; 0 means 2000
	DataDir           string        // raw archive (DataDir/raw) and attachment spool (DataDir/spool)
	BatchSize         int           // messages fetched per round trip; 0 means 50
	MaxBackoff        time.Duration // longest wait before reconnecting; 0 means 5 minutes
}

// Stats count what a cycle did.
type Stats struct {
	Fetched, Applied, Duplicates, Quarantined int
}

// Poller reads the mailbox and feeds the engine.
type Poller struct {
	opts Options
	eng  *workflow.Engine
	st   workflow.MailboxStore
	// ingest is eng.IngestBatch; a test makes it fail for one message.
	ingest func(context.Context, []*workflow.Inbound) ([]workflow.Result, error)
	// beforeParse, when set (tests only), runs before each message is
	// parsed: a test watches the parses, or dies in one.
	beforeParse func(uid uint32)
	log         *slog.Logger
	newMail     chan struct{}

	// rendered is set once stale tracking files were rewritten in this
	// process (RenderStale, which also looks for missing files); a failed
	// batch clears it, since the failure may have left one. While it is set,
	// each cycle runs the cheaper RenderBehind.
	rendered bool
}

// New returns a poller. log nil means slog.Default().
func New(opts Options, eng *workflow.Engine, log *slog.Logger) *Poller {
	if opts.Mailbox == "" {
		opts.Mailbox = "INBOX"
	}
	if opts.QuarantineMailbox == "" {
		opts.QuarantineMailbox = "Quarantine"
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Minute
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 50
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Minute
	}
	if log == nil {
		log = slog.Default()
	}
	return &Poller{opts: opts, eng: eng, st: eng.Store(), ingest: eng.IngestBatch, log: log, newMail: make(chan struct{}, 1)}
}

func (p *Poller) addr() string { return net.JoinHostPort(p.opts.Host, strconv.Itoa(p.opts.Port)) }

// Once connects, applies every new message, runs work (when not nil), then
// writes the tracking files that are behind, marks the applied messages on
// the server and logs out: `escalationd once`, whose work flushes the
// outbox. Leaving the files and marks to the end writes each tracking file
// once for the whole run, after the mail its messages caused went out. work
// runs even when the server cannot be reached or applying failed part-way,
// so what was committed before is sent.
func (p *Poller) Once(ctx context.Context, work func(context.Context) error) (Stats, error) {
	c, uidValidity, err := p.connect(ctx)
	if err != nil {
		if work != nil {
			err = errors.Join(err, work(ctx))
		}
		return Stats{}, err
	}
	defer c.Close()
	st, err := p.cycle(ctx, c, uidValidity, true)
	if work != nil {
		err = errors.Join(err, work(ctx))
	}
	if serr := p.settle(ctx, c, uidValidity); serr != nil {
		return st, errors.Join(err, serr)
	}
	if err == nil {
		if err = c.Logout().Wait(); err != nil {
			err = fmt.Errorf("imap logout: %w", err)
		}
	}
	return st, err
}

// Run watches the mailbox until ctx ends: it handles what is pending, then
// waits with IDLE (renewed every PollInterval) or polls every PollInterval.
// A lost connection is re-established with capped, jittered exponential
// backoff; a refused login waits the longest backoff at once. Run returns nil
// when ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	b := backoff{min: time.Second, max: p.opts.MaxBackoff}
	for {
		err := p.session(ctx, &b)
		if ctx.Err() != nil {
			return nil
		}
		wait := b.next()
		var le localError
		switch {
		case errors.Is(err, ErrAuth):
			wait = b.max
			p.log.Error("IMAP login refused; check imap.username and the password", "server", p.addr(), "retry_in", wait, "err", err)
		case errors.As(err, &le):
			p.log.Error("cannot handle mail: local disk or store error; the mail stays unhandled on the server and is retried",
				"retry_in", wait.Round(time.Millisecond), "err", err)
		default:
			p.log.Warn("IMAP session ended; reconnecting", "server", p.addr(), "retry_in", wait.Round(time.Millisecond), "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// localError is a failure on this side (escalation.dir, data_dir, the store),
// not of the IMAP connection: a full or read-only disk, say.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

func local(err error) error {
	if err == nil {
		return nil
	}
	return localError{err}
}

// session runs cycles on one connection until it fails or ctx ends.
func (p *Poller) session(ctx context.Context, b *backoff) error {
	c, uidValidity, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Shutdown finishes the message in hand; should a server stall, the
	// connection is cut so the daemon still exits within its 10 s.
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, func() { c.Close() }) })
	defer stop()
	for {
		if _, err := p.cycle(ctx, c, uidValidity, false); err != nil {
			return err
		}
		b.reset()
		if ctx.Err() != nil {
			c.Logout().Wait()
			return nil
		}
		if err := p.wait(ctx, c); err != nil {
			return err
		}
		if ctx.Err() != nil {
			c.Logout().Wait()
			return nil
		}
	}
}

// shutdownGrace is how long a session may go on after shutdown began.
const shutdownGrace = 7 * time.Second

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
// writes the tracking files that are behind and marks the batch on the
// server, unless deferred: then the caller settles once at the end.
func (p *Poller) cycle(ctx context.Context, c *imapclient.Client, uidValidity uint32, deferred bool) (Stats, error) {
	var st Stats
	mbox := p.opts.Mailbox
	stored, last, ok, err := p.st.Checkpoint(ctx, mbox)
	if err != nil {
		return st, err
	}
	if !ok || stored != uidValidity {
		if ok {
			p.log.Warn("UIDVALIDITY changed: reading the whole mailbox again; messages applied before are recognised by Message-ID and not applied twice",
				"mailbox", mbox, "old", stored, "new", uidValidity)
		}
		if err := p.st.ResetCheckpoint(ctx, mbox, uidValidity); err != nil {
			return st, err
		}
		last = 0
	}
	// A crash may have left committed messages unmarked, or their tracking
	// files unwritten: finish both before anything new.
	if err := p.settle(ctx, c, uidValidity); err != nil {
		return st, err
	}

	heads, err := p.listNew(c, last)
	if err != nil {
		return st, err
	}
	// A pipeline of two: while one batch is applied (the store, the disk),
	// the next is fetched and parsed (the IMAP connection, the parser), so
	// both cores work. Batches are applied, settled and marked in order.
	var (
		applying chan error // the batch being applied; nil when none
		applied  Stats
	)
	finish := func() error {
		if applying == nil {
			return nil
		}
		err := <-applying
		applying = nil
		st.Applied, st.Duplicates, st.Quarantined = applied.Applied, applied.Duplicates, applied.Quarantined
		if err != nil {
			p.rendered = false // and sweep what the failed batch left
			return err
		}
		if deferred {
			return nil
		}
		return p.settle(ctx, c, uidValidity)
	}
	bs := p.opts.BatchSize
	pl, err := p.planParse(ctx, uidValidity, heads[:min(bs, len(heads))], nil)
	if err != nil {
		return st, local(err)
	}
	defer func() { p.endParse(ctx, uidValidity, pl) }()
	for start := 0; start < len(heads) && ctx.Err() == nil; start += bs {
		batch := heads[start:min(start+bs, len(heads))]
		if pl.alone {
			// Nothing else runs while these are parsed one at a time:
			// a death is then the message's own.
			if err := finish(); err != nil {
				return st, err
			}
		}
		items, err := p.prepare(ctx, c, uidValidity, batch, pl, &st)
		if ferr := finish(); ferr != nil || err != nil {
			discard(items)
			if err != nil {
				p.rendered = false
			}
			return st, errors.Join(ferr, err)
		}
		nextBatch := heads[min(start+bs, len(heads)):min(start+2*bs, len(heads))]
		if ctx.Err() != nil {
			nextBatch = nil // shutdown: this batch is the last
		}
		next, err := p.planParse(ctx, uidValidity, nextBatch, pl.marked)
		if err != nil {
			discard(items)
			return st, local(err)
		}
		pl = next
		done := make(chan error, 1)
		applying = done
		go func() { done <- p.applyItems(context.WithoutCancel(ctx), items, &applied) }()
	}
	return st, finish()
}

// settle writes every tracking file that is behind its escalation in the
// store, then marks on the server every committed message not yet marked.
// Only when a message's every effect is durable, its tracking file
// included, is it marked. The first settle of the process also looks for
// missing tracking files and removes what a crash left half-written
// (RenderStale); a failed one makes the next settle do so again. Later
// settles rewrite only the files that are behind (RenderBehind): those of
// the messages just applied, of mail the outbox sent, of changes a full or
// read-only disk held back.
func (p *Poller) settle(ctx context.Context, c *imapclient.Client, uidValidity uint32) error {
	render, stale := p.eng.RenderBehind, !p.rendered
	if stale {
		render = p.eng.RenderStale
		p.sweepPartial()
	}
	// Not cancelled by shutdown: the messages in hand are finished.
	n, err := render(context.WithoutCancel(ctx))
	if err != nil {
		p.rendered = false
		return local(err)
	}
	if stale && n > 0 {
		p.log.Info("rewrote stale tracking files", "count", n)
	}
	p.rendered = true
	return p.finishMarks(ctx, c, uidValidity)
}

type head struct {
	uid  imap.UID
	size int64
	date time.Time
}

// listNew returns UID, size and arrival time of every message above last.
func (p *Poller) listNew(c *imapclient.Client, last uint32) ([]head, error) {
	var set imap.UIDSet
	set.AddRange(imap.UID(last+1), 0) // last+1:*
	msgs, err := c.Fetch(set, &imap.FetchOptions{UID: true, RFC822Size: true, InternalDate: true}).Collect()
	if err != nil {
		return nil, fmt.Errorf("imap fetch new UIDs: %w", err)
	}
	var heads []head
	for _, m := range msgs {
		// "n:*" always names the last message, even below n.
		if uint32(m.UID) > last {
			heads = append(heads, head{uid: m.UID, size: m.RFC822Size, date: m.InternalDate})
		}
	}
	slices.SortFunc(heads, func(a, b head) int { return int(a.uid) - int(b.uid) })
	return heads, nil
}

// ingestGroupBytes bounds the raw size of the messages parsed and held in
// memory for one IngestBatch (the messages of a fetch batch are applied in
// groups no larger than this, or one message when it is larger).
const ingestGroupBytes = 8 << 20

// item is one message of a fetch batch, ready to be applied in UID order:
// parsed (in), or to be quarantined with reason.
type item struct {
	in      *workflow.Inbound
	size    int64
	ref     workflow.MessageRef
	rawPath string
	reason  string
}

// prepare fetches the bodies of batch into the raw archive and parses them,
// in UID order, as pl says. Mail over the size limit is not fetched; mail
// that cannot be parsed, is over a parser limit or has killed the daemon
// while being parsed (not parsed again) is set aside: all of these are
// quarantined. An error is local (spool, disk, store) or of the connection;
// nothing is applied either way.
func (p *Poller) prepare(ctx context.Context, c *imapclient.Client, uidValidity uint32, batch []head, pl *parsePlan, st *Stats) ([]item, error) {
	var want imap.UIDSet
	for _, h := range batch {
		if p.opts.MaxMessageBytes <= 0 || h.size <= p.opts.MaxMessageBytes {
			want.AddNum(h.uid)
		}
	}
	raws := map[imap.UID]rawFile{}
	p.log.Debug("fetching batch", "first_uid", batch[0].uid, "count", len(batch))
	if len(want) > 0 {
		var err error
		if raws, err = p.fetchRaw(c, want); err != nil {
			return nil, err
		}
	}
	var items []item
	for _, h := range batch {
		st.Fetched++
		it := item{size: h.size, ref: workflow.MessageRef{Mailbox: p.opts.Mailbox, UIDValidity: uidValidity, UID: uint32(h.uid), InternalDate: h.date, Size: h.size}}
		if p.opts.MaxMessageBytes > 0 && h.size > p.opts.MaxMessageBytes {
			it.reason = fmt.Sprintf("message of %d bytes is over limits.max_message_bytes (%d): quarantined unread", h.size, p.opts.MaxMessageBytes)
			items = append(items, it)
			continue
		}
		raw, ok := raws[h.uid]
		if !ok {
			// Gone from the server since we listed it (expunged elsewhere).
			p.log.Warn("message vanished before it could be fetched; skipped", "uid", h.uid)
			continue
		}
		if n, ok := pl.killer(uint32(h.uid)); ok {
			it.rawPath, it.reason = raw.path, killedReason(n)
			items = append(items, it)
			continue
		}
		if pl.alone {
			if err := p.startAlone(ctx, uidValidity, pl, uint32(h.uid)); err != nil {
				discard(items)
				return nil, local(err)
			}
		}
		if p.beforeParse != nil {
			p.beforeParse(uint32(h.uid))
		}
		in, err := p.parse(raw)
		switch {
		case errors.Is(err, ErrLimit):
			it.rawPath, it.reason = raw.path, fmt.Sprintf("over a parser limit: %v", err)
			items = append(items, it)
			continue
		case errors.Is(err, ErrMalformed):
			it.rawPath, it.reason = raw.path, fmt.Sprintf("cannot be parsed: %v", err)
			items = append(items, it)
			continue
		case err != nil:
			// Not the message's fault (spool folder, disk): retry later.
			discard(items)
			return nil, local(fmt.Errorf("message UID %d: %w", h.uid, err))
		}
		in.Mailbox, in.UIDValidity, in.UID, in.InternalDate, in.Size = it.ref.Mailbox, it.ref.UIDValidity, it.ref.UID, h.date, h.size
		in.RawPath, in.RawSHA256 = raw.path, raw.sha
		it.in = in
		items = append(items, it)
	}
	return items, nil
}

// discard removes what prepare spooled for items that will not be applied;
// the next cycle fetches and parses them again.
func discard(items []item) {
	for _, it := range items {
		if it.in != nil {
			it.in.RemoveSpool()
		}
	}
}

// applyItems applies prepared messages in UID order, in groups of at most
// ingestGroupBytes, one transaction per group (workflow.Engine.IngestBatch),
// and quarantines the ones set aside. It stops at the first message the
// engine could not apply, so the checkpoint never passes over it. It runs
// beside the fetch of the next batch, so it touches only the store and the
// disk, never the IMAP connection. What it has started it finishes even when
// shutdown begins: the caller passes a context that is not cancelled.
func (p *Poller) applyItems(ctx context.Context, items []item, st *Stats) error {
	g := group{p: p, st: st}
	for i, it := range items {
		if it.reason != "" {
			if err := g.apply(ctx); err != nil {
				discard(items[i:])
				return err
			}
			p.log.Warn("quarantining message", "uid", it.ref.UID, "reason", it.reason)
			if err := p.eng.Quarantine(ctx, it.ref, it.rawPath, it.reason); err != nil {
				discard(items[i:])
				return local(err)
			}
			st.Quarantined++
			continue
		}
		if g.bytes+it.size > ingestGroupBytes {
			if err := g.apply(ctx); err != nil {
				discard(items[i:])
				return err
			}
		}
		g.add(it.in, it.size)
	}
	return g.apply(ctx)
}

// group is the parsed messages of a fetch batch waiting to be applied in one
// transaction.
type group struct {
	p     *Poller
	st    *Stats
	ins   []*workflow.Inbound
	bytes int64
}

func (g *group) add(in *workflow.Inbound, size int64) {
	g.ins = append(g.ins, in)
	g.bytes += size
}

// apply applies the group and empties it. A message that keeps tripping
// the engine (ErrPoison) is quarantined after workflow.MaxAttempts tries and
// the ones behind it go on; any other failure stops the group there: the
// messages not applied are fetched and parsed again by the next cycle.
func (g *group) apply(ctx context.Context) error {
	ins := g.ins
	g.ins, g.bytes = nil, 0
	for len(ins) > 0 {
		results, err := g.p.ingest(ctx, ins)
		for _, res := range results {
			if res.Disposition == workflow.Duplicate {
				g.st.Duplicates++
			} else {
				g.st.Applied++
			}
		}
		if err == nil {
			return nil
		}
		if len(results) == len(ins) {
			// Every message is committed; a tracking file is behind.
			return local(err)
		}
		failed, rest := ins[len(results)], ins[len(results)+1:]
		// What the engine did not move into escalation.dir stays in the
		// spool; the retry parses the message again.
		failed.RemoveSpool()
		if errors.Is(err, workflow.ErrPoison) {
			ref := workflow.MessageRef{Mailbox: failed.Mailbox, UIDValidity: failed.UIDValidity, UID: failed.UID, InternalDate: failed.InternalDate, Size: failed.Size}
			q, perr := g.p.eng.Poisoned(ctx, ref, failed.RawPath, err)
			if perr == nil && q {
				g.st.Quarantined++
				ins = rest
				continue
			}
			for _, in := range rest {
				in.RemoveSpool()
			}
			if perr != nil {
				return local(perr)
			}
			return fmt.Errorf("message UID %d: %w", failed.UID, err)
		}
		for _, in := range rest {
			in.RemoveSpool()
		}
		return local(fmt.Errorf("message UID %d: %w", failed.UID, err))
	}
	return nil
}

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

// finishMarks marks on the server every committed message not yet marked:
// applied and duplicate mail is moved to ProcessedMailbox (or flagged \Seen),
// quarantined mail is moved to QuarantineMailbox.
func (p *Poller) finishMarks(ctx context.Context, c *imapclient.Client, uidValidity uint32) error {
	// Not cancelled by shutdown: what the message in hand committed is
	// marked before the daemon exits (the session's grace bounds it).
	pending, err := p.st.Unmarked(context.WithoutCancel(ctx), p.opts.Mailbox, uidValidity)
	if err != nil || len(pending) == 0 {
		return err
	}
	var handled, quarantined []uint32
	for _, u := range pending {
		if u.Disposition == workflow.Quarantined {
			quarantined = append(quarantined, u.UID)
		} else {
			handled = append(handled, u.UID)
		}
	}
	for _, group := range []struct {
		uids   []uint32
		target string
	}{{handled, p.opts.ProcessedMailbox}, {quarantined, p.opts.QuarantineMailbox}} {
		if len(group.uids) == 0 {
			continue
		}
		if err := p.mark(c, group.uids, group.target); err != nil {
			return err
		}
		p.log.Info("marked handled", "count", len(group.uids), "first_uid", group.uids[0], "last_uid", group.uids[len(group.uids)-1], "moved_to", group.target)
		if err := p.st.SetMarked(context.WithoutCancel(ctx), p.opts.Mailbox, uidValidity, group.uids); err != nil {
			return err
		}
	}
	return nil
}

// mark moves uids to target with UID MOVE, or UID COPY + UID STORE \Deleted +
// UID EXPUNGE where the server has UIDPLUS but not MOVE; without either, or
// with no target, it flags them \Seen. Never a bare EXPUNGE, which would
// remove other clients' deleted mail too.
func (p *Poller) mark(c *imapclient.Client, uids []uint32, target string) error {
	var set imap.UIDSet
	for _, u := range uids {
		set.AddNum(imap.UID(u))
	}
	caps := c.Caps()
	switch {
	case target != "" && caps.Has(imap.CapMove):
		if _, err := c.Move(set, target).Wait(); err != nil {
			return fmt.Errorf("imap move to %s: %w", target, err)
		}
		return nil
	case target != "" && caps.Has(imap.CapUIDPlus):
		if _, err := c.Copy(set, target).Wait(); err != nil {
			return fmt.Errorf("imap copy to %s: %w", target, err)
		}
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen, imap.FlagDeleted}}, nil).Close(); err != nil {
			return fmt.Errorf("imap flag moved mail deleted: %w", err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("imap uid expunge: %w", err)
		}
		return nil
	}
	if target != "" {
		p.log.Warn("server has neither MOVE nor UIDPLUS: handled mail stays in place, flagged \\Seen", "target", target)
	}
	if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		return fmt.Errorf("imap flag \\Seen: %w", err)
	}
	return nil
}

// backoff is a capped exponential delay, jittered up to 20% below, so
// reconnecting clients spread out and the cap holds.
type backoff struct{ min, max, cur time.Duration }

func (b *backoff) next() time.Duration {
	b.cur = min(max(2*b.cur, b.min), b.max)
	return b.cur - time.Duration(rand.Int64N(int64(b.cur/5)+1))
}

func (b *backoff) reset() { b.cur = 0 }
