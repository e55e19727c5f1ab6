package workflow

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// The state machine (§5) and the staff commands (§6), tried as plain code:
// every command, well-formed and not, in every status at every level of the
// three ladders. The expected outcome is written out here from the spec, not
// derived from the engine's own tables.

// staffAddr is a staff sender: example.com is staff.domains.
const staffAddr = "lead@example.com"

// specLadders is the table of §4, as written there.
var specLadders = map[Type][]string{
	Technical: {"Tier 1", "Tier 2", "Tier 3", "Vendor"},
	Executive: {"Customer", "Team Lead", "Manager", "Director", "VP"},
	Vendor:    {"Case opened", "TAM/DSE/CE engaged", "Vendor investigating", "Resolved by vendor"},
}

// specStart is where a new escalation of each type starts (§4).
var specStart = map[Type]string{Technical: "Tier 2", Executive: "Team Lead", Vendor: "Case opened"}

// openingText classifies as its type (§4).
var openingText = map[Type]string{
	Technical: "Our nightly import fails since this morning.",
	Executive: "This outage costs us $25,000 per day in lost orders.",
	Vendor:    "Please open a case with AWS about the S3 errors.",
}

var mailSeq atomic.Uint32

// inMail is an inbound message from from, arriving at the clock's time. A
// subject with a tag routes it to that escalation. Mail from the staff
// domain example.com carries what the receiving server mx.example.com (the
// test config's staff.authserv_id) writes for a DKIM-signed message, so its
// commands count (§11); the trust tests build unauthenticated mail
// themselves.
func inMail(c *clock, from, subject, text string) *Inbound {
	n := mailSeq.Add(1) + 100000
	in := &Inbound{
		Mailbox: "INBOX", UIDValidity: 7, UID: n, InternalDate: c.t,
		MessageID: fmt.Sprintf("m%d@test", n), From: Address{Name: "Someone", Email: from},
		To:      []Address{{Email: "escalations@example.com"}},
		Subject: subject, Text: text, RawSHA256: fmt.Sprintf("raw-%d", n),
	}
	if strings.HasSuffix(strings.ToLower(from), "@example.com") {
		in.AuthResults = []string{"mx.example.com; dkim=pass header.d=example.com header.s=s1"}
	}
	return in
}

// replyTo is a reply into escalation id.
func replyTo(c *clock, id int64, from, text string) *Inbound {
	return inMail(c, from, fmt.Sprintf("Re: [%s] Orders fail", FormatTag("ESC", id)), text)
}

// openEsc opens an escalation of type typ from a customer of its own (so the
// repeat rule never counts it with others) and returns its id.
func openEsc(t *testing.T, e *Engine, c *clock, typ Type) (int64, string) {
	t.Helper()
	n := mailSeq.Add(1)
	from := fmt.Sprintf("buyer%d@cust%d.test", n, n)
	res := ingest(t, e, inMail(c, from, "Orders fail", openingText[typ]))
	if !res.New {
		t.Fatalf("opening message did not open an escalation: %+v", res)
	}
	if s := snap(t, e, res.EscalationID); s.esc.Type != typ || s.esc.Level != specStart[typ] || s.esc.Status != StatusEscalated {
		t.Fatalf("opened as %s/%s/%s, want %s/%s/ESCALATED", s.esc.Type, s.esc.Level, s.esc.Status, typ, specStart[typ])
	}
	return res.EscalationID, from
}

// snapshot is what a command may change: the escalation's row, its actions,
// plan and timeline, and its mail in the outbox.
type snapshot struct {
	esc      Escalation
	actions  []Action
	plan     []string
	timeline []TimelineEntry
	outbox   []OutboxItem
}

