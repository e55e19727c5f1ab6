package mailin

import (
	"context"
	"fmt"

	"github.com/escalationd/escalationd/workflow"
)

// parsePlan is how the messages of one fetch batch are parsed so that a
// message that kills the daemon while it is parsed (out of memory, a crash
// in a library) is quarantined after workflow.MaxAttempts deaths without
// being parsed again (§11). Before a message is parsed its parse start is
// committed in the store, and after the parse it is recorded finished
// (workflow.Store.MarkParsing); a start found unfinished is a death.
//
// A batch none of whose messages has an unfinished start is marked whole, in
// one commit, before any of it is parsed, and finished in the commit that
// marks the next batch: two commits per batch. Should one of its messages
// kill the daemon, all of the batch has one unfinished start, and the next
// start parses those messages alone: each one is marked just before its own
// parse and finished just after, with no other batch being applied meanwhile,
// so that only the message being parsed is blamed for another death.
type parsePlan struct {
	attempts map[uint32]int // unfinished parse starts, by UID; empty for a batch that is marked whole
	alone    bool           // parse each message alone, marked just before
	marked   []uint32       // UIDs whose parse start this process recorded and did not yet finish
}

// killedReason is the quarantine reason of a message whose parse has killed
// the daemon n times.
func killedReason(n int) string {
	return fmt.Sprintf("killed the daemon %d times while being parsed (out of memory or a crash): quarantined without parsing it again", n)
}

// planParse reads the unfinished parse starts of batch and commits, in one
// transaction, that the parses of done are finished and, when batch has none,
// that its parses start. It runs while no batch is being applied, so that the
// store is free and the commit does not wait. Shutdown does not stop it: the
// batch in hand is finished.
func (p *Poller) planParse(ctx context.Context, uidValidity uint32, batch []head, done []uint32) (*parsePlan, error) {
	ctx = context.WithoutCancel(ctx)
	uids := make([]uint32, len(batch))
	for i, h := range batch {
		uids[i] = uint32(h.uid)
	}
	attempts, err := p.st.ParseAttempts(ctx, p.opts.Mailbox, uidValidity, uids)
	if err != nil {
		return nil, err
	}
	pl := &parsePlan{attempts: attempts, alone: len(attempts) > 0}
	start := uids
	if pl.alone {
		start = nil
		p.log.Warn("the daemon died while parsing some of these messages before: parsing them one at a time",
			"first_uid", uids[0], "count", len(uids), "unfinished_parses", len(attempts))
	}
	if err := p.st.MarkParsing(ctx, p.opts.Mailbox, uidValidity, done, start); err != nil {
		return nil, err
	}
	pl.marked = start
	return pl, nil
}

// startAlone records, for a batch parsed one message at a time, that the
// parse of the message before is finished and that the parse of uid starts.
func (p *Poller) startAlone(ctx context.Context, uidValidity uint32, pl *parsePlan, uid uint32) error {
	if err := p.st.MarkParsing(context.WithoutCancel(ctx), p.opts.Mailbox, uidValidity, pl.marked, []uint32{uid}); err != nil {
		return err
	}
	pl.marked = []uint32{uid}
	return nil
}

// endParse records the parses this process marked and left unfinished
// (an error, or shutdown, stopped the cycle) as finished: they did not kill
// anything. Best effort: what it cannot record only makes the next start
// parse those messages one at a time.
func (p *Poller) endParse(ctx context.Context, uidValidity uint32, pl *parsePlan) {
	if pl == nil || len(pl.marked) == 0 {
		return
	}
	if err := p.st.MarkParsing(context.WithoutCancel(ctx), p.opts.Mailbox, uidValidity, pl.marked, nil); err != nil {
		p.log.Warn("cannot record parses as finished; the next start parses these messages one at a time", "first_uid", pl.marked[0], "err", err)
		return
	}
	pl.marked = nil
}

// killer reports whether the message uid of a batch planned pl has killed the
// daemon workflow.MaxAttempts times while being parsed, and how often.
func (pl *parsePlan) killer(uid uint32) (int, bool) {
	n := pl.attempts[uid]
	return n, n >= workflow.MaxAttempts
}
