package workflow

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

// errNotAllowed and friends are the reasons a command fails; the text goes
// into the error mail.
var errCommand = errors.New("command failed")

// errUpdateLimit is the failure of an /update over
// limits.updates_per_escalation_per_hour.
var errUpdateLimit = fmt.Errorf("%w: update suppressed: rate limit", errCommand)

func failf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCommand}, args...)...)
}

// reply applies a message that belongs to escalation id (§5, §6).
func (e *Engine) reply(tx Tx, id int64, in *Inbound, via string, now time.Time) error {
	s, err := loadEsc(tx, id)
	if err != nil {
		return err
	}
	actor := in.From.Email
	if err := addTimeline(tx, id, now, fmt.Sprintf("Message received from %s (matched by %s)", actor, via), actor); err != nil {
		return err
	}
	s.Checklist |= diagnosticData(in)
	staff := e.isStaff(actor)
	cmds := ParseCommands(in.Text)
	if staff && e.cfg.Staff.RequireAuthenticated {
		if ok, why := e.authenticated(in, id); !ok {
			// A forged staff From must not steer an escalation (§11): it
			// is logged like a participant's mail and changes nothing.
			staff = false
			if len(cmds) > 0 {
				if err := e.refuseCommands(tx, s, in, cmds, why, now); err != nil {
					return err
				}
				cmds = nil
			} else {
				e.log.Info("mail from a staff address not authenticated: logged as a participant's", "from", actor, "escalation", e.Tag(id), "reason", why)
			}
		}
	}
	if !staff {
		if len(cmds) > 0 {
			e.log.Warn("command lines from a non-staff sender logged as text", "from", actor, "escalation", e.Tag(id), "lines", len(cmds))
			if err := addTimeline(tx, id, now, fmt.Sprintf("%d command line(s) from non-staff sender %s ignored", len(cmds), actor), actor); err != nil {
				return err
			}
		}
		if s.Status == StatusResolved && e.isCustomer(s, actor) {
			s.Status = StatusActive
			s.ResolvedAt = time.Time{}
			s.restartClocks(now)
			if err := addTimeline(tx, id, now, "Reopened: customer replied to a resolved escalation, status ACTIVE", actor); err != nil {
				return err
			}
			// Nobody else would learn of it: the level's roster is told.
			if err := e.queueNotify(tx, s, "reopened: the customer replied", in.Text, now); err != nil {
				return err
			}
		}
		return s.save(tx)
	}

	// Staff: the first staff reply at a level sets ACTIVE (§5), unless the
	// reply holds commands and every one of them failed: a failed command
	// changes nothing (§6). So the transition is made together with the
	// first command that applies, and undone with it when it fails.
	pending := s.Status == StatusEscalated
	activate := func() error {
		was := pending
		pending = false
		if !was || s.Status != StatusEscalated { // e.g. /ack came first
			return nil
		}
		s.Status = StatusActive
		return addTimeline(tx, id, now, "Status ACTIVE: staff replied", actor)
	}
	if len(cmds) == 0 {
		if err := activate(); err != nil {
			return err
		}
	}
	var failures []templates.Failure
	var applied []string
	updates := 0 // /update lines in this message: only the first may send (§11)
	for _, c := range cmds {
		// Each command on its own: a failed one changes nothing.
		before, wasPending := *s, pending
		if c.Name == "update" {
			if updates++; updates > 1 {
				failures = append(failures, templates.Failure{Line: c.Line, Reason: "one /update per message: the first one is the update"})
				e.log.Info("staff command failed", "escalation", e.Tag(id), "from", actor, "command", c.Line, "reason", "second /update in one message")
				continue
			}
		}
		err := tx.Savepoint(func() error {
			if c.Name != "ack" { // /ack sets ACTIVE itself, and says so
				if err := activate(); err != nil {
					return err
				}
			}
			return e.command(tx, s, c, actor, in, now)
		})
		if errors.Is(err, errCommand) {
			*s, pending = before, wasPending
			if errors.Is(err, errUpdateLimit) {
				if err := addTimeline(tx, id, now, "update suppressed: rate limit", actor); err != nil {
					return err
				}
			}
			failures = append(failures, templates.Failure{Line: c.Line, Reason: strings.TrimPrefix(err.Error(), errCommand.Error()+": ")})
			e.log.Info("staff command failed", "escalation", e.Tag(id), "from", actor, "command", c.Line, "reason", err)
		} else if err != nil {
			return err
		} else {
			applied = append(applied, c.Line)
			e.log.Info("staff command applied", "escalation", e.Tag(id), "from", actor, "command", c.Line)
		}
	}
	if err := s.save(tx); err != nil {
		return err
	}
	if len(failures) > 0 {
		return e.queueErrors(tx, s, in, failures, applied, now)
	}
	return nil
}

