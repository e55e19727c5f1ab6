package workflow

import (
	"fmt"
	"strings"
	"time"
)

// Escalation is the mutable part of one escalation, loaded and saved inside a
// transaction by the state machine (§5), the commands (§6) and the timers (§7).
type Escalation struct {
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

func loadEsc(tx Tx, id int64) (*Escalation, error) {
	s, err := tx.Escalation(id)
	if err != nil {
		return nil, fmt.Errorf("store: read escalation %d: %w", id, err)
	}
	return s, nil
}

// save writes s back and bumps the version, so its tracking file is
// rewritten.
func (s *Escalation) save(tx Tx) error { return tx.SaveEscalation(s) }

// tick sets checklist item n (1-7).
func (s *Escalation) tick(n int) { s.Checklist |= 1 << (n - 1) }

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
