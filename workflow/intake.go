package workflow

import (
	"context"
	"errors"
	"fmt"
)

// The life of a fetched message, as the core runs it: the door (mailin)
// fetches a batch and parses it; ApplyFetched applies it, quarantining what
// the door set aside and what keeps failing; Settle brings the tracking
// files up to the store and tells the door which messages it may now mark
// on the server; the door marks them and says so (MailboxStore.SetMarked).
// A message is marked only when its every effect is durable, its tracking
// file included.

// Fetched is one message of a fetch batch: parsed (In), or set aside
// unparsed with the Reason it is quarantined.
type Fetched struct {
	Ref     MessageRef
	In      *Inbound // nil when set aside
	RawPath string   // set aside: its copy in the raw archive; "" when not fetched
	Reason  string   // set aside: why it is quarantined
}

// IntakeStats count what became of fetched messages.
type IntakeStats struct {
	Applied, Duplicates, Quarantined int
}

// ingestGroupBytes bounds the raw size of the parsed messages applied in one
// transaction (one IngestBatch): a fetch batch is applied in groups no
// larger than this, or one message when it is larger.
const ingestGroupBytes = 8 << 20

// ApplyFetched applies a fetch batch in UID order, in groups of at most
// ingestGroupBytes, one transaction per group, and quarantines the messages
// set aside. A message that keeps tripping the engine (ErrPoison) is
// quarantined after MaxAttempts tries and the ones behind it go on; any
// other failure stops the batch there, so the checkpoint never passes a
// message not handled: the door fetches and parses the rest again. What the
// door spooled for messages not applied is removed. It adds to st what it
// did, also on error.
func (e *Engine) ApplyFetched(ctx context.Context, batch []Fetched, st *IntakeStats) error {
	err := e.applyFetched(ctx, batch, st)
	if err != nil {
		e.stale.Store(true) // the failure may have left a file half-written
	}
	return err
}

func (e *Engine) applyFetched(ctx context.Context, batch []Fetched, st *IntakeStats) error {
	var group []*Inbound
	var bytes int64
	flush := func(rest []Fetched) error {
		ins := group
		group, bytes = nil, 0
		if err := e.applyGroup(ctx, ins, st); err != nil {
			discard(rest)
			return err
		}
		return nil
	}
	for i, f := range batch {
		if f.In == nil {
			if err := flush(batch[i:]); err != nil {
				return err
			}
			e.log.Warn("quarantining message", "uid", f.Ref.UID, "reason", f.Reason)
			if err := e.Quarantine(ctx, f.Ref, f.RawPath, f.Reason); err != nil {
				discard(batch[i:])
				return err
			}
			st.Quarantined++
			continue
		}
		if bytes+f.Ref.Size > ingestGroupBytes {
			if err := flush(batch[i:]); err != nil {
				return err
			}
		}
		group = append(group, f.In)
		bytes += f.Ref.Size
	}
	return flush(nil)
}

// discard removes what the door spooled for messages that will not be
// applied now.
func discard(batch []Fetched) {
	for _, f := range batch {
		if f.In != nil {
			f.In.RemoveSpool()
		}
	}
}

// applyGroup applies ins in one transaction, and again without a message
// that keeps failing, until all are applied or one fails otherwise.
func (e *Engine) applyGroup(ctx context.Context, ins []*Inbound, st *IntakeStats) error {
	for len(ins) > 0 {
		results, err := e.IngestBatch(ctx, ins)
		for _, res := range results {
			if res.Disposition == Duplicate {
				st.Duplicates++
			} else {
				st.Applied++
			}
		}
		if err == nil {
			return nil
		}
		if len(results) == len(ins) {
			return err // every message is committed; a tracking file is behind
		}
		var me *MessageError
		if !errors.As(err, &me) {
			// The transaction failed as a whole (commit, sync): no message
			// is to blame, and none was applied.
			for _, in := range ins {
				in.RemoveSpool()
			}
			return err
		}
		failed, rest := ins[len(results)], ins[len(results)+1:]
		// What the engine did not move into escalation.dir stays in the
		// spool; the retry parses the message again.
		failed.RemoveSpool()
		if errors.Is(err, ErrPoison) {
			ref := MessageRef{Mailbox: failed.Mailbox, UIDValidity: failed.UIDValidity, UID: failed.UID, InternalDate: failed.InternalDate, Size: failed.Size}
			q, perr := e.Poisoned(ctx, ref, failed.RawPath, err)
			if perr == nil && q {
				st.Quarantined++
				ins = rest
				continue
			}
			err = errors.Join(err, perr)
		}
		for _, in := range rest {
			in.RemoveSpool()
		}
		return err
	}
	return nil
}

// MessageError is the failure of one message of a batch: the messages
// before it are committed, it and those after it are not.
type MessageError struct {
	UID uint32
	Err error
}

func (e *MessageError) Error() string { return fmt.Sprintf("message UID %d: %v", e.UID, e.Err) }

// Unwrap returns the message's error.
func (e *MessageError) Unwrap() error { return e.Err }

// Settle writes the tracking files that are behind the store, and returns
// the committed messages of mailbox (under uidValidity) not yet marked on
// the server: the door may mark them now. The first Settle of the process,
// and the first after a failure, also looks for missing tracking files and
// removes what a crash left half-written (RenderStale); the others rewrite
// only the files that are behind (RenderBehind). Settle finishes what it
// started even when ctx is cancelled: the messages in hand are finished.
func (e *Engine) Settle(ctx context.Context, mailbox string, uidValidity uint32) ([]Unmarked, error) {
	ctx = context.WithoutCancel(ctx)
	stale := e.stale.Swap(false)
	render := e.RenderBehind
	if stale {
		render = e.RenderStale
	}
	n, err := render(ctx)
	if err != nil {
		e.stale.Store(true)
		return nil, err
	}
	if stale && n > 0 {
		e.log.Info("rewrote stale tracking files", "count", n)
	}
	return e.st.Unmarked(ctx, mailbox, uidValidity)
}