func snap(t *testing.T, e *Engine, id int64) snapshot {
	t.Helper()
	ctx := context.Background()
	var s *Escalation
	err := e.st.Read(ctx, func(tx Tx) error {
		var err error
		s, err = loadEsc(tx, id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.View(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	out := snapshot{esc: *s, actions: v.Actions, plan: v.Plan, timeline: v.Timeline}
	all, err := e.Outbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all {
		if it.EscalationID == id {
			out.outbox = append(out.outbox, it)
		}
	}
	return out
}

// added is the mail queued between two snapshots.
func added(before, after snapshot) []OutboxItem { return after.outbox[len(before.outbox):] }

// newEntries is the timeline written between two snapshots, in order.
func newEntries(before, after snapshot) []TimelineEntry {
	seen := map[TimelineEntry]int{}
	for _, te := range before.timeline {
		seen[te]++
	}
	var out []TimelineEntry
	for _, te := range after.timeline {
		if seen[te] > 0 {
			seen[te]--
			continue
		}
		out = append(out, te)
	}
	return out
}

func kinds(items []OutboxItem) []string {
	var out []string
	for _, m := range items {
		out = append(out, m.Kind+" to "+m.To[0].Email)
	}
	return out
}

// setState brings escalation id to level and status with one staff mail,
// through commands only: a seed action (so /done 1 has something to tick),
// a level change away and back (so the status is ESCALATED at level), then
// /ack for ACTIVE or /resolve for RESOLVED.
func setState(t *testing.T, e *Engine, c *clock, id int64, typ Type, level string, status Status) snapshot {
	t.Helper()
	i := slices.IndexFunc(specLadders[typ], func(l string) bool { return l != level && l != specStart[typ] })
	away := specLadders[typ][i]
	lines := []string{"/action Seed step @carol", "/level " + away, "/level " + level}
	switch status {
	case StatusActive:
		lines = append(lines, "/ack")
	case StatusResolved:
		lines = append(lines, "/resolve")
	}
	ingest(t, e, replyTo(c, id, staffAddr, strings.Join(lines, "\n")))
	s := snap(t, e, id)
	if s.esc.Type != typ || s.esc.Level != level || s.esc.Status != status || len(s.actions) != 1 {
		t.Fatalf("setup: %s/%s/%s with %d actions, want %s/%s/%s with 1", s.esc.Type, s.esc.Level, s.esc.Status, len(s.actions), typ, level, status)
	}
	if errs := kindsOf(s.outbox, "error"); len(errs) > 0 {
		t.Fatalf("setup mail failed: %s", errs[0].Body)
	}
	return s
}

// forceState is setState written straight to the store, as it would hold
// the escalation after those commands: cheaper, for the table of thousands
// of cases.
func forceState(t *testing.T, e *Engine, now time.Time, id int64, typ Type, level string, status Status) snapshot {
	t.Helper()
	err := e.st.Update(context.Background(), func(tx Tx) error {
		s, err := tx.Escalation(id)
		if err != nil {
			return err
		}
		s.Type, s.Level, s.Status, s.LevelChanged, s.ResolvedAt = typ, level, status, now, time.Time{}
		if status == StatusResolved {
			s.ResolvedAt, s.NextUpdate = now, time.Time{}
		}
		if err := tx.SaveEscalation(s); err != nil {
			return err
		}
		_, err = tx.AddAction(id, "Seed step", "@carol")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap(t, e, id)
}

func kindsOf(items []OutboxItem, kind string) []OutboxItem {
	var out []OutboxItem
	for _, m := range items {
		if m.Kind == kind {
			out = append(out, m)
		}
	}
	return out
}

// state is what the table asserts for every command: type, level, status.
type state struct {
	Type   Type
	Level  string
	Status Status
}

// effect checks what an applied command did beyond type, level and status.
type effect func(t *testing.T, e *Engine, now time.Time, before, after snapshot)

// variant is one command line and what it must do: want gives the state
// after it from the state before, and ok false when it must fail.
type variant struct {
	line  string
	want  func(s state) (after state, ok bool)
	check effect // for an applied command; nil: nothing more to check
}

// quiet drops the engine's log: thousands of commands would drown the
// test output.
func quiet(e *Engine) { e.log = slog.New(slog.NewTextHandler(io.Discard, nil)) }

func isOpen(s state) bool { return s.Status != StatusResolved }

// replied is a staff mail that applied a command without a status of its
// own: the first staff reply at a level sets ACTIVE (§5).
func replied(s state) state {
	if s.Status == StatusEscalated {
		s.Status = StatusActive
	}
	return s
}

func always(line string) variant {
	return variant{line: line, want: func(s state) (state, bool) { return s, false }}
}

// openOnly applies in ESCALATED and ACTIVE and changes no level.
func openOnly(line string, check effect) variant {
	return variant{line, func(s state) (state, bool) { return replied(s), isOpen(s) }, check}
}

func levelIndex(typ Type, name string) int {
	return slices.IndexFunc(specLadders[typ], func(l string) bool { return strings.EqualFold(l, strings.TrimSpace(name)) })
}

func commandVariants() []variant {
	var vs []variant
	vs = append(vs,
		openOnly("/ack", nil),
		openOnly("/ACK", nil),
	)
	for _, line := range []string{"/escalate", "/escalate customer threatens to churn"} {
		vs = append(vs, variant{line, func(s state) (state, bool) {
			lad := specLadders[s.Type]
			i := slices.Index(lad, s.Level)
			if !isOpen(s) || i+1 >= len(lad) {
				return s, false
			}
			s.Level, s.Status = lad[i+1], StatusEscalated
			return s, true
		}, levelChanged})
	}
	// Every level of every ladder (a level of another ladder is not one of
	// this one), spelled in other cases too, and names of no ladder.
	var names []string
	for _, typ := range []Type{Technical, Executive, Vendor} {
		names = append(names, specLadders[typ]...)
	}
	names = append(names, "tier 3", "DIRECTOR", "  Vendor investigating  ", "Nowhere", "")
	for _, name := range names {
		vs = append(vs, variant{strings.TrimRight("/level "+name, " "), func(s state) (state, bool) {
			i := levelIndex(s.Type, name)
			if !isOpen(s) || i < 0 || specLadders[s.Type][i] == s.Level {
				return s, false
			}
			s.Level, s.Status = specLadders[s.Type][i], StatusEscalated
			return s, true
		}, levelChanged})
	}
	for _, arg := range []string{"technical", "executive", "vendor", "Executive", "sales", ""} {
		vs = append(vs, variant{strings.TrimSpace("/type " + arg), func(s state) (state, bool) {
			var to Type
			for _, typ := range []Type{Technical, Executive, Vendor} {
				if strings.EqualFold(arg, string(typ)) {
					to = typ
				}
			}
			if !isOpen(s) || to == "" || to == s.Type {
				return s, false
			}
			return state{to, specStart[to], StatusEscalated}, true
		}, levelChanged})
	}
	vs = append(vs,
		openOnly("/assign @bob", assigned("@bob")),
		openOnly("/assign bob", assigned("@bob")),
		always("/assign"),
		always("/assign @"),
		always("/assign @bob @carol"),
		openOnly("/action Restart replica @bob", actionAdded("Restart replica", "@bob")),
		always("/action Restart replica"),
		always("/action @bob"),
		openOnly("/done 1", actionDone),
		always("/done 2"),
		always("/done one"),
		always("/done"),
		openOnly("/plan Fail over to the replica. ETA: 2026-11-29 18:00 UTC", planAdded("Fail over to the replica. ETA: 2026-11-29 18:00 UTC")),
		always("/plan"),
		openOnly("/update We restarted the primary and watch it.", customerUpdated),
		always("/update"),
		openOnly("/update-every 2h", cadence(2*time.Hour)),
		openOnly("/update-every 90m", cadence(90*time.Minute)),
		always("/update-every often"),
		always("/update-every 30s"),
		always("/update-every"),
		openOnly("/vendor AWS case 12345 severity 1 - urgent", vendorSet("AWS", "12345", "1 - urgent")),
		openOnly("/vendor oracle case SR-9", vendorSet("Oracle", "SR-9", "")),
		always("/vendor IBM case 1"),
		always("/vendor AWS 12345"),
		always("/vendor AWS case 1 sev 2"),
		always("/vendor AWS case 1 severity"),
		always("/vendor"),
		openOnly("/check 1", checked(1)),
		openOnly("/check 4", checked(4)),
		openOnly("/check 7", checked(7)),
		always("/check 0"),
		always("/check 8"),
		always("/check x"),
		// /note applies in every status, RESOLVED too (§6).
		variant{"/note customer called, calm now", func(s state) (state, bool) { return replied(s), true }, noted("customer called, calm now")},
		always("/note"),
		variant{"/resolve", resolve, resolved},
		variant{"/resolve fixed by failing over", resolve, resolved},
		variant{"/reopen", func(s state) (state, bool) {
			if isOpen(s) {
				return s, false
			}
			s.Status = StatusActive
			return s, true
		}, reopened},
		always("/frobnicate now"),
		always("/ ack"),
		always("/escalate-now"),
	)
	return vs
}

func resolve(s state) (state, bool) {
	if !isOpen(s) {
		return s, false
	}
	s.Status = StatusResolved
	return s, true
}

// levelChanged: the new level's roster is notified (or the timeline says
// nobody could be), and the level change time is now.
func levelChanged(t *testing.T, e *Engine, now time.Time, before, after snapshot) {
	t.Helper()
	if !after.esc.LevelChanged.Equal(now.Truncate(time.Millisecond)) {
		t.Errorf("level_changed_at = %v, want %v", after.esc.LevelChanged, now)
	}
	var want []string
	for _, c := range e.cfg.Roster.Contacts(string(after.esc.Type), after.esc.Level) {
		want = append(want, "notify to "+c.Email)
	}
	got := slices.DeleteFunc(kinds(added(before, after)), func(k string) bool { return strings.HasPrefix(k, "vendor ") })
	if len(want) == 0 {
		want = nil
		if !slices.ContainsFunc(newEntries(before, after), func(te TimelineEntry) bool { return strings.HasPrefix(te.Text, "Nobody notified") }) {
			t.Errorf("level %s has no roster, and the timeline does not say so", after.esc.Level)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mail queued %v, want %v", got, want)
	}
}

func assigned(owner string) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		if after.esc.Owner != owner || after.esc.Checklist != before.esc.Checklist|1<<5 {
			t.Errorf("owner %q checklist %07b, want %q and item 6 ticked", after.esc.Owner, after.esc.Checklist, owner)
		}
	}
}

func actionAdded(text, owner string) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		want := append(slices.Clone(before.actions), Action{Text: text, Owner: owner})
		if !reflect.DeepEqual(after.actions, want) {
			t.Errorf("actions %+v, want %+v", after.actions, want)
		}
	}
}

func actionDone(t *testing.T, _ *Engine, _ time.Time, _, after snapshot) {
	t.Helper()
	if !after.actions[0].Done {
		t.Errorf("action 1 not ticked: %+v", after.actions)
	}
}

func planAdded(text string) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		if want := append(slices.Clone(before.plan), text); !reflect.DeepEqual(after.plan, want) {
			t.Errorf("plan %q, want %q", after.plan, want)
		}
	}
}

func customerUpdated(t *testing.T, _ *Engine, now time.Time, before, after snapshot) {
	t.Helper()
	got := added(before, after)
	if len(got) != 1 || got[0].Kind != "update" || got[0].To[0].Email != before.esc.CustomerEmail ||
		!strings.Contains(got[0].Body, "We restarted the primary and watch it.") {
		t.Errorf("mail queued %v, want one customer update to %s", kinds(got), before.esc.CustomerEmail)
	}
	if want := now.Add(before.esc.UpdateEvery).Truncate(time.Millisecond); !after.esc.NextUpdate.Equal(want) {
		t.Errorf("next update %v, want %v (the update clock restarts)", after.esc.NextUpdate, want)
	}
	if after.esc.Checklist&(1<<4) == 0 {
		t.Error("checklist item 5 (customer expectation set) not ticked")
	}
}

func cadence(d time.Duration) effect {
	return func(t *testing.T, _ *Engine, now time.Time, _, after snapshot) {
		t.Helper()
		if after.esc.UpdateEvery != d || !after.esc.NextUpdate.Equal(now.Add(d).Truncate(time.Millisecond)) {
			t.Errorf("every %v next %v, want %v and %v", after.esc.UpdateEvery, after.esc.NextUpdate, d, now.Add(d))
		}
	}
}

func vendorSet(name, caseID, severity string) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		if after.esc.Vendor != name || after.esc.VendorCase != caseID || after.esc.VendorSeverity != severity {
			t.Errorf("vendor %q case %q severity %q, want %q %q %q", after.esc.Vendor, after.esc.VendorCase, after.esc.VendorSeverity, name, caseID, severity)
		}
		// The case request goes out once, when the escalation is a vendor
		// one or a technical one at the Vendor level (§4).
		atVendor := after.esc.Type == Vendor || after.esc.Level == "Vendor"
		var want []string
		if atVendor && !before.esc.VendorAsked {
			want = []string{"vendor to " + map[string]string{"AWS": "aws-support@example.com", "Oracle": "oracle-support@example.com"}[name]}
		}
		if got := kinds(added(before, after)); !reflect.DeepEqual(got, want) {
			t.Errorf("mail queued %v, want %v", got, want)
		}
	}
}

