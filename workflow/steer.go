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
			return e.command(tx, s, c, actor, now)
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
func (e *Engine) command(tx Tx, s *Escalation, c Command, actor string, now time.Time) error {
	handle, known := commands[c.Name]
	if !known {
		return failf("unknown command /%s", c.Name)
	}
	if s.Status == StatusResolved && c.Name != "reopen" && c.Name != "note" {
		return failf("not allowed in a RESOLVED escalation (only /reopen and /note are)")
	}
	return handle(e, commandCall{tx: tx, s: s, c: c, actor: actor, now: now})
}

// commands are the staff commands of §6, each with its handler: a command
// is known exactly when it is handled.
var commands = map[string]func(*Engine, commandCall) error{
	"ack":          (*Engine).ackCommand,
	"escalate":     (*Engine).escalateCommand,
	"level":        (*Engine).levelCommand,
	"type":         (*Engine).typeCommand,
	"assign":       (*Engine).assignCommand,
	"action":       (*Engine).actionCommand,
	"done":         (*Engine).doneCommand,
	"plan":         (*Engine).planCommand,
	"update":       (*Engine).updateCommand,
	"update-every": (*Engine).updateEveryCommand,
	"vendor":       (*Engine).vendorCommand,
	"check":        (*Engine).checkCommand,
	"note":         (*Engine).noteCommand,
	"resolve":      (*Engine).resolveCommand,
	"reopen":       (*Engine).reopenCommand,
}

// commandCall is one staff command being applied: the escalation, the
// command, who sent it and when, in the message's transaction.
type commandCall struct {
	tx    Tx
	s     *Escalation
	c     Command
	actor string
	now   time.Time
}

// timeline adds text to the escalation's timeline, signed by the actor.
func (k commandCall) timeline(text string) error {
	return addTimeline(k.tx, k.s.ID, k.now, text+" (by "+k.actor+")", k.actor)
}

// ackCommand is /ack: an ESCALATED escalation becomes ACTIVE.
func (e *Engine) ackCommand(k commandCall) error {
	if k.s.Status == StatusEscalated {
		k.s.Status = StatusActive
	}
	return k.timeline("Acknowledged at " + k.s.Level + ", status ACTIVE")
}

// escalateCommand is /escalate [REASON]: one level up the ladder.
func (e *Engine) escalateCommand(k commandCall) error {
	next, ok := NextLevel(k.s.Type, k.s.Level)
	if !ok {
		return failf("already at the top of the %s ladder (%s)", k.s.Type, k.s.Level)
	}
	reason := "escalated by " + k.actor
	if k.c.Arg != "" {
		reason += ": " + k.c.Arg
	}
	return e.changeLevel(k.tx, k.s, next, reason, k.actor, k.now)
}

// levelCommand is /level LEVEL: to any level of the ladder.
func (e *Engine) levelCommand(k commandCall) error {
	i := LevelIndex(k.s.Type, k.c.Arg)
	if i < 0 {
		return failf("%q is not a level of the %s ladder %s", k.c.Arg, k.s.Type, levelNames(k.s.Type))
	}
	level := Ladders[k.s.Type][i]
	if level == k.s.Level {
		return failf("already at level %s", level)
	}
	return e.changeLevel(k.tx, k.s, level, "level set by "+k.actor, k.actor, k.now)
}

// typeCommand is /type TYPE: another ladder, from its first level.
func (e *Engine) typeCommand(k commandCall) error {
	t, ok := ParseType(k.c.Arg)
	if !ok {
		return failf("type must be technical, executive or vendor, not %q", k.c.Arg)
	}
	if t == k.s.Type {
		return failf("already %s", t)
	}
	if err := k.timeline(fmt.Sprintf("Type changed %s → %s", k.s.Type, t)); err != nil {
		return err
	}
	k.s.Type = t
	return e.changeLevel(k.tx, k.s, StartLevel(t), "type changed to "+string(t)+" by "+k.actor, k.actor, k.now)
}

// assignCommand is /assign @owner.
func (e *Engine) assignCommand(k commandCall) error {
	owner := strings.TrimSpace(k.c.Arg)
	if strings.TrimPrefix(owner, "@") == "" || strings.ContainsAny(owner, " \t") {
		return failf("usage: /assign @owner")
	}
	if !strings.HasPrefix(owner, "@") {
		owner = "@" + owner
	}
	k.s.Owner = owner
	k.s.tick(6) // next tier engineer assigned
	return k.timeline("Assigned to " + owner)
}

// actionCommand is /action TEXT @owner: a numbered action item.
func (e *Engine) actionCommand(k commandCall) error {
	text, owner := splitOwner(k.c.Arg)
	if text == "" || owner == "" {
		return failf("usage: /action TEXT @owner")
	}
	n, err := k.tx.AddAction(k.s.ID, text, owner)
	if err != nil {
		return err
	}
	return k.timeline(fmt.Sprintf("Action %d added: %s - %s", n, text, owner))
}

