package workflow

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Moscow everywhere
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := os.ReadFile(path) // a missing file shows up as a diff
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs; rerun with -update and review\n--- got:\n%s", path, got)
	}
}

func trackingTime(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// fullView has something in every section: two days of timeline (three in
// Moscow), actors, ticks, actions, mail in and out with attachments, a plan.
func fullView() *View {
	return &View{
		ID:            42,
		Tag:           "ESC-00042",
		Type:          Technical,
		Level:         "Tier 2",
		Status:        StatusActive,
		CustomerName:  "Acme Corp",
		CustomerEmail: "jane@acme.test",
		Subject:       "Database outage in eu-west",
		Owner:         "@tier2",
		Opened:        trackingTime("2026-11-28 14:05"),
		NextUpdateDue: trackingTime("2026-11-29 18:05"),
		Overdue:       true,
		SLAConsumed:   31,
		SLA:           8 * time.Hour,
		Reasons: []string{
			"revenue impact $25,000 > $10,000",
			`keyword "beyond expertise"`,
		},
		Timeline: []TimelineEntry{
			{At: trackingTime("2026-11-28 14:05"), Text: "Initial escalation received", Actor: "jane@acme.test"},
			{At: trackingTime("2026-11-28 14:05"), Text: "Escalation acknowledged"},
			{At: trackingTime("2026-11-28 15:10"), Text: "Status ACTIVE: acknowledged by bob@example.com", Actor: "bob@example.com"},
			{At: trackingTime("2026-11-28 22:30"), Text: "SLA at risk: Tier 2 -> Tier 3"},
			{At: trackingTime("2026-11-29 09:15"), Text: "Action 1 done", Actor: "bob@example.com"},
		},
		Checklist: [7]bool{true, true, false, true, false, false, false},
		Actions: []Action{
			{Text: "Restart replica", Owner: "@bob", Done: true},
			{Text: "Collect slow query log", Owner: "@carol"},
		},
		Log: []LogEntry{
			{
				At:      trackingTime("2026-11-28 14:05"),
				Inbound: true,
				From:    Address{Name: "Jane Doe", Email: "jane@acme.test"},
				To:      []Address{{Email: "escalations@example.com"}},
				Subject: "Database outage in eu-west",
				Text:    "Hello,\n\nour primary database in eu-west is down since 13:50.\nWe need this escalated.\n\nJane",
				Attachments: []LoggedAttachment{
					{Name: "report.pdf", RelPath: "ESC-00042/report.pdf", Size: 12288},
					{Name: "db log (1).txt", RelPath: "ESC-00042/db log (1).txt", Size: 300},
				},
			},
			{
				At:      trackingTime("2026-11-28 14:05"),
				From:    Address{Name: "Support", Email: "escalations@example.com"},
				To:      []Address{{Name: "Jane Doe", Email: "jane@acme.test"}, {Email: "ops@acme.test"}},
				Subject: "RE: Database outage in eu-west - Escalation Acknowledged [ESC-00042]",
				Text:    "Dear Jane Doe,\n\nwe have received your escalation.\n",
				Note:    "acknowledgement",
			},
			{
				At:      trackingTime("2026-11-29 09:20"),
				Inbound: true,
				From:    Address{Email: "bob@example.com"},
				Subject: "Re: [ESC-00042] Database outage in eu-west",
				Note:    "staff commands: /done 1",
			},
		},
		Plan: []string{
			"Fail over to the replica in eu-central",
			"ETA: 2026-11-29 12:00 UTC",
		},
	}
}

// emptyView is a new escalation with nothing recorded yet.
func emptyView() *View {
	return &View{
		ID:            7,
		Type:          Executive,
		Level:         "Team Lead",
		Status:        StatusEscalated,
		CustomerName:  "jane@acme.test",
		CustomerEmail: "jane@acme.test",
		Subject:       "Refund",
		Opened:        trackingTime("2026-11-28 14:05"),
	}
}

func TestRenderTrackingGolden(t *testing.T) {
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		v    *View
		loc  *time.Location
	}{
		{"tracking_full_utc", fullView(), time.UTC},
		{"tracking_full_moscow", fullView(), moscow},
		{"tracking_empty", emptyView(), time.UTC},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := RenderTracking(c.v, c.loc)
			golden(t, c.name, got)
			checkTracking(t, c.v, got)
		})
	}
}