// diagnosticData is the checklist bit a message sets: item 4, "Diagnostic
// data collected", when it carries attachments. open (engine.go) should set
// it for the opening message too.
func diagnosticData(in *Inbound) int {
	if len(in.Attachments) > 0 {
		return 1 << 3
	}
	return 0
}

// isCustomer reports whether addr writes for the customer of s: the
// requester's address, or an address in the domain of the customers entry
// the escalation was opened for. A vendor or any other participant is not
// the customer.
func (e *Engine) isCustomer(s *Escalation, addr string) bool {
	if strings.EqualFold(strings.TrimSpace(addr), s.CustomerEmail) {
		return true
	}
	cust, known := e.customer(addr)
	mine, _ := e.customer(s.CustomerEmail)
	return known && strings.EqualFold(cust.Domain, mine.Domain)
}

// restartClocks starts the SLA and update clocks again at now: a reopened
// escalation is measured from its reopening, not from before it was
// resolved, so it does not fire its timers the moment it reopens.
func (s *Escalation) restartClocks(now time.Time) {
	s.LevelChanged = now
	s.NextUpdate = now.Add(s.UpdateEvery)
}

// command applies one staff command to s within tx. It returns an error
// wrapping errCommand when the command is unknown, malformed or not allowed
// now; any other error aborts the whole message.
func (e *Engine) command(tx Tx, s *Escalation, c Command, actor string, in *Inbound, now time.Time) error {
	if s.Status == StatusResolved && c.Name != "reopen" && c.Name != "note" {
		if _, known := commandNames[c.Name]; known {
			return failf("not allowed in a RESOLVED escalation (only /reopen and /note are)")
		}
	}
	tl := func(text string) error { return addTimeline(tx, s.ID, now, text+" (by "+actor+")", actor) }
	switch c.Name {
	case "ack":
		if s.Status == StatusEscalated {
			s.Status = StatusActive
		}
		return tl("Acknowledged at " + s.Level + ", status ACTIVE")
	case "escalate":
		next, ok := NextLevel(s.Type, s.Level)
		if !ok {
			return failf("already at the top of the %s ladder (%s)", s.Type, s.Level)
		}
		reason := "escalated by " + actor
		if c.Arg != "" {
			reason += ": " + c.Arg
		}
		return e.changeLevel(tx, s, next, reason, actor, now)
	case "level":
		i := LevelIndex(s.Type, c.Arg)
		if i < 0 {
			return failf("%q is not a level of the %s ladder %s", c.Arg, s.Type, levelNames(s.Type))
		}
		level := Ladders[s.Type][i]
		if level == s.Level {
			return failf("already at level %s", level)
		}
		return e.changeLevel(tx, s, level, "level set by "+actor, actor, now)
	case "type":
		t, ok := ParseType(c.Arg)
		if !ok {
			return failf("type must be technical, executive or vendor, not %q", c.Arg)
		}
		if t == s.Type {
			return failf("already %s", t)
		}
		if err := tl(fmt.Sprintf("Type changed %s → %s", s.Type, t)); err != nil {
			return err
		}
		s.Type = t
		return e.changeLevel(tx, s, StartLevel(t), "type changed to "+string(t)+" by "+actor, actor, now)
	case "assign":
		owner := strings.TrimSpace(c.Arg)
		if strings.TrimPrefix(owner, "@") == "" || strings.ContainsAny(owner, " \t") {
			return failf("usage: /assign @owner")
		}
		if !strings.HasPrefix(owner, "@") {
			owner = "@" + owner
		}
		s.Owner = owner
		s.tick(6) // next tier engineer assigned
		return tl("Assigned to " + owner)
	case "action":
		text, owner := splitOwner(c.Arg)
		if text == "" || owner == "" {
			return failf("usage: /action TEXT @owner")
		}
		n, err := tx.AddAction(s.ID, text, owner)
		if err != nil {
			return err
		}
		return tl(fmt.Sprintf("Action %d added: %s - %s", n, text, owner))
	case "done":
		n, err := strconv.Atoi(c.Arg)
		if err != nil {
			return failf("usage: /done N (the action's number)")
		}
		ok, err := tx.CompleteAction(s.ID, n)
		if err != nil {
			return err
		}
		if !ok {
			return failf("there is no action %d", n)
		}
		return tl(fmt.Sprintf("Action %d done", n))
	case "plan":
		if c.Arg == "" {
			return failf("usage: /plan TEXT")
		}
		if _, err := tx.AddPlan(s.ID, c.Arg); err != nil {
			return err
		}
		return tl("Resolution plan: " + c.Arg)
	case "update":
		if c.Arg == "" {
			return failf("usage: /update TEXT (what the customer is told)")
		}
		tag := e.Tag(s.ID)
		n, err := rateCount(tx, rateUpdate, tag, now)
		if err != nil {
			return err
		}
		if limit := e.cfg.Limits.UpdatesPerEscalationPerHour; n >= limit {
			return fmt.Errorf("%w (%d sent in the last hour, limits.updates_per_escalation_per_hour is %d): nothing sent, the update clock unchanged", errUpdateLimit, n, limit)
		}
		if err := rateNote(tx, rateUpdate, tag, now); err != nil {
			return err
		}
		s.NextUpdate = now.Add(s.UpdateEvery)
		s.tick(5) // customer expectation set
		if err := e.queueUpdate(tx, s, c.Arg, now); err != nil {
			return err
		}
		return tl("Customer update sent; next update due " + e.fieldTime(s.NextUpdate))
	case "update-every":
		d, err := time.ParseDuration(c.Arg)
		if err != nil || d < time.Minute {
			return failf("usage: /update-every 2h (a duration of a minute or more)")
		}
		s.UpdateEvery = d
		s.NextUpdate = now.Add(d)
		return tl("Updates every " + durationWords(d) + "; next update due " + e.fieldTime(s.NextUpdate))
	case "vendor":
		return e.vendorCommand(tx, s, c, actor, now)
	case "check":
		n, err := strconv.Atoi(c.Arg)
		if err != nil || n < 1 || n > len(ChecklistItems) {
			return failf("usage: /check N, N from 1 to %d", len(ChecklistItems))
		}
		s.tick(n)
		return tl(fmt.Sprintf("Checklist %d ticked: %s", n, ChecklistItems[n-1]))
	case "note":
		if c.Arg == "" {
			return failf("usage: /note TEXT")
		}
		return tl("Note: " + c.Arg)
	case "resolve":
		s.Status = StatusResolved
		s.ResolvedAt = now
		s.NextUpdate = time.Time{} // no update is due: "Next Update Due: none"
		text := "Resolved, status RESOLVED"
		if c.Arg != "" {
			text += ": " + c.Arg
		}
		return tl(text)
	case "reopen":
		if s.Status != StatusResolved {
			return failf("only a RESOLVED escalation can be reopened; this one is %s", s.Status)
		}
		s.Status = StatusActive
		s.ResolvedAt = time.Time{}
		s.restartClocks(now)
		return tl("Reopened, status ACTIVE; SLA and update clocks restarted")
	}
	return failf("unknown command /%s", c.Name)
}

