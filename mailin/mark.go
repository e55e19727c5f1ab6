package mailin

import (
	"context"
	"fmt"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/escalationd/escalationd/workflow"
)

// settle has the core write every tracking file that is behind its
// escalation in the store (workflow.Engine.Settle), then marks on the server
// every committed message the core returns: only when a message's every
// effect is durable, its tracking file included, is it marked. The first
// settle of the process, and the first after a failed batch, also sweeps
// the raw archive of what a crash left half-written.
func (p *Poller) settle(ctx context.Context, c *imapclient.Client, uidValidity uint32) error {
	if !p.swept {
		p.sweepPartial()
		p.swept = true
	}
	// Not cancelled by shutdown: the messages in hand are finished.
	pending, err := p.core.Settle(context.WithoutCancel(ctx), p.opts.Mailbox, uidValidity)
	if err != nil {
		return local(err)
	}
	return p.finishMarks(ctx, c, uidValidity, pending)
}

// applied and duplicate mail is moved to ProcessedMailbox (or flagged \Seen),
// quarantined mail is moved to QuarantineMailbox.
//
// Not cancelled by shutdown: what the message in hand committed is marked
// before the daemon exits (the session's grace bounds it).
func (p *Poller) finishMarks(ctx context.Context, c *imapclient.Client, uidValidity uint32, pending []workflow.Unmarked) error {
	if len(pending) == 0 {
		return nil
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
