package workflow

import (
	"fmt"
	"strings"
	"time"
)

// escState is the mutable part of one escalation, loaded and saved inside a
// transaction by the state machine (§5), the commands (§6) and the timers (§7).
type escState struct {
	ID             int64
	Type           Type
	Level          string
	Status         Status
	Owner          string
	Subject        string
	CustomerName   string
	CustomerEmail  string
	RequesterName  string
	RootMessageID  string
	Opened         time.Time
	LevelChanged   time.Time
	NextUpdate     time.Time
	UpdateEvery    time.Duration
	Checklist      int
	Vendor         string
	VendorCase     string
	VendorSeverity string
	VendorAsked    bool
	// VendorConfirmed: staff named the vendor with /vendor, so the case
	// request may go out whoever the requester is (§11).
	VendorConfirmed bool
	SLAAlertFor     time.Time
	RemindedFor     time.Time
	ResolvedAt      time.Time
}

const escColumns = `id, type, level, status, owner, subject, customer_name, customer_email, requester_name, root_message_id,
	opened_at, level_changed_at, next_update_at, update_every, checklist, vendor, vendor_case, vendor_severity, vendor_requested,
	sla_alert_for, reminded_for, resolved_at, vendor_confirmed`

func scanEsc(row interface{ Scan(...any) error }) (*escState, error) {
	var s escState
	var typ, status string
	var opened, changed, next, every, alert, reminded, resolved int64
	err := row.Scan(&s.ID, &typ, &s.Level, &status, &s.Owner, &s.Subject, &s.CustomerName, &s.CustomerEmail, &s.RequesterName, &s.RootMessageID,
		&opened, &changed, &next, &every, &s.Checklist, &s.Vendor, &s.VendorCase, &s.VendorSeverity, &s.VendorAsked,
		&alert, &reminded, &resolved, &s.VendorConfirmed)
	if err != nil {
		return nil, err
	}
	s.Type, s.Status = Type(typ), Status(status)
	s.Opened, s.LevelChanged, s.NextUpdate = fromMS(opened), fromMS(changed), fromMS(next)
	s.UpdateEvery = time.Duration(every)
	s.SLAAlertFor, s.RemindedFor, s.ResolvedAt = fromMS(alert), fromMS(reminded), fromMS(resolved)
	return &s, nil
}

func loadEsc(tx Tx, id int64) (*escState, error) {
	s, err := scanEsc(tx.QueryRow(`SELECT `+escColumns+` FROM escalations WHERE id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("store: read escalation %d: %w", id, err)
	}
	return s, nil
}

// save writes s back and bumps the version, so its tracking file is
// rewritten.
func (s *escState) save(tx Tx) error {
	_, err := tx.Exec(`UPDATE escalations SET type = ?, level = ?, status = ?, owner = ?, level_changed_at = ?, next_update_at = ?,
		update_every = ?, checklist = ?, vendor = ?, vendor_case = ?, vendor_severity = ?, vendor_requested = ?,
		sla_alert_for = ?, reminded_for = ?, resolved_at = ?, vendor_confirmed = ?, version = version + 1 WHERE id = ?`,
		string(s.Type), s.Level, string(s.Status), s.Owner, ms(s.LevelChanged), ms(s.NextUpdate),
		int64(s.UpdateEvery), s.Checklist, s.Vendor, s.VendorCase, s.VendorSeverity, s.VendorAsked,
		ms(s.SLAAlertFor), ms(s.RemindedFor), ms(s.ResolvedAt), s.VendorConfirmed, s.ID)
	if err != nil {
		return fmt.Errorf("store: save escalation %d: %w", s.ID, err)
	}
	return nil
}

// tick sets checklist item n (1-7).
func (s *escState) tick(n int) { s.Checklist |= 1 << (n - 1) }

// isStaff reports whether addr may give commands (§3 staff).
func (e *Engine) isStaff(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	for _, a := range e.cfg.Staff.Addresses {
		if strings.EqualFold(a, addr) {
			return true
		}
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	domain := addr[at+1:]
	for _, d := range e.cfg.Staff.Domains {
		if strings.EqualFold(d, domain) {
			return true
		}
	}
	return false
}