// doneCommand is /done N: action N is done.
func (e *Engine) doneCommand(k commandCall) error {
	n, err := strconv.Atoi(k.c.Arg)
	if err != nil {
		return failf("usage: /done N (the action's number)")
	}
	ok, err := k.tx.CompleteAction(k.s.ID, n)
	if err != nil {
		return err
	}
	if !ok {
		return failf("there is no action %d", n)
	}
	return k.timeline(fmt.Sprintf("Action %d done", n))
}

// planCommand is /plan TEXT: a line of the resolution plan.
func (e *Engine) planCommand(k commandCall) error {
	if k.c.Arg == "" {
		return failf("usage: /plan TEXT")
	}
	if _, err := k.tx.AddPlan(k.s.ID, k.c.Arg); err != nil {
		return err
	}
	return k.timeline("Resolution plan: " + k.c.Arg)
}

// updateCommand is /update TEXT: the customer is told TEXT, within
// limits.updates_per_escalation_per_hour, and the update clock restarts.
func (e *Engine) updateCommand(k commandCall) error {
	if k.c.Arg == "" {
		return failf("usage: /update TEXT (what the customer is told)")
	}
	tag := e.Tag(k.s.ID)
	n, err := rateCount(k.tx, rateUpdate, tag, k.now)
	if err != nil {
		return err
	}
	if limit := e.cfg.Limits.UpdatesPerEscalationPerHour; n >= limit {
		return fmt.Errorf("%w (%d sent in the last hour, limits.updates_per_escalation_per_hour is %d): nothing sent, the update clock unchanged", errUpdateLimit, n, limit)
	}
	if err := rateNote(k.tx, rateUpdate, tag, k.now); err != nil {
		return err
	}
	k.s.NextUpdate = k.now.Add(k.s.UpdateEvery)
	k.s.tick(5) // customer expectation set
	if err := e.queueUpdate(k.tx, k.s, k.c.Arg, k.now); err != nil {
		return err
	}
	return k.timeline("Customer update sent; next update due " + e.fieldTime(k.s.NextUpdate))
}

// updateEveryCommand is /update-every DURATION: the update interval.
func (e *Engine) updateEveryCommand(k commandCall) error {
	d, err := time.ParseDuration(k.c.Arg)
	if err != nil || d < time.Minute {
		return failf("usage: /update-every 2h (a duration of a minute or more)")
	}
	k.s.UpdateEvery = d
	k.s.NextUpdate = k.now.Add(d)
	return k.timeline("Updates every " + durationWords(d) + "; next update due " + e.fieldTime(k.s.NextUpdate))
}

// checkCommand is /check N: checklist item N is ticked.
func (e *Engine) checkCommand(k commandCall) error {
	n, err := strconv.Atoi(k.c.Arg)
	if err != nil || n < 1 || n > len(ChecklistItems) {
		return failf("usage: /check N, N from 1 to %d", len(ChecklistItems))
	}
	k.s.tick(n)
	return k.timeline(fmt.Sprintf("Checklist %d ticked: %s", n, ChecklistItems[n-1]))
}

// noteCommand is /note TEXT: a line in the timeline, nothing else.
func (e *Engine) noteCommand(k commandCall) error {
	if k.c.Arg == "" {
		return failf("usage: /note TEXT")
	}
	return k.timeline("Note: " + k.c.Arg)
}

// resolveCommand is /resolve [TEXT]: status RESOLVED, no update due.
func (e *Engine) resolveCommand(k commandCall) error {
	k.s.Status = StatusResolved
	k.s.ResolvedAt = k.now
	k.s.NextUpdate = time.Time{} // no update is due: "Next Update Due: none"
	text := "Resolved, status RESOLVED"
	if k.c.Arg != "" {
		text += ": " + k.c.Arg
	}
	return k.timeline(text)
}

// reopenCommand is /reopen: a RESOLVED escalation is ACTIVE again, with its
// clocks restarted.
func (e *Engine) reopenCommand(k commandCall) error {
	if k.s.Status != StatusResolved {
		return failf("only a RESOLVED escalation can be reopened; this one is %s", k.s.Status)
	}
	k.s.Status = StatusActive
	k.s.ResolvedAt = time.Time{}
	k.s.restartClocks(k.now)
	return k.timeline("Reopened, status ACTIVE; SLA and update clocks restarted")
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
func (e *Engine) vendorCommand(k commandCall) error {
	tx, s, c, now := k.tx, k.s, k.c, k.now
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
	if err := k.timeline(text); err != nil {
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