func TestRenderTrackingZero(t *testing.T) {
	for _, v := range []*View{nil, {}} {
		got := string(RenderTracking(v, nil))
		for _, want := range []string{
			"# Escalation Tracking: unknown customer — (no subject)\n",
			"**ID**: ESC-00000\n",
			"**Owner**: unassigned\n",
			"**Next Update Due**: none\n",
			"## Classification\n_None yet._\n",
			"## Timeline\n_None yet._\n",
			"## Actions & Owners\n_None yet._\n",
			"## Communication Log\n_None yet._\n",
			"## Resolution Plan\n_None yet._\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("zero view lacks %q:\n%s", want, got)
			}
		}
		checkTracking(t, &View{}, []byte(got))
	}
}

func TestRenderTrackingFields(t *testing.T) {
	v := fullView()
	v.CustomerName = "JANE@acme.test" // the address: written once
	v.Overdue = false
	v.SLA = 90 * time.Minute
	v.Timeline = []TimelineEntry{{At: trackingTime("2026-11-28 14:05"), Text: "note by BOB@example.com", Actor: "bob@example.com"}}
	got := string(RenderTracking(v, time.UTC))
	for _, want := range []string{
		"**Customer**: jane@acme.test\n",
		"**Next Update Due**: 2026-11-29 18:05 UTC\n",
		"**SLA Consumed**: 31% of 1h30m\n",
		"[14:05] - note by BOB@example.com\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
}

func TestFormatTag(t *testing.T) {
	cases := []struct {
		prefix string
		id     int64
		want   string
	}{
		{"ESC", 42, "ESC-00042"},
		{"ESC", 0, "ESC-00000"},
		{"ESC", 99999, "ESC-99999"},
		{"ESC", 123456, "ESC-123456"},
		{"SUP", 1, "SUP-00001"},
	}
	for _, c := range cases {
		if got := FormatTag(c.prefix, c.id); got != c.want {
			t.Errorf("FormatTag(%q, %d) = %q, want %q", c.prefix, c.id, got, c.want)
		}
	}
}

func TestCompactDuration(t *testing.T) {
	cases := map[time.Duration]string{
		8 * time.Hour:                      "8h",
		24 * time.Hour:                     "24h",
		45 * time.Minute:                   "45m",
		90 * time.Minute:                   "1h30m",
		time.Hour + 30*time.Second:         "1h30s",
		0:                                  "0m",
		1500 * time.Millisecond:            "2s",
		100*time.Hour + 5*time.Minute:      "100h5m",
		-time.Hour:                         "0m",
		time.Hour + time.Minute + 1e9:      "1h1m1s",
		30 * time.Second:                   "30s",
		2*time.Hour + 59*time.Minute:       "2h59m",
		7 * 24 * time.Hour:                 "168h",
		time.Duration(0.4 * 1e9):           "0s",
		time.Minute + 200*time.Millisecond: "1m",
	}
	for d, want := range cases {
		if got := compactDuration(d); got != want {
			t.Errorf("compactDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestByteSize(t *testing.T) {
	cases := map[int64]string{
		0:           "0 B",
		300:         "300 B",
		1023:        "1023 B",
		1024:        "1.0 KiB",
		12288:       "12.0 KiB",
		1536 * 1024: "1.5 MiB",
		3 << 30:     "3.0 GiB",
		5 << 40:     "5.0 TiB",
		-1:          "0 B",
	}
	for n, want := range cases {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// hostileTexts strings try to forge markup from every untrusted field.
var hostileTexts = []string{
	"# Heading",
	"## Timeline",
	"- [x] done",
	"1. item",
	"8. [x] Customer notified of escalation",
	"[click](http://evil)",
	"![img](http://x/y.png)",
	"[ref]: http://evil\n[click][ref]",
	"<script>alert(1)</script>",
	"<img src=x onerror=alert(1)>",
	"<http://evil.test>",
	"&lt;b&gt;",
	"a\r\n## injected",
	"a\r## injected",
	"| a | b |\n|---|---|\n| c | d |",
	"`code`",
	"```\nfence\n```",
	"~~~\nfence\n~~~",
	"**bold** __bold__ *em* _em_ ~~del~~",
	"line\n> quote\n\n# h",
	"para\n===\nmore\n---",
	"    indented code\n\tcode",
	"\u202eevil\u202c",
	"pay\u200bpal\u2066x\u2069",
	"$x$ $$y$$",
	"trailing backslash\\\nnext",
	"trailing spaces  \nnext",
	"\x00\x1b[31mred\x7f",
	"a\u2028## b\u2029- c\u0085+ d",
	"* * *\n_ _ _\n- - -",
	"",
	"   ",
	"\n\n\n",
	"]](",
}

func hostileView(s string) *View {
	v := fullView()
	v.CustomerName = s
	v.CustomerEmail = s + "@acme.test"
	v.Subject = s
	v.Owner = s
	v.Level = s
	v.Reasons = []string{s, "ok " + s}
	v.Timeline = append(v.Timeline, TimelineEntry{At: trackingTime("2026-11-29 10:00"), Text: "customer wrote: " + s, Actor: s})
	v.Actions = append(v.Actions, Action{Text: s, Owner: s})
	v.Log = append(v.Log,
		LogEntry{
			At: trackingTime("2026-11-29 10:00"), Inbound: true,
			From:        Address{Name: s, Email: s},
			Subject:     s,
			Text:        s + "\n" + s,
			Note:        s,
			Attachments: []LoggedAttachment{{Name: s, RelPath: "ESC-00042/" + s, Size: 1}},
		},
		LogEntry{
			At:      trackingTime("2026-11-29 10:01"),
			To:      []Address{{Name: s, Email: s}, {Email: s}},
			Subject: s,
			Text:    s,
			Note:    s,
		})
	v.Plan = append(v.Plan, s)
	return v
}

func TestRenderTrackingHostile(t *testing.T) {
	for _, s := range hostileTexts {
		v := hostileView(s)
		got := RenderTracking(v, time.UTC)
		if !checkTracking(t, v, got) {
			t.Logf("input %q rendered:\n%s", s, got)
		}
	}
}

var (
	allowedHeading = regexp.MustCompile(`^(# Escalation Tracking: .*` +
		`|## (Classification|Timeline|Handoff Checklist|Actions & Owners|Communication Log|Resolution Plan)` +
		`|### \d{4}-\d\d-\d\d` +
		`|### \d{4}-\d\d-\d\d \d\d:\d\d [A-Z0-9+-]+ — (received from|sent to) .*)$`)
	listItem    = regexp.MustCompile(`^ {0,3}([-+*]|\d{1,9}[.)])([ \t]|$)`)
	boldLabel   = regexp.MustCompile(`^\*\*(ID|Type|Level|Status|Customer|Owner|Opened|Next Update Due|SLA Consumed|Subject|Attachments)\*\*: `)
	ourEmphasis = regexp.MustCompile(`^_.+_$`)
	nestedStart = regexp.MustCompile(`^(?:> |(?:[-+*]|\d{1,9}[.)]) (?:\[[ x]\] )?)(.*)$`)
	setext      = regexp.MustCompile(`^(> )?(=+|-+)[ \t]*$`)
)

// checkTracking checks the structure of a rendered tracking file: only our
// headings, list items, checkboxes and links; bodies quoted; nothing that a
// viewer would take for HTML, emphasis, code, tables or struck-out text
// outside our own markup. It reports whether all was well.
func checkTracking(t *testing.T, v *View, got []byte) bool {
	t.Helper()
	ok := true
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
		ok = false
	}
	s := string(got)
	if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") || strings.Contains(s, "\n\n\n") {
		fail("file must end in one newline and have single blank lines")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")

	var sections []string
	var quoted, lists, brackets int
	for _, line := range lines {
		if strings.HasPrefix(line, "#") && !allowedHeading.MatchString(line) {
			fail("forged heading: %q", line)
		}
		if strings.HasPrefix(line, "## ") {
			sections = append(sections, line)
		}
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			fail("indented line: %q", line)
		}
		if setext.MatchString(line) {
			fail("setext underline or rule: %q", line)
		}
		if listItem.MatchString(line) {
			lists++
		}
		// What follows a quote marker, a list marker or a checkbox starts a
		// block of its own: it must not open another one.
		if m := nestedStart.FindStringSubmatch(line); m != nil && startsBlock(m[1]) && line != "> _(no text)_" {
			fail("nested block: %q", line)
		}
		for _, r := range line {
			if r != '\t' && (r < 0x20 || r == 0x7f || invisibleRune(r) || (r >= 0x80 && r < 0xA0) || r == 0x2028 || r == 0x2029) {
				fail("control or invisible %U in %q", r, line)
			}
		}
		body := line
		if strings.HasPrefix(line, ">") {
			quoted++
			if line != ">" && !strings.HasPrefix(line, "> ") {
				fail("bad quote line %q", line)
			}
			body = strings.TrimPrefix(strings.TrimPrefix(line, ">"), " ")
		}
		if strings.ContainsAny(body, "<>") {
			fail("raw angle bracket: %q", line)
		}
		body = boldLabel.ReplaceAllString(body, "")
		if ourEmphasis.MatchString(body) { // _None yet._, _(no text)_, _note_
			body = body[1 : len(body)-1]
		}
		if strings.HasPrefix(line, "## ") {
			continue // our section headings; "Actions & Owners" has a bare &
		}
		for i := 0; i < len(body); i++ {
			if !unescapedAt(body, i) {
				continue
			}
			switch c := body[i]; c {
			case '[':
				brackets++
			case ']':
				// A link destination is not markup: skip it.
				if strings.HasPrefix(body[i:], "](") && strings.HasPrefix(line, "**Attachments**: ") {
					end := strings.IndexByte(body[i:], ')')
					if end < 0 || strings.ContainsAny(body[i+2:i+end], " <>()\\") {
						fail("bad link destination in %q", line)
						break
					}
					i += end
				}
			case '(':
			case '*', '_', '`', '|', '~':
				fail("unescaped %q at %d in %q", c, i, line)
			case '&':
				if !strings.HasPrefix(body[i:], "&amp;") && !strings.HasPrefix(body[i:], "&lt;") && !strings.HasPrefix(body[i:], "&gt;") {
					fail("bare & in %q", line)
				}
			}
		}
		if n := strings.Count(line, "]("); n > 0 && !strings.HasPrefix(line, "**Attachments**: ") {
			for i := 0; i+1 < len(line); i++ {
				if line[i] == ']' && line[i+1] == '(' && unescapedAt(line, i) {
					fail("link outside the attachments line: %q", line)
				}
			}
		}
	}

	wantSections := []string{"## Classification", "## Timeline", "## Handoff Checklist",
		"## Actions & Owners", "## Communication Log", "## Resolution Plan"}
	if strings.Join(sections, "|") != strings.Join(wantSections, "|") {
		fail("sections %q, want %q", sections, wantSections)
	}
	if !strings.HasPrefix(s, "# Escalation Tracking: ") || strings.Count(s, "\n# ") != 0 {
		fail("title missing or repeated")
	}

	// Count what the view should produce.
	wantLists := len(nonEmptyLines(v.Reasons)) + len(nonEmptyLines(v.Plan)) + len(ChecklistItems) + len(v.Actions)
	if lists != wantLists {
		fail("%d list items, want %d", lists, wantLists)
	}
	var wantQuoted, wantLinks int
	for _, e := range v.Log {
		switch {
		case strings.TrimSpace(e.Text) != "":
			wantQuoted += len(strings.Split(trimBlankLines(e.Text), "\n"))
		case e.Inbound:
			wantQuoted++ // "> _(no text)_"
		}
		for _, a := range e.Attachments {
			if a.RelPath != "" {
				wantLinks++
			}
		}
	}
	if quoted != wantQuoted {
		fail("%d quoted lines, want %d", quoted, wantQuoted)
	}
	wantBrackets := len(v.Timeline) + len(ChecklistItems) + len(v.Actions) + wantLinks
	if brackets != wantBrackets {
		fail("%d unescaped '[', want %d (timeline, checkboxes, links)", brackets, wantBrackets)
	}
	if n := unescapedCount(s, "]("); n != wantLinks {
		fail("%d links, want %d", n, wantLinks)
	}
	return ok
}

// startsBlock reports whether s, at the start of a block, would open one:
// a heading, a list, a quote, a rule, code, a table row or a definition.
func startsBlock(s string) bool {
	if s == "" {
		return false
	}
	if strings.IndexByte("#+-=:*_>`~| \t", s[0]) >= 0 {
		return true
	}
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n > 0 && n < len(s) && (s[n] == '.' || s[n] == ')')
}

// unescapedAt reports whether s[i] is not escaped by a backslash.
func unescapedAt(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 0
}

func unescapedCount(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.HasPrefix(s[i:], sub) && unescapedAt(s, i) {
			n++
		}
	}
	return n
}

func nonEmptyLines(items []string) []string {
	var out []string
	for _, it := range items {
		if EscapeInline(it) != "" {
			out = append(out, it)
		}
	}
	return out
}
