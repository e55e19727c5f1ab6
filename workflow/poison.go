package workflow

// Messages that cannot be applied: counted attempts and quarantine.

import (
	"context"
	"fmt"
)

// MaxAttempts is how often a message that fails with ErrPoison is tried
// before it is quarantined.
const MaxAttempts = 3

// Poisoned records a failed attempt at applying the message ref with an
// error wrapping ErrPoison. On the MaxAttempts-th attempt it records the
// message as quarantined, with the reason, and returns true: the caller
// moves it to the quarantine mailbox and goes on with the messages behind
// it. Attempts are counted in the store, so restarts do not reset them.
func (e *Engine) Poisoned(ctx context.Context, ref MessageRef, rawPath string, cause error) (bool, error) {
	var quarantined bool
	err := e.st.Update(ctx, func(tx Tx) error {
		n, err := tx.CountAttempt(ref, cause.Error())
		if err != nil {
			return err
		}
		if n < MaxAttempts {
			e.log.Warn("message failed; it will be tried again", "uid", ref.UID, "attempt", n, "of", MaxAttempts, "err", cause)
			return nil
		}
		quarantined = true
		reason := fmt.Sprintf("failed %d times: %v", n, cause)
		e.log.Error("quarantining a message that keeps failing", "uid", ref.UID, "reason", reason)
		in := &Inbound{RawPath: rawPath}
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, e.now()); err != nil {
			return err
		}
		if err := tx.AdvanceCheckpoint(ref); err != nil {
			return err
		}
		return e.syncFiles([]*Inbound{in})
	})
	return quarantined, err
}

// Quarantine records that the message ref is set aside without being applied,
// and why, and advances the checkpoint past it; its attempts are forgotten.
// The caller then moves it to the quarantine mailbox.
func (e *Engine) Quarantine(ctx context.Context, ref MessageRef, rawPath, reason string) error {
	return e.st.Update(ctx, func(tx Tx) error {
		in := &Inbound{RawPath: rawPath}
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, e.now()); err != nil {
			return err
		}
		if err := tx.ForgetAttempts(ref); err != nil {
			return err
		}
		if err := tx.AdvanceCheckpoint(ref); err != nil {
			return err
		}
		return e.syncFiles([]*Inbound{in})
	})
}
