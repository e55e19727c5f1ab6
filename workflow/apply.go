package workflow

// Applying one inbound message inside the batch transaction: duplicates,
// routing, the participant rule, automatic mail, and what it records.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

func (e *Engine) apply(tx Tx, in *Inbound) (Result, error) {
	if e.beforeApply != nil {
		e.beforeApply(in)
	}
	now := e.now()
	ref := MessageRef{Mailbox: in.Mailbox, UIDValidity: in.UIDValidity, UID: in.UID, InternalDate: in.InternalDate, Size: in.Size}
	dupOf, reusedUID, err := e.duplicateOf(tx, in)
	if err != nil {
		return Result{}, err
	}
	if dupOf != "" {
		e.log.Info("duplicate message: applied before, not applied again", "uid", in.UID, "message_id", in.MessageID, "same_as", dupOf)
		if err := recordMessage(tx, ref, in, 0, Duplicate, "same as "+dupOf, now); err != nil {
			return Result{}, err
		}
		in.RemoveSpool()
		return Result{Disposition: Duplicate}, tx.AdvanceCheckpoint(ref)
	}

	if in.DeliveryReport == nil && !usableSender(in.From.Email) {
		// Nobody to answer and nobody to thread by: a person looks at it.
		const reason = "no sender address"
		e.log.Warn("message quarantined", "uid", in.UID, "message_id", in.MessageID, "reason", reason)
		if err := recordMessage(tx, ref, in, 0, Quarantined, reason, now); err != nil {
			return Result{}, err
		}
		in.RemoveSpool()
		return Result{Disposition: Quarantined}, tx.AdvanceCheckpoint(ref)
	}
	if reusedUID != 0 {
		// Two different messages share this Message-ID: it no longer
		// says which thread a reply belongs to.
		if err := tx.MarkThreadAmbiguous(in.MessageID, reusedUID); err != nil {
			return Result{}, err
		}
	}

	id, via, err := e.router.route(tx, in)
	if err != nil {
		return Result{}, err
	}
	ours, err := ownMessageID(tx, in.MessageID)
	if err != nil {
		return Result{}, err
	}
	auto, why := Automatic(in, e.cfg.Escalation.Address, func(string) bool { return ours })
	if auto {
		// A delivery report belongs to the escalation of the mail it
		// returns, whoever reports it.
		if rid, err := reportedEscalation(tx, in); err != nil {
			return Result{}, err
		} else if rid != 0 {
			return e.deliveryReport(tx, ref, in, rid, why, now)
		}
	}
	// §10: only staff and participants write into an escalation by naming it.
	var named int64
	if id != 0 {
		ok, err := e.mayWrite(tx, id, in.From.Email)
		if err != nil {
			return Result{}, err
		}
		if !ok {
			e.log.Warn("sender is not a participant of the escalation it names: not written into it", "uid", in.UID, "from", in.From.Email, "named", e.Tag(id), "via", via)
			named, id = id, 0
		}
	}
	if auto {
		return e.automatic(tx, ref, in, id, named, why, now)
	}
	res := Result{Disposition: Applied, EscalationID: id, Via: via}
	if id == 0 {
		if id, err = e.open(tx, in, now); err != nil {
			return Result{}, err
		}
		res.EscalationID, res.New, res.Via = id, true, "new"
		if named != 0 {
			if err := addTimeline(tx, id, now, fmt.Sprintf("Named %s but is not a participant of it: opened as a new escalation", e.Tag(named)), in.From.Email); err != nil {
				return Result{}, err
			}
		}
	} else if err := e.reply(tx, id, in, via, now); err != nil {
		return Result{}, err
	}
	if reusedUID != 0 {
		if err := addTimeline(tx, id, now, fmt.Sprintf("Message-ID <%s> reused: another message (UID %d) has it too; applied as a message of its own", OneLine(in.MessageID), reusedUID), in.From.Email); err != nil {
			return Result{}, err
		}
	}
	if err := e.logInbound(tx, id, in, now); err != nil {
		return Result{}, err
	}
	if res.New {
		if err := e.announce(tx, id, in, now); err != nil {
			return Result{}, err
		}
	}
	if in.MessageID != "" {
		if err := tx.AddThreadID(in.MessageID, id, false); err != nil {
			return Result{}, err
		}
	}
	if err := addParticipants(tx, id, e.cfg.Escalation.Address, append(append([]Address{in.From}, in.To...), in.Cc...)); err != nil {
		return Result{}, err
	}
	if err := recordMessage(tx, ref, in, id, Applied, "", now); err != nil {
		return Result{}, err
	}
	if err := bumpVersion(tx, id); err != nil {
		return Result{}, err
	}
	return res, tx.AdvanceCheckpoint(ref)
}