func checked(n int) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		if after.esc.Checklist != before.esc.Checklist|1<<(n-1) {
			t.Errorf("checklist %07b, want %07b with item %d", after.esc.Checklist, before.esc.Checklist, n)
		}
	}
}

func noted(text string) effect {
	return func(t *testing.T, _ *Engine, _ time.Time, before, after snapshot) {
		t.Helper()
		if !slices.ContainsFunc(newEntries(before, after), func(te TimelineEntry) bool { return strings.Contains(te.Text, text) }) {
			t.Errorf("note %q not in the timeline", text)
		}
		if len(added(before, after)) != 0 {
			t.Errorf("a note sent mail: %v", kinds(added(before, after)))
		}
	}
}

func resolved(t *testing.T, _ *Engine, now time.Time, _, after snapshot) {
	t.Helper()
	if !after.esc.ResolvedAt.Equal(now.Truncate(time.Millisecond)) || !after.esc.NextUpdate.IsZero() {
		t.Errorf("resolved_at %v, next update %v; want %v and none", after.esc.ResolvedAt, after.esc.NextUpdate, now)
	}
}

// reopened: the clocks start again, so a long-resolved escalation does not
// fire its SLA and update timers the moment it is reopened.
func reopened(t *testing.T, _ *Engine, now time.Time, _, after snapshot) {
	t.Helper()
	now = now.Truncate(time.Millisecond)
	if !after.esc.ResolvedAt.IsZero() || !after.esc.LevelChanged.Equal(now) || !after.esc.NextUpdate.Equal(now.Add(after.esc.UpdateEvery)) {
		t.Errorf("reopened: resolved_at %v, SLA clock from %v, next update %v; want zero, %v, %v",
			after.esc.ResolvedAt, after.esc.LevelChanged, after.esc.NextUpdate, now, now.Add(after.esc.UpdateEvery))
	}
}

