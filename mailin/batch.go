package mailin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/workflow"
)

// writes the tracking files that are behind and marks the batch on the
// server, unless deferred: then the caller settles once at the end.
func (s *Session) cycle(ctx context.Context, deferred bool) (Stats, error) {
	p, c, uidValidity := s.p, s.c, s.uidValidity
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
		applied  workflow.IntakeStats
	)
	finish := func() error {
		if applying == nil {
			return nil
		}
		err := <-applying
		applying = nil
		st.IntakeStats = applied
		if err != nil {
			p.swept = false // and sweep what the failed batch left
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
				p.swept = false
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
		go func() { done <- p.apply(context.WithoutCancel(ctx), items, &applied) }()
	}
	return st, finish()
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
	sortHeads(heads)
	return heads, nil
}

// sortHeads puts heads in UID order. UIDs are compared as what they are,
// unsigned: their difference as an int overflows where int has 32 bits.
func sortHeads(heads []head) {
	slices.SortFunc(heads, func(a, b head) int { return cmp.Compare(a.uid, b.uid) })
}

// prepare fetches the bodies of batch into the raw archive and parses them,
// in UID order, as pl says. Mail over the size limit is not fetched; mail
// that cannot be parsed, is over a parser limit or has killed the daemon
// while being parsed (not parsed again) is set aside: all of these are
// quarantined. An error is local (spool, disk, store) or of the connection;
// nothing is applied either way.
func (p *Poller) prepare(ctx context.Context, c *imapclient.Client, uidValidity uint32, batch []head, pl *parsePlan, st *Stats) ([]workflow.Fetched, error) {
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
	var items []workflow.Fetched
	for _, h := range batch {
		st.Fetched++
		it := workflow.Fetched{Ref: workflow.MessageRef{Mailbox: p.opts.Mailbox, UIDValidity: uidValidity, UID: uint32(h.uid), InternalDate: h.date, Size: h.size}}
		if p.opts.MaxMessageBytes > 0 && h.size > p.opts.MaxMessageBytes {
			it.Reason = fmt.Sprintf("message of %d bytes is over limits.max_message_bytes (%d): quarantined unread", h.size, p.opts.MaxMessageBytes)
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
			it.RawPath, it.Reason = raw.path, killedReason(n)
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
			it.RawPath, it.Reason = raw.path, fmt.Sprintf("over a parser limit: %v", err)
			items = append(items, it)
			continue
		case errors.Is(err, ErrMalformed):
			it.RawPath, it.Reason = raw.path, fmt.Sprintf("cannot be parsed: %v", err)
			items = append(items, it)
			continue
		case err != nil:
			// Not the message's fault (spool folder, disk): retry later.
			discard(items)
			return nil, local(fmt.Errorf("message UID %d: %w", h.uid, err))
		}
		in.Mailbox, in.UIDValidity, in.UID, in.InternalDate, in.Size = it.Ref.Mailbox, it.Ref.UIDValidity, it.Ref.UID, h.date, h.size
		in.RawPath, in.RawSHA256 = raw.path, raw.sha
		it.In = in
		items = append(items, it)
	}
	return items, nil
}

// discard removes what prepare spooled for messages that will not be
// applied; the next cycle fetches and parses them again.
func discard(items []workflow.Fetched) {
	for _, it := range items {
		if it.In != nil {
			it.In.RemoveSpool()
		}
	}
}

// apply has the core apply prepared messages. It runs beside the fetch of
// the next batch, so it touches only the core, never the IMAP connection.
// What it has started it finishes even when shutdown begins: the caller
// passes a context that is not cancelled. A failure is local (the store, the
// disk) unless a message keeps failing and is not yet quarantined.
func (p *Poller) apply(ctx context.Context, items []workflow.Fetched, st *workflow.IntakeStats) error {
	err := p.core.ApplyFetched(ctx, items, st)
	if err == nil || errors.Is(err, workflow.ErrPoison) {
		return err
	}
	return local(err)
}
