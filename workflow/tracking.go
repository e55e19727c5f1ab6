package workflow

import (
	"bytes"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// noneYet is the line of a section with nothing in it yet (§9).
const noneYet = "_None yet._"

// FormatTag formats an escalation id with its prefix: FormatTag("ESC", 42) is
// "ESC-00042". The number has at least five digits, zero-padded, and more
// when it is larger.
func FormatTag(prefix string, id int64) string {
	return fmt.Sprintf("%s-%05d", prefix, id)
}

// RenderTracking renders the tracking file of §9 for v, with every time
// written in loc (nil means UTC). A nil v renders as an empty View. Untrusted
// text is escaped with EscapeInline and EscapeBlock. The result ends with a
// single newline.
func RenderTracking(v *View, loc *time.Location) []byte {
	if v == nil {
		v = &View{}
	}
	if loc == nil {
		loc = time.UTC
	}
	r := &renderer{loc: loc}
	r.b.Grow(sizeHint(v))
	r.header(v)
	r.classification(v.Reasons)
	r.timeline(v.Timeline, v.timelineText)
	r.checklist(v.Checklist)
	r.actions(v.Actions)
	r.log(v.Log, v.logText)
	r.plan(v.Plan)
	return r.b.Bytes()
}

// sizeHint guesses the length of v's file, so that a long one is built
// without copying it over and over as it grows.
func sizeHint(v *View) int {
	n := 4096 + len(v.timelineText) + len(v.logText) + 96*len(v.Timeline) + 96*len(v.Actions)
	for _, e := range v.Log {
		n += 256 + len(e.Text) + len(e.Text)/8
	}
	return n
}

type renderer struct {
	b   bytes.Buffer
	loc *time.Location
}

func (r *renderer) line(parts ...string) {
	for _, p := range parts {
		r.b.WriteString(p)
	}
	r.b.WriteByte('\n')
}

// section starts "## name", after a blank line.
func (r *renderer) section(name string) {
	r.line()
	r.line("## ", name)
}

func (r *renderer) header(v *View) {
	customer := v.CustomerName
	if customer == "" {
		customer = v.CustomerEmail
	}
	r.line("# Escalation Tracking: ", orText(EscapeInline(customer), "unknown customer"),
		" — ", orText(EscapeInline(v.Subject), "(no subject)"))
	r.line()

	tag := v.Tag
	if tag == "" {
		tag = FormatTag("ESC", v.ID)
	}
	r.line("**ID**: ", EscapeInline(tag))
	r.line("**Type**: ", orText(EscapeInline(string(v.Type)), "unknown"))
	r.line("**Level**: ", orText(EscapeInline(v.Level), "unknown"))
	r.line("**Status**: ", orText(EscapeInline(string(v.Status)), "unknown"))
	r.line("**Customer**: ", orText(customerLine(v.CustomerName, v.CustomerEmail), "unknown"))
	r.line("**Owner**: ", orText(EscapeInline(v.Owner), "unassigned"))
	opened := "unknown"
	if !v.Opened.IsZero() {
		opened = r.stamp(v.Opened)
	}
	r.line("**Opened**: ", opened)
	due := "none"
	if !v.NextUpdateDue.IsZero() {
		due = r.stamp(v.NextUpdateDue)
		if v.Overdue {
			due += " (overdue)"
		}
	}
	r.line("**Next Update Due**: ", due)
	sla := "none"
	if v.SLA > 0 {
		sla = strconv.Itoa(max(v.SLAConsumed, 0)) + "% of " + compactDuration(v.SLA)
	}
	r.line("**SLA Consumed**: ", sla)
}

// customerLine writes "Name (address)", or only one of them when the name is
// missing or is the address.
func customerLine(name, email string) string {
	switch {
	case name == "" || strings.EqualFold(strings.TrimSpace(name), strings.TrimSpace(email)):
		return EscapeInline(email)
	case email == "":
		return EscapeInline(name)
	}
	return EscapeInline(name) + " (" + EscapeInline(email) + ")"
}

func (r *renderer) classification(reasons []string) {
	r.section("Classification")
	r.bullets(reasons)
}

// bullets writes one "- " item per non-empty line of items, or noneYet.
func (r *renderer) bullets(items []string) {
	n := 0
	for _, it := range items {
		if e := EscapeInline(it); e != "" {
			r.line("- ", e)
			n++
		}
	}
	if n == 0 {
		r.line(noneYet)
	}
}

// timeline writes the Timeline section: text when it is set (rendered
// before), else entries.
func (r *renderer) timeline(entries []TimelineEntry, text []byte) {
	r.section("Timeline")
	if text == nil && len(entries) > 0 {
		text, _ = appendTimeline(nil, "", entries, r.loc)
	}
	if len(text) == 0 {
		r.line(noneYet)
		return
	}
	r.b.Write(text)
}

// appendTimeline appends the lines of entries to b, a timeline body whose
// last day heading is day, and returns it with the day of its last line.
// A new day gets a heading, after a blank line when b is not empty.
func appendTimeline(b []byte, day string, entries []TimelineEntry, loc *time.Location) ([]byte, string) {
	for _, e := range entries {
		at := e.At.In(loc)
		if d := at.Format("2006-01-02"); len(b) == 0 || d != day {
			if len(b) > 0 {
				b = append(b, '\n')
			}
			b = append(b, "### "...)
			b = append(b, d...)
			b = append(b, '\n')
			day = d
		}
		text := e.Text
		if e.Actor != "" && !strings.Contains(strings.ToLower(text), strings.ToLower(e.Actor)) {
			text += " (by " + e.Actor + ")"
		}
		b = append(b, '[')
		b = at.AppendFormat(b, "15:04")
		b = append(b, "] - "...)
		b = append(b, orText(EscapeInline(text), "(no text)")...)
		b = append(b, '\n')
	}
	return b, day
}

func (r *renderer) checklist(ticked [7]bool) {
	r.section("Handoff Checklist")
	for i, item := range ChecklistItems {
		r.line(strconv.Itoa(i+1), ". ", box(ticked[i]), " ", item)
	}
}

func (r *renderer) actions(actions []Action) {
	r.section("Actions & Owners")
	if len(actions) == 0 {
		r.line(noneYet)
		return
	}
	for i, a := range actions {
		r.line(strconv.Itoa(i+1), ". ", box(a.Done), " ", orText(EscapeInline(a.Text), "(no text)"),
			" - ", orText(EscapeInline(a.Owner), "unassigned"))
	}
}

func box(done bool) string {
	if done {
		return "[x]"
	}
	return "[ ]"
}

// log writes the communication log. Each entry:
//
//	### 2026-11-28 14:05 UTC — received from Jane Doe &lt;jane@acme.test&gt;
//	**Subject**: Database outage
//	_note, if any_
//
//	> body line
//
//	**Attachments**: [report.pdf](ESC-00042/report.pdf) (12.0 KiB)
//
// Outbound entries say "sent to" and list the recipients.
func (r *renderer) log(entries []LogEntry, text []byte) {
	r.section("Communication Log")
	if text == nil && len(entries) > 0 {
		text = appendLog(nil, entries, r.loc)
	}
	if len(text) == 0 {
		r.line(noneYet)
		return
	}
	r.b.Write(text)
}

// appendLog appends the entries to b, a communication log body, each after
// a blank line when b is not empty.
func appendLog(b []byte, entries []LogEntry, loc *time.Location) []byte {
	for _, e := range entries {
		if len(b) > 0 {
			b = append(b, '\n')
		}
		b = append(b, renderLogEntry(e, loc)...)
	}
	return b
}

// renderLogEntry writes one entry of the communication log, each of its
// lines ended by a newline.
func renderLogEntry(e LogEntry, loc *time.Location) string {
	r := &renderer{loc: loc}
	var who string
	if e.Inbound {
		who = "received from " + orText(addressText(e.From), "unknown sender")
	} else {
		to := make([]string, 0, len(e.To))
		for _, a := range e.To {
			if s := addressText(a); s != "" {
				to = append(to, s)
			}
		}
		who = "sent to " + orText(strings.Join(to, ", "), "no recipients")
	}
	r.line("### ", r.stamp(e.At), " — ", who)
	r.line("**Subject**: ", orText(EscapeInline(e.Subject), "(no subject)"))
	if note := EscapeInline(e.Note); note != "" {
		r.line("_", note, "_")
	}
	switch {
	case strings.TrimSpace(e.Text) != "":
		r.line()
		r.line(EscapeBlock(trimBlankLines(e.Text)))
	case e.Inbound:
		r.line()
		r.line("> _(no text)_")
	}
	// Mail the daemon sent to staff is logged without its text: it only
	// repeats what this file shows.
	if len(e.Attachments) > 0 {
		r.line()
		links := make([]string, len(e.Attachments))
		for j, a := range e.Attachments {
			links[j] = attachmentLink(a)
		}
		r.line("**Attachments**: ", strings.Join(links, ", "))
	}
	return r.b.String()
}

// addressText writes "Name &lt;address&gt;", or the address alone when the
// name is missing or is the address.
func addressText(a Address) string {
	if a.Name == "" || strings.EqualFold(strings.TrimSpace(a.Name), strings.TrimSpace(a.Email)) {
		return EscapeInline(a.Email)
	}
	if a.Email == "" {
		return EscapeInline(a.Name)
	}
	return EscapeInline(a.Name) + " &lt;" + EscapeInline(a.Email) + "&gt;"
}

// attachmentLink writes "[name](rel/path) (size)". Without a RelPath the name
// is written without a link.
func attachmentLink(a LoggedAttachment) string {
	name := a.Name
	if name == "" {
		name = path.Base(a.RelPath)
	}
	text := orText(EscapeInline(name), "attachment")
	size := " (" + byteSize(a.Size) + ")"
	if a.RelPath == "" {
		return text + size
	}
	return "[" + text + "](" + linkTarget(a.RelPath) + ")" + size
}

// trimBlankLines drops blank lines at the start and end of a body, keeping
// the lines in between as they are.
func trimBlankLines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func (r *renderer) plan(lines []string) {
	r.section("Resolution Plan")
	r.bullets(lines)
}

// FormatTime writes t in loc as people read it in the tracking file, in mail
// and in "escalationd inspect": "2026-11-28 18:05 UTC".
func FormatTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04 MST")
}

// stamp writes t as FormatTime does in the renderer's location.
func (r *renderer) stamp(t time.Time) string {
	return FormatTime(t, r.loc)
}

func orText(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// compactDuration writes d the short way: "8h", "24h", "45m", "1h30m",
// "1h30m15s" (units that are zero are left out).
func compactDuration(d time.Duration) string {
	if d <= 0 {
		return "0m"
	}
	d = d.Round(time.Second)
	h, m, s := d/time.Hour, (d%time.Hour)/time.Minute, (d%time.Minute)/time.Second
	var b strings.Builder
	if h > 0 {
		fmt.Fprintf(&b, "%dh", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if s > 0 || b.Len() == 0 {
		fmt.Fprintf(&b, "%ds", s)
	}
	return b.String()
}

// byteSize writes n bytes for people: "300 B", "12.0 KiB", "1.5 MiB".
func byteSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(max(n, 0), 10) + " B"
	}
	f := float64(n) / 1024
	for _, unit := range []string{"KiB", "MiB", "GiB"} {
		if f < 1024 {
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
		}
		f /= 1024
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " TiB"
}