// TestCommandsInEveryState applies every command of §6 in every status at
// every level of the three ladders, each to an escalation of its own (opened
// by mail, then put in its state by forceState: setState's commands are
// proven by the other tests). A few cases share an engine: snap lists the
// engine's whole outbox, which one engine for all would make quadratic.
func TestCommandsInEveryState(t *testing.T) {
	const casesPerEngine = 8
	variants := commandVariants()
	for _, typ := range []Type{Technical, Executive, Vendor} {
		for _, level := range specLadders[typ] {
			t.Run(string(typ)+"/"+level, func(t *testing.T) {
				t.Parallel()
				var e *Engine
				var c *clock
				cases := 0
				for _, status := range []Status{StatusEscalated, StatusActive, StatusResolved} {
					for _, v := range variants {
						if cases%casesPerEngine == 0 {
							e, c = newTestEngine(t, nil)
							quiet(e)
						}
						cases++
						name := fmt.Sprintf("%s/%s", status, v.line)
						t.Run(name, func(t *testing.T) {
							c.t = t0
							id, _ := openEsc(t, e, c, typ)
							c.t = t0.Add(time.Minute)
							before := forceState(t, e, c.t, id, typ, level, status)
							c.t = t0.Add(2 * time.Minute)
							ingest(t, e, replyTo(c, id, staffAddr, v.line))
							after := snap(t, e, id)
							from := state{typ, level, status}
							want, ok := v.want(from)
							checkCommand(t, e, c.t, v, from, want, ok, before, after)
						})
					}
				}
			})
		}
	}
}

