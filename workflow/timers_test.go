package workflow

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

// Timers (§7) with a clock the test moves: SLA at risk, update reminders,
// the backlog rule, and restarts of the engine on the same data_dir.

// runTimers runs the timers at the clock's time and returns how many fired.
func runTimers(t *testing.T, e *Engine) int {
	t.Helper()
	n, err := e.RunTimers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// mailCount counts the queued and sent mail per kind and recipient:
// "alert lead@example.com" → 1.
func mailCount(t *testing.T, e *Engine) map[string]int {
	t.Helper()
	all, err := e.Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, m := range all {
		out[m.Kind+" "+m.To[0].Email]++
	}
	return out
}

// diff is what was queued between two counts.
func diff(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, n := range after {
		if d := n - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

func timelineHas(t *testing.T, e *Engine, id int64, text string) bool {
	t.Helper()
	v, err := e.View(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(v.Timeline, func(te TimelineEntry) bool { return strings.Contains(te.Text, text) })
}

// trackingLine is the line of the tracking file that starts with prefix.
func trackingLine(t *testing.T, e *Engine, id int64, prefix string) string {
	t.Helper()
	data, err := os.ReadFile(e.TrackingPath(id))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("%s has no line %q", e.TrackingPath(id), prefix)
	return ""
}

// longCadence keeps update reminders out of a test about the SLA.
func longCadence(c *config.Config) { c.Escalation.UpdateInterval = 1000 * time.Hour }

func TestSLAAtRiskTechnicalGoesUpOneLevel(t *testing.T) {
	e, c := newTestEngine(t, longCadence)
	id, _ := openEsc(t, e, c, Technical)
	before := mailCount(t, e)

	c.t = t0.Add(4 * time.Hour) // exactly 50%: not more than half
	if n := runTimers(t, e); n != 0 {
		t.Fatalf("%d timers fired at 50%% of the SLA", n)
	}
	c.t = t0.Add(4*time.Hour + time.Minute)
	if n := runTimers(t, e); n != 1 {
		t.Fatalf("%d timers fired past 50%%, want 1", n)
	}
	s := snap(t, e, id)
	if s.esc.Level != "Tier 3" || s.esc.Status != StatusEscalated {
		t.Errorf("after SLA at risk: %s/%s, want Tier 3/ESCALATED", s.esc.Level, s.esc.Status)
	}
	if !timelineHas(t, e, id, "Level Tier 2 → Tier 3, status ESCALATED: SLA at risk: 50% of 8h used at Tier 2") {
		t.Errorf("timeline lacks the SLA entry: %+v", s.timeline)
	}
	if got := diff(before, mailCount(t, e)); !maps.Equal(got, map[string]int{"notify tier3@example.com": 1}) {
		t.Errorf("mail: %v, want the Tier 3 roster notified", got)
	}
	notify := kindsOf(s.outbox, "notify")
	if body := notify[len(notify)-1].Body; !strings.Contains(body, "level Tier 3 (SLA at risk") {
		t.Errorf("notification does not say why:\n%s", body)
	}

	// Same clock, again: nothing. The clock of Tier 3 started at the change.
	for range 3 {
		if n := runTimers(t, e); n != 0 {
			t.Fatalf("the SLA timer fired again: %d", n)
		}
	}
	c.t = c.t.Add(4*time.Hour + time.Minute)
	if n := runTimers(t, e); n != 1 {
		t.Fatalf("at Tier 3 past 50%%: %d fired", n)
	}
	if s := snap(t, e, id); s.esc.Level != "Vendor" {
		t.Errorf("level %s, want Vendor", s.esc.Level)
	}
	// The vendor is not known: the Vendor roster is asked to name it.
	if !timelineHas(t, e, id, "the vendor is not known") {
		t.Error("timeline does not say the vendor is unknown")
	}
	// At the top of the ladder the roster is alerted instead.
	before = mailCount(t, e)
	c.t = c.t.Add(4*time.Hour + time.Minute)
	if n := runTimers(t, e); n != 1 {
		t.Fatalf("at the top: %d fired", n)
	}
	if got := diff(before, mailCount(t, e)); !maps.Equal(got, map[string]int{"alert vendor-mgr@example.com": 1}) {
		t.Errorf("at the top: mail %v, want an alert to the Vendor roster", got)
	}
	if s := snap(t, e, id); s.esc.Level != "Vendor" {
		t.Errorf("went past the top: %s", s.esc.Level)
	}
}

func TestSLAAtRiskAlertsTheRoster(t *testing.T) {
	for typ, roster := range map[Type]string{Executive: "lead@example.com", Vendor: "vendor-mgr@example.com"} {
		t.Run(string(typ), func(t *testing.T) {
			e, c := newTestEngine(t, longCadence)
			id, _ := openEsc(t, e, c, typ)
			ingest(t, e, replyTo(c, id, staffAddr, "/ack"))
			before := mailCount(t, e)
			c.t = t0.Add(12 * time.Hour)
			if n := runTimers(t, e); n != 0 {
				t.Fatalf("fired at 50%% of 24h: %d", n)
			}
			c.t = t0.Add(12*time.Hour + time.Minute)
			for i := range 3 {
				n := runTimers(t, e)
				if want := map[bool]int{true: 1, false: 0}[i == 0]; n != want {
					t.Fatalf("run %d: %d fired, want %d", i+1, n, want)
				}
			}
			if got := diff(before, mailCount(t, e)); !maps.Equal(got, map[string]int{"alert " + roster: 1}) {
				t.Errorf("mail %v, want one alert to %s", got, roster)
			}
			s := snap(t, e, id)
			if s.esc.Type != typ || s.esc.Level != specStart[typ] || s.esc.Status != StatusActive {
				t.Errorf("the alert changed the escalation: %s/%s/%s", s.esc.Type, s.esc.Level, s.esc.Status)
			}
			if !timelineHas(t, e, id, "SLA at risk: 50% of 24h used at "+specStart[typ]+"; roster alerted") {
				t.Errorf("timeline: %+v", s.timeline)
			}
			alert := kindsOf(s.outbox, "alert")[0]
			if alert.Subject != "SLA at risk: Orders fail ["+FormatTag("ESC", id)+"]" || alert.Headers[0][1] != "auto-generated" {
				t.Errorf("alert %q %v", alert.Subject, alert.Headers)
			}
			// A level change starts the clock again: a new alert after
			// another half SLA at the new level, not before.
			ingest(t, e, replyTo(c, id, staffAddr, "/escalate"))
			c.t = c.t.Add(12 * time.Hour)
			if n := runTimers(t, e); n != 0 {
				t.Errorf("fired %d at 50%% of the new level", n)
			}
			c.t = c.t.Add(time.Minute)
			if n := runTimers(t, e); n != 1 {
				t.Errorf("fired %d past 50%% of the new level, want 1", n)
			}
		})
	}
}

func TestUpdateOverdueReminder(t *testing.T) {
	for _, tc := range []struct {
		name, commands, to string
	}{
		{"roster of the level", "", "tier2@example.com"},
		{"owner handle", "/assign @bob", "bob@example.com"},
		{"owner address", "/assign @carol@partner.test", "carol@partner.test"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, c := newTestEngine(t, func(c *config.Config) { c.Escalation.SLA.Technical = 1000 * time.Hour })
			id, _ := openEsc(t, e, c, Technical)
			if id != 1 {
				t.Fatalf("opened %d", id)
			}
			if tc.commands != "" {
				ingest(t, e, replyTo(c, id, staffAddr, tc.commands))
			}
			if line := trackingLine(t, e, id, "**Next Update Due**"); line != "**Next Update Due**: 2026-11-28 18:05 UTC" {
				t.Errorf("before: %q", line)
			}
			before := mailCount(t, e)
			c.t = t0.Add(4 * time.Hour)
			if n := runTimers(t, e); n != 0 {
				t.Fatalf("reminder at the due time itself: %d", n)
			}
			c.t = t0.Add(4*time.Hour + time.Second)
			if n := runTimers(t, e); n != 1 {
				t.Fatalf("%d fired once due, want 1", n)
			}
			if got := diff(before, mailCount(t, e)); !maps.Equal(got, map[string]int{"reminder " + tc.to: 1}) {
				t.Errorf("mail %v, want a reminder to %s", got, tc.to)
			}
			m := kindsOf(snap(t, e, id).outbox, "reminder")[0]
			if m.Subject != "Reminder: update overdue - Orders fail [ESC-00001]" {
				t.Errorf("subject %q", m.Subject)
			}
			if m.Headers[0] != [2]string{"Auto-Submitted", "auto-generated"} || m.ReplyTo != e.replyAddress("ESC-00001", m.To[0].Email) || !strings.HasPrefix(m.ReplyTo, "escalations+ESC-00001") || m.InReplyTo == "" {
				t.Errorf("headers %v, Reply-To %q, In-Reply-To %q", m.Headers, m.ReplyTo, m.InReplyTo)
			}
			if !strings.Contains(m.Body, "/update ") || !strings.Contains(m.Body, "2026-11-28 18:05 UTC") {
				t.Errorf("body:\n%s", m.Body)
			}
			if line := trackingLine(t, e, id, "**Next Update Due**"); line != "**Next Update Due**: 2026-11-28 18:05 UTC (overdue)" {
				t.Errorf("tracking file: %q, want it to end with (overdue)", line)
			}
			if !timelineHas(t, e, id, "Update overdue since 2026-11-28 18:05 UTC; reminder sent to "+tc.to) {
				t.Error("timeline does not record the reminder")
			}
			// Once per due time, however often the timers run.
			for _, d := range []time.Duration{0, time.Minute, 3 * time.Hour} {
				c.t = t0.Add(4*time.Hour + time.Second + d)
				if n := runTimers(t, e); n != 0 {
					t.Fatalf("reminder fired again (%d) for the same due time", n)
				}
			}
			// /update sends the customer an update and starts the clock again.
			ingest(t, e, replyTo(c, id, staffAddr, "/update Replica promoted; we watch it."))
			if line := trackingLine(t, e, id, "**Next Update Due**"); strings.HasSuffix(line, "(overdue)") {
				t.Errorf("still overdue after /update: %q", line)
			}
			c.t = c.t.Add(4*time.Hour + time.Second)
			if n := runTimers(t, e); n != 1 {
				t.Errorf("next due time: %d fired, want 1", n)
			}
		})
	}
}

func TestUpdateResetsAndUpdateEveryChangesTheClock(t *testing.T) {
	e, c := newTestEngine(t, longSLA)
	upd, _ := openEsc(t, e, c, Technical)
	every, _ := openEsc(t, e, c, Technical)

	c.t = t0.Add(time.Hour)
	ingest(t, e, replyTo(c, every, staffAddr, "/update-every 2h"))
	c.t = t0.Add(3 * time.Hour)
	ingest(t, e, replyTo(c, upd, staffAddr, "/update Failover done, monitoring."))

	for _, step := range []struct {
		at   time.Duration
		want map[string]int
	}{
		{3*time.Hour + time.Second, map[string]int{"reminder tier2@example.com": 1}}, // /update-every 2h at +1h: due at +3h
		{4*time.Hour + time.Second, map[string]int{}},                                // the /update moved the other from +4h to +7h
		{7 * time.Hour, map[string]int{}},
		{7*time.Hour + time.Second, map[string]int{"reminder tier2@example.com": 1}},
	} {
		c.t = t0.Add(step.at)
		before := mailCount(t, e)
		runTimers(t, e)
		if got := diff(before, mailCount(t, e)); !maps.Equal(got, step.want) {
			t.Errorf("at +%v: mail %v, want %v", step.at, got, step.want)
		}
	}
	if s := snap(t, e, every); s.esc.UpdateEvery != 2*time.Hour {
		t.Errorf("update_every %v", s.esc.UpdateEvery)
	}
}

func longSLA(c *config.Config) {
	c.Escalation.SLA = config.SLA{Technical: 1000 * time.Hour, Executive: 1000 * time.Hour, Vendor: 1000 * time.Hour}
}

// TestBacklogStartsItsClocksWhenHandled: mail older than ack_max_age gets no
// acknowledgement, and its SLA and update clocks start when it is handled,
// not when it arrived (§7).
func TestBacklogStartsItsClocksWhenHandled(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	var backlog []int64
	for i := range 50 {
		in := inMail(c, fmt.Sprintf("old%d@backlog%d.test", i, i), "Old request", "Please escalate.")
		in.InternalDate = t0.Add(-72 * time.Hour)
		backlog = append(backlog, ingest(t, e, in).EscalationID)
	}
	// One that arrived five hours ago, within ack_max_age: its clocks run
	// from its arrival and are due at once.
	fresh := inMail(c, "new@recent.test", "Recent request", "Import fails.")
	fresh.InternalDate = t0.Add(-5 * time.Hour)
	freshID := ingest(t, e, fresh).EscalationID

	if n := len(queuedKind(t, e, "ack")); n != 1 {
		t.Fatalf("%d acknowledgements, want 1 (none for the backlog)", n)
	}
	if n := runTimers(t, e); n != 2 {
		t.Fatalf("at handling time %d timers fired, want 2 (SLA and reminder of the recent one)", n)
	}
	if s := snap(t, e, freshID); s.esc.Level != "Tier 3" {
		t.Errorf("recent one at %s, want Tier 3", s.esc.Level)
	}
	c.t = t0.Add(4 * time.Hour)
	if n := runTimers(t, e); n != 0 {
		t.Fatalf("backlog fired %d timers 4h after it was handled", n)
	}
	c.t = t0.Add(4*time.Hour + time.Minute)
	// Each of the backlog: SLA and reminder; the recent one: SLA at Tier 3.
	if n := runTimers(t, e); n != 2*len(backlog)+1 {
		t.Fatalf("%d timers fired, want %d (SLA and reminder of each)", n, 2*len(backlog)+1)
	}
	s := snap(t, e, backlog[0])
	if !s.esc.Opened.Equal(t0.Add(-72*time.Hour)) || s.esc.Level != "Tier 3" {
		t.Errorf("opened %v level %s", s.esc.Opened, s.esc.Level)
	}
}

// TestHandlingTheBacklogStartsTheClocks: a backlog escalation handled by
// staff (/ack) keeps the clocks that started when the daemon handled it.
func TestHandlingTheBacklogStartsTheClocks(t *testing.T) {
	e, c := newTestEngine(t, nil)
	in := inMail(c, "old@backlog.test", "Old request", "Please escalate.")
	in.InternalDate = t0.Add(-30 * 24 * time.Hour)
	id := ingest(t, e, in).EscalationID
	c.t = t0.Add(time.Hour)
	ingest(t, e, replyTo(c, id, staffAddr, "/ack"))
	if v, _ := e.View(context.Background(), id); v.SLAConsumed != 12 || v.Overdue {
		t.Errorf("SLA consumed %d%%, overdue %v; want 12%% of 8h since handling, not overdue", v.SLAConsumed, v.Overdue)
	}
	if n := runTimers(t, e); n != 0 {
		t.Errorf("%d fired", n)
	}
}

// openDiskEngine opens an engine over the store in dir, as a process of the
// daemon would on start-up.
func openDiskEngine(t testing.TB, cfg config.Config, c *clock) *Engine {
	t.Helper()
	st, err := OpenTestStore(cfg.Escalation.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(st, OptionsFrom(cfg).With(tmpl, c.now, nil))
	if err != nil {
		t.Fatal(err)
	}
	quiet(e)
	return e
}

// TestTimersAcrossARestart: the timers are computed from the store, so a new
// engine on the same data_dir loses none and fires none twice.
func TestTimersAcrossARestart(t *testing.T) {
	root := t.TempDir()
	cfg := config.Default()
	cfg.Escalation.Dir = filepath.Join(root, "escalations")
	cfg.Escalation.DataDir = filepath.Join(root, "data")
	c := &clock{t: t0}

	first := openDiskEngine(t, cfg, c)
	tech, _ := openEsc(t, first, c, Technical)
	exec, _ := openEsc(t, first, c, Executive)
	vend, _ := openEsc(t, first, c, Vendor)
	ingest(t, first, replyTo(c, exec, staffAddr, "/assign @bob"))
	start := mailCount(t, first)

	c.t = t0.Add(time.Hour)
	if n := runTimers(t, first); n != 0 {
		t.Fatalf("fired %d after an hour", n)
	}
	first.Store().Close() // the process ends; its timers were never due

	// Down over the due times: the new process fires what is owed.
	c.t = t0.Add(4*time.Hour + time.Minute)
	second := openDiskEngine(t, cfg, c)
	for i := range 3 {
		n := runTimers(t, second)
		if want := map[bool]int{true: 4, false: 0}[i == 0]; n != want {
			t.Fatalf("second process, run %d: %d fired, want %d", i+1, n, want)
		}
	}
	owed := map[string]int{
		"notify tier3@example.com":        1, // Technical SLA at risk: up to Tier 3
		"reminder tier3@example.com":      1, // Technical update overdue: Tier 3 roster (no owner)
		"reminder bob@example.com":        1, // Executive: the owner
		"reminder vendor-mgr@example.com": 1,
	}
	if got := diff(start, mailCount(t, second)); !maps.Equal(got, owed) {
		t.Fatalf("after the restart: %v, want %v", got, owed)
	}
	second.Store().Close()

	// The same clock again in a third process: nothing fires twice.
	third := openDiskEngine(t, cfg, c)
	for range 3 {
		if n := runTimers(t, third); n != 0 {
			t.Fatalf("third process at the same time fired %d", n)
		}
	}
	// Later: the next due times, once each, across more restarts.
	for _, step := range []struct {
		at   time.Duration
		want map[string]int
	}{
		{8*time.Hour + time.Minute, map[string]int{}}, // Tier 3 since +4h01: exactly half
		{8*time.Hour + 2*time.Minute, map[string]int{"notify vendor-mgr@example.com": 1}},
		{12*time.Hour + time.Minute, map[string]int{"alert lead@example.com": 1, "alert vendor-mgr@example.com": 1}},
		{12*time.Hour + 3*time.Minute, map[string]int{"alert vendor-mgr@example.com": 1}}, // Technical at the top
		{24 * time.Hour, map[string]int{}},
	} {
		c.t = t0.Add(step.at)
		for range 2 {
			e := openDiskEngine(t, cfg, c)
			before := mailCount(t, e)
			runTimers(t, e)
			runTimers(t, e)
			got := diff(before, mailCount(t, e))
			if !maps.Equal(got, step.want) {
				t.Errorf("at +%v: %v, want %v", step.at, got, step.want)
			}
			step.want = map[string]int{} // the second process at the same time: nothing
			e.Store().Close()
		}
	}
	final := openDiskEngine(t, cfg, c)
	for id, level := range map[int64]string{tech: "Vendor", exec: "Team Lead", vend: "Case opened"} {
		if s := snap(t, final, id); s.esc.Level != level {
			t.Errorf("%s at %s, want %s", FormatTag("ESC", id), s.esc.Level, level)
		}
	}
}