// usableSender reports whether addr is an address mail can go back to.
func usableSender(addr string) bool {
	addr = strings.TrimSpace(addr)
	at := strings.LastIndexByte(addr, '@')
	return at > 0 && at < len(addr)-1 && !strings.ContainsAny(addr, " \t\r\n<>()")
}

// ownMessageID reports whether mid is a Message-ID the daemon generated. A
// store error is returned, never taken for "not ours": loop detection must
// not fail open.
func ownMessageID(tx Tx, mid string) (bool, error) {
	if mid == "" {
		return false, nil
	}
	return tx.IsOwnMessageID(mid)
}

// automatic records automatic mail (§10): it opens nothing, changes no
// status and is answered by nothing; where it belongs to an escalation it
// is logged there, marked automatic.
// named is the escalation it named when its sender is no participant of it
// (§10): it is then recorded as belonging to none.
func (e *Engine) automatic(tx Tx, ref MessageRef, in *Inbound, id, named int64, why string, now time.Time) (Result, error) {
	e.log.Info("automatic mail: not acted on", "uid", in.UID, "message_id", in.MessageID, "from", in.From.Email, "reason", why, "escalation", e.Tag(id))
	if id == 0 {
		in.RemoveSpool()
		reason := "automatic mail (" + why + "), belongs to no escalation: not acted on"
		if named != 0 {
			reason = "automatic mail (" + why + ") named " + e.Tag(named) + " but its sender is not a participant: belongs to no escalation, not acted on"
		}
		if err := recordMessage(tx, ref, in, 0, Applied, reason, now); err != nil {
			return Result{}, err
		}
		return Result{Disposition: Applied, Via: "automatic"}, tx.AdvanceCheckpoint(ref)
	}
	in.Notes = append(in.Notes, "automatic mail ("+why+"): not acted on")
	if err := e.logInbound(tx, id, in, now); err != nil {
		return Result{}, err
	}
	if err := addTimeline(tx, id, now, fmt.Sprintf("Automatic mail from %s logged (%s)", in.From.Email, why), ""); err != nil {
		return Result{}, err
	}
	if err := recordMessage(tx, ref, in, id, Applied, "automatic: "+why, now); err != nil {
		return Result{}, err
	}
	if err := bumpVersion(tx, id); err != nil {
		return Result{}, err
	}
	return Result{Disposition: Applied, EscalationID: id, Via: "automatic"}, tx.AdvanceCheckpoint(ref)
}