func checkCommand(t *testing.T, e *Engine, now time.Time, v variant, from, want state, ok bool, before, after snapshot) {
	t.Helper()
	got := state{after.esc.Type, after.esc.Level, after.esc.Status}
	if got != want {
		t.Errorf("%s in %v: now %v, want %v", v.line, from, got, want)
	}
	errMail := kindsOf(added(before, after), "error")
	fresh := newEntries(before, after)
	if !ok {
		// A failed command changes nothing: the escalation's row, actions,
		// plan and mail stay as they were, but for one error mail to the
		// sender listing the line.
		if !reflect.DeepEqual(after.esc, before.esc) {
			t.Errorf("%s failed in %v but changed the escalation:\nbefore %+v\nafter  %+v", v.line, from, before.esc, after.esc)
		}
		if !reflect.DeepEqual(after.actions, before.actions) || !reflect.DeepEqual(after.plan, before.plan) {
			t.Errorf("%s failed but changed actions or plan", v.line)
		}
		if got := kinds(added(before, after)); len(got) != 1 || len(errMail) != 1 || errMail[0].To[0].Email != staffAddr {
			t.Fatalf("%s failed in %v: mail queued %v, want one error mail to %s", v.line, from, got, staffAddr)
		}
		m := errMail[0]
		if !strings.Contains(m.Body, "\n  "+v.line+"\n") || m.Subject != "Command errors: Orders fail ["+FormatTag("ESC", before.esc.ID)+"]" ||
			m.Headers[0] != [2]string{"Auto-Submitted", "auto-generated"} {
			t.Errorf("error mail %q does not list %q:\n%s", m.Subject, v.line, m.Body)
		}
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(v.line, "/")), " ")
		_, known := commands[name]
		if from.Status == StatusResolved && known && name != "note" && !strings.Contains(m.Body, "not allowed in a RESOLVED escalation") {
			t.Errorf("error mail does not say RESOLVED allows only /reopen and /note:\n%s", m.Body)
		}
		if !known && !strings.Contains(m.Body, "unknown command") {
			t.Errorf("error mail does not call %q unknown:\n%s", v.line, m.Body)
		}
		for _, te := range fresh {
			if !strings.HasPrefix(te.Text, "Message received from ") && !strings.HasPrefix(te.Text, "1 command(s) failed; error mail sent to "+staffAddr) {
				t.Errorf("%s failed but the timeline says %q", v.line, te.Text)
			}
		}
		return
	}
	if len(errMail) != 0 {
		t.Fatalf("%s in %v failed, want it applied:\n%s", v.line, from, errMail[0].Body)
	}
	// Every applied command is in the timeline with its actor.
	if !slices.ContainsFunc(fresh, func(te TimelineEntry) bool {
		return te.Actor == staffAddr && !strings.HasPrefix(te.Text, "Message received from ") && te.Text != "Status ACTIVE: staff replied"
	}) {
		t.Errorf("%s applied, but no timeline entry names its actor: %+v", v.line, fresh)
	}
	if v.check != nil {
		v.check(t, e, now, before, after)
	} else if got := kinds(added(before, after)); len(got) != 0 {
		t.Errorf("%s queued mail %v", v.line, got)
	}
}

// TestEscalateAtTheTop: /escalate at the top of each ladder fails with an
// error mail to its sender that lists it, and changes nothing.
func TestEscalateAtTheTop(t *testing.T) {
	e, c := newTestEngine(t, nil)
	for typ, top := range map[Type]string{Executive: "VP", Technical: "Vendor", Vendor: "Resolved by vendor"} {
		for _, status := range []Status{StatusEscalated, StatusActive} {
			c.t = t0
			id, _ := openEsc(t, e, c, typ)
			setState(t, e, c, id, typ, top, status)
			before := snap(t, e, id)
			ingest(t, e, replyTo(c, id, "director@example.com", "/escalate the customer's CEO called"))
			after := snap(t, e, id)
			if !reflect.DeepEqual(after.esc, before.esc) {
				t.Errorf("%s at %s (%s): /escalate changed the escalation", typ, top, status)
			}
			got := added(before, after)
			if len(got) != 1 || got[0].Kind != "error" || got[0].To[0].Email != "director@example.com" {
				t.Fatalf("%s at %s: mail %v, want one error mail to the sender", typ, top, kinds(got))
			}
			for _, want := range []string{"/escalate the customer's CEO called", "already at the top of the " + string(typ) + " ladder (" + top + ")"} {
				if !strings.Contains(got[0].Body, want) {
					t.Errorf("error mail lacks %q:\n%s", want, got[0].Body)
				}
			}
		}
	}
}

