package workflow

import (
	"fmt"
	"time"
)

// reportedEscalation returns the escalation of the mail a delivery report
// returns: the one whose outbox holds the Message-ID it quotes (§10). 0 when
// in is no delivery report or quotes no mail the daemon sent.
func reportedEscalation(tx Tx, in *Inbound) (int64, error) {
	r := in.DeliveryReport
	if r == nil || r.OriginalMessageID == "" {
		return 0, nil
	}
	id, ok, err := tx.QueuedFor(r.OriginalMessageID)
	if err != nil || !ok {
		return 0, err
	}
	if ok, err := escalationExists(tx, id); err != nil || !ok {
		return 0, err
	}
	return id, nil
}

// deliveryReport logs a delivery report for mail of escalation id in its log
// and timeline: "Delivery failure: <recipient>: <reason>" for a failure, the
// action otherwise (a delay). Like all automatic mail it changes nothing else.
func (e *Engine) deliveryReport(tx Tx, ref MessageRef, in *Inbound, id int64, why string, now time.Time) (Result, error) {
	r := in.DeliveryReport
	text := fmt.Sprintf("Delivery failure: %s: %s", OneLine(r.Recipient), OneLine(r.Reason()))
	if !r.Failed() {
		text = fmt.Sprintf("Delivery report for %s: %s (%s)", OneLine(r.Recipient), OneLine(r.Action), OneLine(r.Reason()))
	}
	e.log.Warn("delivery report for mail the daemon sent", "uid", in.UID, "escalation", e.Tag(id), "recipient", r.Recipient,
		"action", r.Action, "status", r.Status, "reason", r.Reason(), "message_id", r.OriginalMessageID)
	in.Notes = append(in.Notes, text, "automatic mail ("+why+"): not acted on")
	if err := e.logInbound(tx, id, in, now); err != nil {
		return Result{}, err
	}
	if err := addTimeline(tx, id, now, text, ""); err != nil {
		return Result{}, err
	}
	if err := recordMessage(tx, ref, in, id, Applied, "delivery report: "+text, now); err != nil {
		return Result{}, err
	}
	if err := bumpVersion(tx, id); err != nil {
		return Result{}, err
	}
	return Result{Disposition: Applied, EscalationID: id, Via: "delivery report"}, tx.AdvanceCheckpoint(ref)
}