// commandNames are the commands of §6.
var commandNames = map[string]struct{}{
	"ack": {}, "escalate": {}, "level": {}, "type": {}, "assign": {}, "action": {}, "done": {}, "plan": {},
	"update": {}, "update-every": {}, "vendor": {}, "check": {}, "note": {}, "resolve": {}, "reopen": {},
}

// splitOwner takes the trailing "@owner" off "Restart replica @bob".
func splitOwner(arg string) (text, owner string) {
	f := strings.Fields(arg)
	if len(f) < 2 || !strings.HasPrefix(f[len(f)-1], "@") || len(f[len(f)-1]) < 2 {
		return "", ""
	}
	return strings.Join(f[:len(f)-1], " "), f[len(f)-1]
}

// vendorNames maps the accepted spellings to the config's vendor keys.
var vendorNames = map[string]string{"aws": "AWS", "azure": "Azure", "gcp": "GCP", "oracle": "Oracle"}

// vendorCommand is /vendor AWS|Azure|GCP|Oracle case ID [severity S].
func (e *Engine) vendorCommand(tx Tx, s *Escalation, c Command, actor string, now time.Time) error {
	f := strings.Fields(c.Arg)
	usage := failf("usage: /vendor AWS|Azure|GCP|Oracle case ID [severity S]")
	if len(f) < 3 || !strings.EqualFold(f[1], "case") {
		return usage
	}
	name, ok := vendorNames[strings.ToLower(f[0])]
	if !ok {
		return failf("unknown vendor %q: AWS, Azure, GCP or Oracle", f[0])
	}
	s.Vendor, s.VendorCase, s.VendorConfirmed = name, f[2], true
	rest := f[3:]
	if len(rest) > 0 {
		if !strings.EqualFold(rest[0], "severity") || len(rest) < 2 {
			return usage
		}
		s.VendorSeverity = strings.Join(rest[1:], " ")
	}
	text := fmt.Sprintf("Vendor case %s %s", name, s.VendorCase)
	if s.VendorSeverity != "" {
		text += ", severity " + s.VendorSeverity
	}
	if err := addTimeline(tx, s.ID, now, text+" (by "+actor+")", actor); err != nil {
		return err
	}
	return e.maybeVendorRequest(tx, s, now)
}