// TestEscalateClimbsEachLadder: /escalate works in ESCALATED and ACTIVE
// alike, one level at a time, notifying each new level's roster.
func TestEscalateClimbsEachLadder(t *testing.T) {
	e, c := newTestEngine(t, nil)
	for _, typ := range []Type{Technical, Executive, Vendor} {
		c.t = t0
		id, _ := openEsc(t, e, c, typ)
		lad := specLadders[typ]
		for i := slices.Index(lad, specStart[typ]) + 1; i < len(lad); i++ {
			if i%2 == 0 {
				ingest(t, e, replyTo(c, id, staffAddr, "/ack")) // ACTIVE first, then escalate
			}
			c.t = c.t.Add(time.Minute)
			ingest(t, e, replyTo(c, id, staffAddr, "/escalate"))
			s := snap(t, e, id)
			if s.esc.Level != lad[i] || s.esc.Status != StatusEscalated {
				t.Fatalf("%s: after /escalate %s/%s, want %s/ESCALATED", typ, s.esc.Level, s.esc.Status, lad[i])
			}
		}
	}
}

// TestResolvedAllowsOnlyReopenAndNote walks one resolved escalation through
// every command: all fail but /note and /reopen.
func TestResolvedAllowsOnlyReopenAndNote(t *testing.T) {
	e, c := newTestEngine(t, nil)
	id, _ := openEsc(t, e, c, Technical)
	ingest(t, e, replyTo(c, id, staffAddr, "/resolve"))
	before := snap(t, e, id)
	lines := []string{"/ack", "/escalate", "/level Tier 3", "/type executive", "/assign @bob", "/action x @bob", "/done 1",
		"/plan x", "/update x", "/update-every 2h", "/vendor AWS case 1", "/check 1", "/resolve"}
	ingest(t, e, replyTo(c, id, staffAddr, strings.Join(append(lines, "/note still fine"), "\n")))
	after := snap(t, e, id)
	if after.esc.Status != StatusResolved || after.esc.Level != before.esc.Level || after.esc.Owner != "" || after.esc.Checklist != before.esc.Checklist {
		t.Errorf("resolved escalation changed: %+v", after.esc)
	}
	errs := kindsOf(added(before, after), "error")
	if len(errs) != 1 || len(added(before, after)) != 1 {
		t.Fatalf("mail %v, want exactly one error mail", kinds(added(before, after)))
	}
	if n := strings.Count(errs[0].Body, "not allowed in a RESOLVED escalation"); n != len(lines) {
		t.Errorf("error mail lists %d refusals, want %d:\n%s", n, len(lines), errs[0].Body)
	}
	if !strings.Contains(errs[0].Body, "Applied: /note still fine\n") {
		t.Errorf("error mail does not say the note was applied:\n%s", errs[0].Body)
	}
	ingest(t, e, replyTo(c, id, staffAddr, "/reopen"))
	if s := snap(t, e, id); s.esc.Status != StatusActive {
		t.Errorf("after /reopen: %s", s.esc.Status)
	}
}

// TestSeveralCommandsInOrder: each command of one mail is applied on its own,
// in order; one error mail lists every failure.
func TestSeveralCommandsInOrder(t *testing.T) {
	e, c := newTestEngine(t, nil)
	id, _ := openEsc(t, e, c, Executive)
	before := snap(t, e, id)
	c.t = c.t.Add(time.Minute)
	ingest(t, e, replyTo(c, id, staffAddr, strings.Join([]string{
		"Taking this one.",
		"/assign @bob",
		"/escalate",
		"/level Nowhere",
		"/action Call the customer's CTO @bob",
		"/frobnicate",
		"/escalate board wants a call",
		"/done 7",
		"/note three failures above",
		"",
		"Sam",
	}, "\n")))
	after := snap(t, e, id)
	if after.esc.Level != "Director" || after.esc.Owner != "@bob" || len(after.actions) != 1 {
		t.Errorf("after the mail: level %s owner %q actions %d; want Director, @bob, 1", after.esc.Level, after.esc.Owner, len(after.actions))
	}
	var order []string
	for _, te := range newEntries(before, after) {
		if te.Actor == staffAddr {
			order = append(order, te.Text)
		}
	}
	wantOrder := []string{
		"Message received from lead@example.com (matched by subject tag)",
		"Status ACTIVE: staff replied",
		"Assigned to @bob (by lead@example.com)",
		"Level Team Lead → Manager, status ESCALATED: escalated by lead@example.com",
		"Action 1 added: Call the customer's CTO - @bob (by lead@example.com)",
		"Level Manager → Director, status ESCALATED: escalated by lead@example.com: board wants a call",
		"Note: three failures above (by lead@example.com)",
		"3 command(s) failed; error mail sent to lead@example.com",
	}
	if !reflect.DeepEqual(order, wantOrder) {
		t.Errorf("timeline:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(wantOrder, "\n"))
	}
	got := added(before, after)
	if k := kinds(got); !reflect.DeepEqual(k, []string{"notify to manager@example.com", "notify to director@example.com", "error to lead@example.com"}) {
		t.Fatalf("mail queued: %v", k)
	}
	body := got[2].Body
	for _, want := range []string{"/level Nowhere", "/frobnicate", "/done 7", "there is no action 7", "unknown command /frobnicate",
		"Applied: /assign @bob, /escalate, /action Call the customer's CTO @bob, /escalate board wants a call, /note three failures above\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("error mail lacks %q:\n%s", want, body)
		}
	}
	if got[2].InReplyTo == "" || got[2].ReplyTo != e.replyAddress(FormatTag("ESC", id), got[2].To[0].Email) || !strings.HasPrefix(got[2].ReplyTo, "escalations+"+FormatTag("ESC", id)+".") {
		t.Errorf("error mail threading: In-Reply-To %q Reply-To %q", got[2].InReplyTo, got[2].ReplyTo)
	}
}