// duplicateOf returns a description of the earlier message in is a copy of
// (the same bytes, or the same Message-ID with the same content), or "";
// reused is the UID of an applied message that has in's Message-ID with
// other content (0 for none).
func (e *Engine) duplicateOf(tx Tx, in *Inbound) (dupOf string, reused int64, err error) {
	if in.RawSHA256 != "" {
		uid, ok, err := tx.AppliedByDigest(in.RawSHA256)
		if err != nil {
			return "", 0, err
		}
		if ok {
			return fmt.Sprintf("identical bytes (UID %d)", uid), 0, nil
		}
	}
	if in.MessageID == "" {
		return "", 0, nil
	}
	// The same Message-ID is a copy only with the same content: some
	// clients and scripts give every message one Message-ID (§10). A
	// message recorded before content digests existed ('') counts as a
	// copy, as it did then.
	applied, err := tx.AppliedByMessageID(in.MessageID)
	if err != nil {
		return "", 0, err
	}
	digest := contentDigest(in)
	for _, m := range applied {
		if m.ContentSHA == digest || m.ContentSHA == "" {
			return fmt.Sprintf("Message-ID <%s> with the same sender, date and text (UID %d)", in.MessageID, m.UID), 0, nil
		}
		if reused == 0 {
			reused = m.UID
		}
	}
	return "", reused, nil
}

// contentDigest identifies a message's content apart from its transport
// headers: the sender, the Date and the body text.
func contentDigest(in *Inbound) string {
	h := sha256.New()
	date := int64(0)
	if !in.Date.IsZero() {
		date = in.Date.Unix()
	}
	fmt.Fprintf(h, "%s\x00%d\x00%s", strings.ToLower(strings.TrimSpace(in.From.Email)), date, in.Text)
	return hex.EncodeToString(h.Sum(nil))
}

// recordMessage records what became of a fetched message. The same UID seen
// again (a checkpoint that went back) is marked again, but a message once
// applied stays recorded as applied.
func recordMessage(tx Tx, ref MessageRef, in *Inbound, escID int64, d Disposition, reason string, now time.Time) error {
	rec := MessageRecord{Ref: ref, EscalationID: escID, Disposition: d, Reason: reason, HandledAt: now}
	if in != nil {
		rec.MessageID, rec.RawSHA256, rec.RawPath = in.MessageID, in.RawSHA256, in.RawPath
		if in.MessageID != "" {
			rec.ContentSHA = contentDigest(in)
		}
	}
	return tx.RecordMessage(rec)
}

func (e *Engine) logInbound(tx Tx, id int64, in *Inbound, now time.Time) error {
	note := strings.Join(in.Notes, "; ")
	if in.TextFromHTML {
		note = strings.TrimPrefix(note+"; text taken from the HTML part", "; ")
	}
	text, stripped := StripQuoted(in.Text) // the log shows the new text; the archive keeps it all
	if stripped {
		note = strings.TrimPrefix(note+"; quoted text stripped", "; ")
	}
	at := in.InternalDate
	if at.IsZero() {
		at = now
	}
	logID, err := tx.LogInbound(id, LogEntry{
		At: at, Inbound: true, From: in.From, To: append(append([]Address{}, in.To...), in.Cc...),
		Subject: in.Subject, Text: text, Note: note,
	})
	if err != nil {
		return err
	}
	if len(in.Attachments) == 0 {
		return nil
	}
	root, err := e.openDir()
	if err != nil {
		return err
	}
	defer root.Close()
	tag := e.Tag(id)
	taken := map[string]bool{}
	for _, a := range in.Attachments {
		name, err := e.placeAttachment(tx, root, tag, taken, a)
		if err != nil {
			return err
		}
		if err := tx.AddAttachment(id, logID, LoggedAttachment{Name: name, RelPath: tag + "/" + name, Size: a.Size}); err != nil {
			return err
		}
	}
	return nil
}

func bumpVersion(tx Tx, id int64) error {
	return tx.BumpVersion(id)
}

func addTimeline(tx Tx, id int64, at time.Time, text, actor string) error {
	return tx.AddTimeline(id, at, text, actor)
}

func addParticipants(tx Tx, id int64, own string, addrs []Address) error {
	for _, a := range addrs {
		email := strings.TrimSpace(a.Email)
		if email == "" || strings.EqualFold(email, own) {
			continue
		}
		if err := tx.AddParticipant(id, email); err != nil {
			return err
		}
	}
	return nil
}