// changeLevel moves s to level (status ESCALATED), notifies the level's
// roster and, at the Vendor level or for a Vendor escalation, asks the vendor.
func (e *Engine) changeLevel(tx Tx, s *Escalation, level, reason, actor string, now time.Time) error {
	from := s.Level
	s.Level, s.Status, s.LevelChanged = level, StatusEscalated, now
	text := fmt.Sprintf("Level %s → %s, status ESCALATED: %s", orNone(from), level, reason)
	if err := addTimeline(tx, s.ID, now, text, actor); err != nil {
		return err
	}
	if err := e.queueNotify(tx, s, reason, "", now); err != nil {
		return err
	}
	return e.maybeVendorRequest(tx, s, now)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// maybeVendorRequest sends the vendor case request once, when the
// escalation is a Vendor one or a Technical one at the Vendor level (§4):
// to vendors.<name> when the vendor is known, else it asks the level's
// roster to name it. A vendor named only by the requester's text is asked
// on its own only when the requester is at a customers domain; otherwise the
// request waits for a staff /vendor (§11).
func (e *Engine) maybeVendorRequest(tx Tx, s *Escalation, now time.Time) error {
	atVendor := s.Type == Vendor || (s.Type == Technical && strings.EqualFold(s.Level, "Vendor"))
	if !atVendor || s.VendorAsked {
		return nil
	}
	if _, known := e.customer(s.CustomerEmail); s.Vendor != "" && !known && !s.VendorConfirmed {
		// Nothing a stranger writes reaches a third party (§11).
		return addTimeline(tx, s.ID, now, fmt.Sprintf("vendor case request waits for staff: /vendor (the request names %s; the requester is not at a customers domain)", s.Vendor), "")
	}
	addr := e.cfg.Vendors.Address(s.Vendor)
	if s.Vendor == "" || addr == "" {
		if s.Vendor != "" {
			return addTimeline(tx, s.ID, now, fmt.Sprintf("No case request sent: vendors.%s is not configured", strings.ToLower(s.Vendor)), "")
		}
		return addTimeline(tx, s.ID, now, "No case request sent: the vendor is not known; the roster is asked to name it with /vendor", "")
	}
	s.VendorAsked = true
	return e.queueVendor(tx, s, addr, now)
}

// roster is the contacts of s's current level.
func (e *Engine) roster(s *Escalation) []config.Contact {
	return e.cfg.Roster.Contacts(string(s.Type), s.Level)
}