// TestCommandsBelowTheQuoteAreText: only lines above the quoted part of a
// reply are commands.
func TestCommandsBelowTheQuoteAreText(t *testing.T) {
	e, c := newTestEngine(t, nil)
	for name, quote := range map[string]string{
		"attribution":      "On Sat, Nov 28, 2026 at 14:05, Escalations <escalations@example.com> wrote:",
		"quote marker":     "> Dear Jane,",
		"outlook":          "-----Original Message-----",
		"signature":        "-- ",
		"outlook headers":  "From: Escalations <escalations@example.com>",
		"russian":          "28.11.2026 14:05, Escalations пишет:",
		"underscore rule":  "________________________________",
		"quote, indented ": "  > /resolve",
	} {
		t.Run(name, func(t *testing.T) {
			id, _ := openEsc(t, e, c, Technical)
			before := snap(t, e, id)
			ingest(t, e, replyTo(c, id, staffAddr, "/note seen\n\n"+quote+"\n/resolve\n> /escalate\n/assign @mallory\n"))
			after := snap(t, e, id)
			if after.esc.Status != StatusActive || after.esc.Level != "Tier 2" || after.esc.Owner != "" {
				t.Errorf("a line below %q was applied: %+v", quote, after.esc)
			}
			if !slices.ContainsFunc(newEntries(before, after), func(te TimelineEntry) bool { return strings.HasPrefix(te.Text, "Note: seen") }) {
				t.Error("the command above the quote was not applied")
			}
			if got := kinds(added(before, after)); len(got) != 0 {
				t.Errorf("mail queued: %v", got)
			}
		})
	}
}

// TestNonStaffCommandsAreText: a customer's "/resolve" is logged as text;
// nothing changes and nobody gets an error mail.
func TestNonStaffCommandsAreText(t *testing.T) {
	e, c := newTestEngine(t, nil)
	// The others are participants (Cc of the opening mail), so they write
	// into the escalation whatever §10 says of strangers.
	others := []string{"colleague@buyer.test", "partner@vendor.test", "lead@example.com.evil.test"}
	in := inMail(c, "buyer@buyer.test", "Orders fail", openingText[Technical])
	for _, o := range others {
		in.Cc = append(in.Cc, Address{Email: o})
	}
	id := ingest(t, e, in).EscalationID
	for _, from := range append([]string{"buyer@buyer.test"}, others...) {
		before := snap(t, e, id)
		c.t = c.t.Add(time.Minute)
		ingest(t, e, replyTo(c, id, from, "/resolve\n/escalate\n/assign @me\nthanks"))
		after := snap(t, e, id)
		if !reflect.DeepEqual(after.esc, before.esc) {
			t.Errorf("%s: commands changed the escalation: %+v", from, after.esc)
		}
		if got := kinds(added(before, after)); len(got) != 0 {
			t.Errorf("%s: mail queued %v", from, got)
		}
		want := []string{"Message received from " + from + " (matched by subject tag)", "3 command line(s) from non-staff sender " + from + " ignored"}
		var texts []string
		for _, te := range newEntries(before, after) {
			texts = append(texts, te.Text)
		}
		if !reflect.DeepEqual(texts, want) {
			t.Errorf("%s: timeline %q, want %q", from, texts, want)
		}
		v, _ := e.View(context.Background(), id)
		if last := v.Log[len(v.Log)-1]; !strings.Contains(last.Text, "/resolve") || last.From.Email != from {
			t.Errorf("%s: the command lines are not logged as text: %+v", from, last)
		}
	}
}

