package workflow

// Queueing mail: Message-IDs, reply addresses, the outbox row and the
// headers every mail carries.

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// newMessageID returns a fresh Message-ID (without brackets) in the domain of
// the escalation address.
func (e *Engine) newMessageID(tag, kind string) string {
	var b [8]byte
	rand.Read(b[:])
	domain := "escalationd.invalid"
	if i := strings.LastIndexByte(e.cfg.Escalation.Address, '@'); i >= 0 {
		domain = e.cfg.Escalation.Address[i+1:]
	}
	return fmt.Sprintf("%s.%s.%s@%s", strings.ToLower(tag), kind, hex.EncodeToString(b[:]), domain)
}

// plusAddress is the escalation's own address: escalations+ESC-00042@example.com.
func (e *Engine) plusAddress(tag string) string {
	a := e.cfg.Escalation.Address
	if i := strings.LastIndexByte(a, '@'); i >= 0 {
		return a[:i] + "+" + tag + a[i:]
	}
	return a
}

// enqueue stores m in the outbox within tx. Its Message-ID is fixed here and
// remembered for threading.
func (e *Engine) enqueue(tx Tx, m *Outgoing, now time.Time) error {
	if len(m.To) == 0 {
		return fmt.Errorf("queue %s mail: no recipient", m.Kind)
	}
	if err := tx.Enqueue(m, now); err != nil {
		return err
	}
	if m.EscalationID != 0 {
		if err := tx.AddThreadID(m.MessageID, m.EscalationID, true); err != nil {
			return err
		}
		// Whoever we write to may write back (§10 participants).
		if err := addParticipants(tx, m.EscalationID, e.cfg.Escalation.Address, append(append([]Address{}, m.To...), m.Cc...)); err != nil {
			return err
		}
	}
	return nil
}

// mailHeaders are the §8 headers every mail carries, after Auto-Submitted.
func (e *Engine) mailHeaders(autoSubmitted string) [][2]string {
	return [][2]string{
		{"Auto-Submitted", autoSubmitted},
		{"X-Auto-Response-Suppress", "All"},
		{"X-Escalationd-Loop", e.cfg.Escalation.Address},
	}
}
