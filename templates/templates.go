// Package templates holds the texts of the mail escalationd sends, as Go
// text/template files embedded in the binary. A file of the same name in an
// override folder replaces the embedded one.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

//go:embed *.tmpl
var embedded embed.FS

// Names of the templates, one per kind of mail.
const (
	Ack      = "ack.txt.tmpl"      // acknowledgement of a new escalation (§8)
	Notify   = "notify.txt.tmpl"   // to the roster of a new level
	Vendor   = "vendor.txt.tmpl"   // vendor case request
	Update   = "update.txt.tmpl"   // customer update on /update
	Reminder = "reminder.txt.tmpl" // update overdue (§7)
	Alert    = "alert.txt.tmpl"    // SLA at risk, to the roster (§7)
	Errors   = "error.txt.tmpl"    // commands that failed (§6)

	// Unauthenticated lists the commands of a staff mail that nothing
	// authenticated, to the staff address it claims (§11).
	Unauthenticated = "unauthenticated.txt.tmpl"
	// Suppressed tells the starting levels' rosters how many notifications
	// of new escalations a rate limit held back (§11).
	Suppressed = "suppressed.txt.tmpl"
)

// Signature closes a mail: [Name] [Title] [Direct Contact] of the guide.
type Signature struct {
	Name    string
	Title   string   // may be empty
	Contact []string // phone, address: one line each
}

// AckData fills the acknowledgement.
type AckData struct {
	Salutation  string // "Jane Doe", the customer's name, or "Customer"
	Subject     string // original subject, prefixes and tag removed
	Tag         string // "ESC-00042"
	UpdateEvery string // "4 hours"
	NextUpdate  string // "2026-11-28 18:05 UTC"
	Signature   Signature
}

// NotifyData fills the roster notification.
type NotifyData struct {
	Tag, Type, Level, Status string
	Reason                   string // why this level now: "new escalation", "escalated by bob@example.com: ..."
	Customer, Subject        string
	Opened, NextUpdate       string
	Reasons                  []string // classification reasons
	Summary                  string   // the customer's last text, trimmed
	Checklist                []string // "1. [ ] Complete troubleshooting summary"
	TrackingPath             string
}

// VendorData fills the vendor case request.
type VendorData struct {
	Vendor, Tag, Customer, Subject string
	CaseID                         string // "" when no case exists yet
	Severity                       string
	Impact                         []string
	Timeline                       []string // "2026-11-28 14:05 UTC - Initial escalation received"
	Signature                      Signature
}

// UpdateData fills the customer update.
type UpdateData struct {
	Salutation, Tag, Text, NextUpdate string
	Signature                         Signature
}

// ReminderData fills the update-overdue reminder.
type ReminderData struct {
	Tag, Due, Customer, Subject, Level, Status, Owner, TrackingPath string
}

// AlertData fills the SLA-at-risk alert.
type AlertData struct {
	Tag, Consumed, SLA, Level, Customer, Subject, Status, Owner, TrackingPath string
}

// Failure is one command that failed.
type Failure struct{ Line, Reason string }

// ErrorsData fills the mail listing failed commands.
type ErrorsData struct {
	Tag      string
	Failures []Failure
	Applied  string // "/ack, /assign @bob", or ""
}

// UnauthenticatedData fills the mail about commands not applied.
type UnauthenticatedData struct {
	Tag      string
	Reason   string   // why the mail did not count as authenticated
	Commands []string // the command lines, as written
}

// SuppressedData fills the alert about notifications held back.
type SuppressedData struct {
	Count       int
	Since       string // "2026-11-28 14:05 UTC"
	Limit       int
	TrackingDir string
}