// TestCustomerReplyReopens: a customer reply to a resolved escalation reopens
// it (ACTIVE, logged); mail from anyone else does not (§5).
func TestCustomerReplyReopens(t *testing.T) {
	e, c := newTestEngine(t, func(cfg *config.Config) {
		cfg.Customers = append(cfg.Customers, config.Customer{Domain: "globex.test", Name: "Globex"})
	})
	// Everyone who writes below is a participant (Cc of the opening mail).
	in := inMail(c, "ivan@globex.test", "Payments fail", "Card payments fail.")
	in.Cc = []Address{{Email: "olga@globex.test"}, {Email: "cases@aws.test"}, {Email: "partner@vendor.test"}}
	id := ingest(t, e, in).EscalationID
	ingest(t, e, replyTo(c, id, staffAddr, "/resolve gateway restarted"))
	// A vendor's support desk, a partner or staff writing without a command
	// is not the customer.
	for _, from := range []string{"cases@aws.test", "partner@vendor.test", "tier2@example.com"} {
		ingest(t, e, replyTo(c, id, from, "Case closed on our side."))
		if s := snap(t, e, id); s.esc.Status != StatusResolved {
			t.Errorf("a reply from %s reopened the escalation", from)
		}
	}
	c.t = t0.Add(72 * time.Hour)
	before := snap(t, e, id)
	ingest(t, e, replyTo(c, id, "olga@globex.test", "It fails again."))
	after := snap(t, e, id)
	if after.esc.Status != StatusActive {
		t.Fatalf("customer reply: status %s, want ACTIVE", after.esc.Status)
	}
	if !slices.ContainsFunc(newEntries(before, after), func(te TimelineEntry) bool {
		return te.Actor == "olga@globex.test" && strings.HasPrefix(te.Text, "Reopened: customer replied")
	}) {
		t.Errorf("reopening not logged: %+v", newEntries(before, after))
	}
	reopened(t, e, c.t, before, after)
	if got := kinds(added(before, after)); !slices.Equal(got, []string{"notify to tier2@example.com"}) {
		t.Errorf("reopening told %v, want the level's roster", got)
	}
	// Reopened three days later: no timer is due at once.
	if n, err := e.RunTimers(context.Background()); err != nil || n != 0 {
		t.Errorf("RunTimers right after reopening fired %d (%v), want 0", n, err)
	}
}

// TestStaffReplyActivates: the first staff reply at a level sets ACTIVE, with
// or without commands; a mail whose every command failed changes nothing.
func TestStaffReplyActivates(t *testing.T) {
	e, c := newTestEngine(t, nil)
	id, _ := openEsc(t, e, c, Technical)
	ingest(t, e, replyTo(c, id, staffAddr, "/escalte"))
	if s := snap(t, e, id); s.esc.Status != StatusEscalated {
		t.Errorf("a mail of failed commands set %s", s.esc.Status)
	}
	ingest(t, e, replyTo(c, id, "tier2@example.com", "Looking into it now."))
	s := snap(t, e, id)
	if s.esc.Status != StatusActive {
		t.Errorf("staff reply: %s, want ACTIVE", s.esc.Status)
	}
	if !slices.ContainsFunc(s.timeline, func(te TimelineEntry) bool {
		return te.Actor == "tier2@example.com" && te.Text == "Status ACTIVE: staff replied"
	}) {
		t.Error("the transition is not in the timeline with its actor")
	}
}

// TestAttachmentTicksDiagnosticData: an attachment arriving in a reply ticks
// checklist item 4, "Diagnostic data collected".
func TestAttachmentTicksDiagnosticData(t *testing.T) {
	e, c := newTestEngine(t, nil)
	id, customer := openEsc(t, e, c, Technical)
	ingest(t, e, replyTo(c, id, customer, "no logs yet"))
	if s := snap(t, e, id); s.esc.Checklist&(1<<3) != 0 {
		t.Fatal("item 4 ticked without an attachment")
	}
	in := replyTo(c, id, customer, "logs attached")
	in.Attachments = []Attachment{spoolFile(t, "db.log", "ERROR deadlock")}
	ingest(t, e, in)
	if s := snap(t, e, id); s.esc.Checklist&(1<<3) == 0 {
		t.Error("item 4 (Diagnostic data collected) not ticked after an attachment arrived")
	}
}

func spoolFile(t *testing.T, name, content string) Attachment {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "spool-*")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(content)
	f.Close()
	return Attachment{Name: name, ContentType: "text/plain", Size: int64(len(content)), Path: f.Name()}
}

// TestCommandTable pins the commands of §6 to the one table that names and
// handles them, and checks that TestCommandsInEveryState tries each of them.
func TestCommandTable(t *testing.T) {
	spec := []string{"ack", "escalate", "level", "type", "assign", "action", "done", "plan",
		"update", "update-every", "vendor", "check", "note", "resolve", "reopen"}
	var names []string
	for name, handle := range commands {
		names = append(names, name)
		if handle == nil {
			t.Errorf("command /%s has no handler", name)
		}
	}
	slices.Sort(names)
	slices.Sort(spec)
	if !slices.Equal(names, spec) {
		t.Errorf("commands = %v, want the §6 commands %v", names, spec)
	}
	tried := map[string]bool{}
	for _, v := range commandVariants() {
		name, _, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(v.line, "/")), " ")
		tried[name] = true
	}
	for _, name := range spec {
		if !tried[name] {
			t.Errorf("no variant of /%s in commandVariants", name)
		}
	}
}