// samples are what each template is test-rendered with at start-up, so that a
// broken override fails then and not when the first customer writes.
var samples = map[string]any{
	Ack: AckData{
		Salutation: "Jane Doe", Subject: "Database outage", Tag: "ESC-00001",
		UpdateEvery: "4 hours", NextUpdate: "2026-11-28 18:05 UTC",
		Signature: Signature{Name: "Dana Lee", Title: "Senior Engineer", Contact: []string{"+1 555 0100", "tier3@example.com"}},
	},
	Notify: NotifyData{Tag: "ESC-00001", Type: "Technical", Level: "Tier 3", Status: "ESCALATED", Reason: "escalated by bob@example.com",
		Customer: "Acme Corp (jane@acme.test)", Subject: "Database outage", Opened: "2026-11-28 14:05 UTC", NextUpdate: "2026-11-28 18:05 UTC",
		Reasons: []string{"revenue impact $25,000 > $10,000"}, Summary: "It is down.", Checklist: []string{"1. [ ] Complete troubleshooting summary"},
		TrackingPath: "escalations/ESC-00001-tracking.md"},
	Vendor: VendorData{Vendor: "AWS", Tag: "ESC-00001", Customer: "Acme Corp", Subject: "Database outage", CaseID: "12345", Severity: "high",
		Impact: []string{"checkout down"}, Timeline: []string{"2026-11-28 14:05 UTC - Initial escalation received"}, Signature: Signature{Name: "Escalations"}},
	Update:          UpdateData{Salutation: "Jane Doe", Tag: "ESC-00001", Text: "The replica is up.", NextUpdate: "2026-11-28 18:05 UTC", Signature: Signature{Name: "Escalations"}},
	Reminder:        ReminderData{Tag: "ESC-00001", Due: "2026-11-28 18:05 UTC", Customer: "Acme Corp", Subject: "Database outage", Level: "Tier 2", Status: "ACTIVE", Owner: "@bob", TrackingPath: "escalations/ESC-00001-tracking.md"},
	Alert:           AlertData{Tag: "ESC-00001", Consumed: "52%", SLA: "24h", Level: "Manager", Customer: "Acme Corp", Subject: "Database outage", Status: "ACTIVE", Owner: "@bob", TrackingPath: "escalations/ESC-00001-tracking.md"},
	Errors:          ErrorsData{Tag: "ESC-00001", Failures: []Failure{{Line: "/escalate", Reason: "already at the top of the Executive ladder (VP)"}}, Applied: "/ack"},
	Unauthenticated: UnauthenticatedData{Tag: "ESC-00001", Reason: "no aligned dkim or dmarc pass from mx.example.com", Commands: []string{"/resolve fixed"}},
	Suppressed:      SuppressedData{Count: 3, Since: "2026-11-28 14:05 UTC", Limit: 200, TrackingDir: "/var/lib/escalationd/escalations"},
}

// Set is the parsed templates.
type Set struct {
	t       *template.Template
	sources map[string]string // name -> "embedded" or the override's path
}

// Load parses every embedded template, replacing any that has a file of the
// same name in dir ("" means no overrides), and test-renders each one. An
// override whose name is not a known template is an error, so a typo does
// not silently leave the embedded text in use.
func Load(dir string) (*Set, error) {
	s := &Set{t: template.New("").Option("missingkey=error"), sources: map[string]string{}}
	names, err := fs.Glob(embedded, "*.tmpl")
	if err != nil {
		return nil, fmt.Errorf("templates: list embedded: %w", err)
	}
	for _, name := range names {
		text, err := fs.ReadFile(embedded, name)
		if err != nil {
			return nil, fmt.Errorf("templates: read embedded %s: %w", name, err)
		}
		s.sources[name] = "embedded"
		if _, err := s.t.New(name).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("templates: parse embedded %s: %w", name, err)
		}
	}
	if dir != "" {
		if err := s.override(dir); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if _, ok := samples[name]; !ok {
			return nil, fmt.Errorf("templates: %s has no sample data to test-render with", name)
		}
		if _, err := s.Render(name, samples[name]); err != nil {
			return nil, fmt.Errorf("templates: test-render %s (%s): %w", name, s.sources[name], err)
		}
	}
	return s, nil
}

func (s *Set) override(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("templates: read escalation.templates_dir %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".tmpl") {
			continue
		}
		name := e.Name()
		if _, ok := s.sources[name]; !ok {
			return fmt.Errorf("templates: %s in %s is not a known template (known: %s)", name, dir, strings.Join(s.Names(), ", "))
		}
		path := filepath.Join(dir, name)
		text, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("templates: read override %s: %w", path, err)
		}
		if _, err := s.t.New(name).Parse(string(text)); err != nil {
			return fmt.Errorf("templates: parse override %s: %w", path, err)
		}
		s.sources[name] = path
	}
	return nil
}

// Names lists the known templates, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.sources))
	for n := range s.sources {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Source tells where template name came from: "embedded" or a file path.
func (s *Set) Source(name string) string { return s.sources[name] }

// Render executes template name with data. The result ends with one newline.
func (s *Set) Render(name string, data any) (string, error) {
	t := s.t.Lookup(name)
	if t == nil {
		return "", errors.New("templates: no template " + name)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("templates: render %s: %w", name, err)
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}
