package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// The attacks of the trust review (§11), each against the engine.

// forged is mail from a staff address that nothing authenticates: no
// Authentication-Results, sent to the plain escalation address.
func forged(c *clock, id int64, from, text string) *Inbound {
	in := replyTo(c, id, from, text)
	in.AuthResults = nil
	return in
}

// keyed is mail from from to the reply address the daemon made for from.
func keyed(e *Engine, c *clock, id int64, from, text string) *Inbound {
	in := forged(c, id, from, text)
	in.Subject = "Re: something else entirely" // the key alone must route it
	in.To = []Address{{Email: e.replyAddress(e.Tag(id), from)}}
	return in
}

func snapHas(s snapshot, part string) bool {
	for _, te := range s.timeline {
		if strings.Contains(te.Text, part) {
			return true
		}
	}
	return false
}

func TestForgedStaffCommandsChangeNothing(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	id, _ := openEsc(t, e, c, Technical)
	before := snap(t, e, id)
	ingest(t, e, forged(c, id, "lead@example.com", "/resolve done\n/type executive\n/vendor AWS case 123\n/update pay here: http://evil.test"))
	after := snap(t, e, id)
	if after.esc.Status != StatusEscalated || after.esc.Type != Technical || after.esc.Vendor != "" {
		t.Fatalf("forged commands changed the escalation: %s %s vendor %q", after.esc.Status, after.esc.Type, after.esc.Vendor)
	}
	mail := added(before, after)
	if len(mail) != 1 || mail[0].Kind != "error" || mail[0].To[0].Email != "lead@example.com" {
		t.Fatalf("mail %v, want one notice to lead@example.com", kinds(mail))
	}
	n := mail[0]
	if want := e.replyAddress(e.Tag(id), "lead@example.com"); n.ReplyTo != want || !strings.Contains(want, "+ESC-00001.") {
		t.Errorf("notice Reply-To %q, want the keyed %q", n.ReplyTo, want)
	}
	for _, want := range []string{"/resolve done", "/type executive", "/vendor AWS case 123", "were not applied"} {
		if !strings.Contains(n.Body, want) {
			t.Errorf("notice lacks %q:\n%s", want, n.Body)
		}
	}
	if n.Headers[0] != [2]string{"Auto-Submitted", "auto-generated"} {
		t.Errorf("notice headers %v", n.Headers)
	}
	if !snapHas(after, "4 command(s) from lead@example.com not applied: mail not authenticated") {
		t.Errorf("timeline %v", after.timeline)
	}

	// A second forged mail within the hour: no second notice.
	ingest(t, e, forged(c, id, "lead@example.com", "/resolve"))
	if got := kindsOf(snap(t, e, id).outbox, "error"); len(got) != 1 {
		t.Errorf("%d notices within the hour, want 1", len(got))
	}
	c.t = c.t.Add(61 * time.Minute)
	ingest(t, e, forged(c, id, "lead@example.com", "/resolve"))
	if got := kindsOf(snap(t, e, id).outbox, "error"); len(got) != 2 {
		t.Errorf("%d notices after an hour, want 2", len(got))
	}
}

func TestReplyKeyRoundTrip(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	id, _ := openEsc(t, e, c, Technical)
	ingest(t, e, forged(c, id, "lead@example.com", "/assign @lead"))
	if s := snap(t, e, id); s.esc.Owner != "" {
		t.Fatalf("owner %q after a forged /assign", s.esc.Owner)
	}
	// A bare reply to the notice, the commands only in the quote: nothing.
	bare := keyed(e, c, id, "lead@example.com", "Thanks.\n\nOn Mon, escalations wrote:\n> /assign @lead")
	ingest(t, e, bare)
	if s := snap(t, e, id); s.esc.Owner != "" {
		t.Fatalf("owner %q after a bare reply", s.esc.Owner)
	}
	// The commands again, above the quote: applied, and the reply counts
	// as a staff reply.
	ingest(t, e, keyed(e, c, id, "lead@example.com", "/assign @lead\n/ack\n\n> /assign @lead"))
	s := snap(t, e, id)
	if s.esc.Owner != "@lead" || s.esc.Status != StatusActive {
		t.Fatalf("after the keyed reply: owner %q status %s, want @lead ACTIVE", s.esc.Owner, s.esc.Status)
	}
}

func TestReplyKeyIsBoundToEscalationAndSender(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	id1, _ := openEsc(t, e, c, Technical)
	id2, _ := openEsc(t, e, c, Technical)

	// lead's key of ESC-1, used to command ESC-2 by its tag.
	in := forged(c, id2, "lead@example.com", "/resolve")
	in.To = []Address{{Email: e.replyAddress(e.Tag(id1), "lead@example.com")}}
	ingest(t, e, in)
	// lead's key of ESC-2, with another staff member's From.
	in = keyed(e, c, id2, "lead@example.com", "/resolve")
	in.From = Address{Email: "manager@example.com"}
	ingest(t, e, in)
	// A made-up key.
	in = forged(c, id2, "lead@example.com", "/resolve")
	in.To = []Address{{Email: "escalations+" + e.Tag(id2) + ".aaaaaaaaaaaa@example.com"}}
	ingest(t, e, in)
	for _, id := range []int64{id1, id2} {
		if s := snap(t, e, id); s.esc.Status == StatusResolved {
			t.Errorf("%s resolved by a key made for another escalation or sender", e.Tag(id))
		}
	}
	// The right key, delivered by Delivered-To only (Bcc): applied.
	in = forged(c, id2, "lead@example.com", "/resolve")
	in.DeliveredTo = []string{e.replyAddress(e.Tag(id2), "LEAD@example.com")}
	ingest(t, e, in)
	if s := snap(t, e, id2); s.esc.Status != StatusResolved {
		t.Errorf("%s not resolved by its own key: %s", e.Tag(id2), s.esc.Status)
	}
}

func TestReplyKeySecretRotation(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "secret")
	if err := os.WriteFile(file, []byte("first secret, long enough\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := OpenTestStore("")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	k1, err := loadReplyKeys(ctx, st, file, t0)
	if err != nil {
		t.Fatal(err)
	}
	old := k1.key("ESC-00001", "lead@example.com")
	if again, _ := loadReplyKeys(ctx, st, file, t0.Add(time.Hour)); again.key("ESC-00001", "lead@example.com") != old {
		t.Fatal("the same secret file gave another key")
	}
	if err := os.WriteFile(file, []byte("second secret, long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	k2, err := loadReplyKeys(ctx, st, file, t0.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k2.key("ESC-00001", "lead@example.com") == old {
		t.Fatal("a new secret made the old key")
	}
	if !k2.valid(old, "ESC-00001", "lead@example.com") {
		t.Error("a key of the previous secret is refused right after the rotation")
	}
	k3, err := loadReplyKeys(ctx, st, file, t0.Add(2*time.Hour+8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if k3.valid(old, "ESC-00001", "lead@example.com") {
		t.Error("a key of the previous secret still valid 8 days after the rotation")
	}
	if err := os.WriteFile(file, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadReplyKeys(ctx, st, file, t0); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a 5-byte secret: %v", err)
	}
}

func TestStaffMailGoesOutOnePerRecipient(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) {
		c.Roster.Technical["tier 2"] = []config.Contact{{Email: "t2@example.com"}, {Email: "dana@example.com"}, {Email: "contractor@partner.test"}}
	})
	id, _ := openEsc(t, e, c, Technical)
	notes := kindsOf(snap(t, e, id).outbox, "notify")
	if len(notes) != 3 {
		t.Fatalf("%d notifications, want one per recipient (3)", len(notes))
	}
	mids := map[string]bool{}
	for _, m := range notes {
		if len(m.To) != 1 {
			t.Errorf("notification to %v, want one recipient", m.To)
			continue
		}
		mids[m.MessageID] = true
		want := e.replyAddress(e.Tag(id), m.To[0].Email)
		if m.ReplyTo != want {
			t.Errorf("Reply-To to %s = %q, want %q", m.To[0].Email, m.ReplyTo, want)
		}
		keyedAddr := strings.Contains(m.ReplyTo, e.Tag(id)+".")
		if staff := e.isStaff(m.To[0].Email); keyedAddr != staff {
			t.Errorf("Reply-To to %s (staff %v) = %q", m.To[0].Email, staff, m.ReplyTo)
		}
	}
	if len(mids) != 3 {
		t.Errorf("%d distinct Message-IDs for 3 notifications", len(mids))
	}
}

func TestUpdateLimits(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) { c.Limits.UpdatesPerEscalationPerHour = 2 })
	quiet(e)
	id, _ := openEsc(t, e, c, Technical)
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("/update spam %d", i))
	}
	before := snap(t, e, id)
	ingest(t, e, replyTo(c, id, "lead@example.com", strings.Join(lines, "\n")))
	after := snap(t, e, id)
	if got := kindsOf(added(before, after), "update"); len(got) != 1 || !strings.Contains(got[0].Body, "spam 0") {
		t.Fatalf("%d updates sent for 50 /update lines, want the first one only", len(got))
	}
	errs := kindsOf(added(before, after), "error")
	if len(errs) != 1 || strings.Count(errs[0].Body, "one /update per message") != 49 {
		t.Fatalf("error mails %d, want one listing the 49 others", len(errs))
	}
	ingest(t, e, replyTo(c, id, "lead@example.com", "/update second"))
	clock := snap(t, e, id).esc.NextUpdate
	c.t = c.t.Add(time.Minute)
	before = snap(t, e, id)
	ingest(t, e, replyTo(c, id, "lead@example.com", "/update third"))
	after = snap(t, e, id)
	if got := kindsOf(added(before, after), "update"); len(got) != 0 {
		t.Errorf("third /update within the hour sent %d mails", len(got))
	}
	if !after.esc.NextUpdate.Equal(clock) {
		t.Errorf("update clock moved by a refused /update: %v → %v", clock, after.esc.NextUpdate)
	}
	if !snapHas(after, "update suppressed: rate limit") {
		t.Errorf("timeline lacks the suppression: %v", newEntries(before, after))
	}
	if errs := kindsOf(added(before, after), "error"); len(errs) != 1 || !strings.Contains(errs[0].Body, "update suppressed: rate limit") {
		t.Errorf("no error mail naming the limit")
	}
	c.t = c.t.Add(61 * time.Minute)
	before = snap(t, e, id)
	ingest(t, e, replyTo(c, id, "lead@example.com", "/update an hour later"))
	if got := kindsOf(added(before, snap(t, e, id)), "update"); len(got) != 1 {
		t.Errorf("an hour later: %d updates, want 1", len(got))
	}
}

func TestAckLimits(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) {
		c.Limits.AcksPerSenderPerHour = 2
		c.Limits.AcksPerDomainPerHour = 3
		c.Limits.AcksPerHour = 6
	})
	quiet(e)
	acks := func() int { return len(queuedKind(t, e, "ack")) }
	open := func(from string) Result { return ingest(t, e, inMail(c, from, "help "+from, "it is down")) }
	for i := 1; i <= 3; i++ { // one victim, plus-tags and case
		open(fmt.Sprintf("Victim+%d@target.test", i))
	}
	if n := acks(); n != 2 {
		t.Fatalf("%d acks to victim+N@, want 2 (one address)", n)
	}
	v, _ := e.View(context.Background(), 3)
	if last := v.Timeline[len(v.Timeline)-1].Text; !strings.HasPrefix(last, "acknowledgement suppressed: rate limit") || !strings.Contains(last, "acks_per_sender_per_hour") {
		t.Errorf("timeline %q", last)
	}
	open("other@target.test") // the domain's third
	open("third@target.test") // over the domain limit
	if n := acks(); n != 3 {
		t.Fatalf("%d acks, want 3 (target.test capped at 3)", n)
	}
	for i := range 4 { // acme.test is a customers domain: no domain limit
		open(fmt.Sprintf("user%d@acme.test", i))
	}
	if n := acks(); n != 6 {
		t.Fatalf("%d acks, want 6 (the limit in all)", n)
	}
	res := open("fresh@elsewhere.test")
	if n := acks(); n != 6 {
		t.Errorf("%d acks past the limit in all", n)
	}
	v, _ = e.View(context.Background(), res.EscalationID)
	if last := v.Timeline[len(v.Timeline)-1].Text; !strings.Contains(last, "limits.acks_per_hour") {
		t.Errorf("timeline %q", last)
	}
}

func TestAckRequiresAuthenticatedSender(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) { c.Limits.AckRequiresAuthenticatedSender = true })
	quiet(e)
	ingest(t, e, inMail(c, "anon@target.test", "help", "down"))
	signed := inMail(c, "jane@acme.test", "help", "down")
	signed.AuthResults = []string{"mx.example.com; dkim=pass header.d=acme.test; dmarc=pass header.from=acme.test"}
	ingest(t, e, signed)
	got := queuedKind(t, e, "ack")
	if len(got) != 1 || got[0].To[0].Email != "jane@acme.test" {
		t.Fatalf("acks %v, want only jane's", got)
	}
	v, _ := e.View(context.Background(), 1)
	found := false
	for _, te := range v.Timeline {
		found = found || strings.HasPrefix(te.Text, "acknowledgement suppressed: sender not authenticated")
	}
	if !found {
		t.Errorf("timeline of the unauthenticated request lacks the suppression")
	}
}

func TestDearNeverPrintsAStrangersText(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"Jane Doe", "Jane Doe"},
		{"Ирина Петрова", "Ирина Петрова"},
		{"Win a prize at http://evil.test", "Customer"},
		{"visit evil.example now", "Customer"},
		{"www.spam", "Customer"},
		{"boss@bank.test", "Customer"},
		{strings.Repeat("A", 65), "Customer"},
		{strings.Repeat("Ä", 64), strings.Repeat("Ä", 64)},
	} {
		if got := salutation(tc.name, "", "x@y.test"); got != tc.want {
			t.Errorf("salutation(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := salutation("see https://x.test", "Acme Corp", "x@acme.test"); got != "Acme Corp" {
		t.Errorf("falls back to %q, want the customer's name", got)
	}
}

func TestNotificationLimitAndHourlyAlert(t *testing.T) {
	e, c := newTestEngine(t, func(c *config.Config) { c.Limits.NotificationsPerHour = 2 })
	quiet(e)
	var ids []int64
	for i := range 5 {
		ids = append(ids, ingest(t, e, inMail(c, fmt.Sprintf("u%d@flood%d.test", i, i), "flood", "down")).EscalationID)
	}
	notified := 0
	for _, id := range ids {
		s := snap(t, e, id)
		if len(kindsOf(s.outbox, "notify")) > 0 {
			notified++
		} else if !snapHas(s, "notification suppressed: rate limit") {
			t.Errorf("%s: neither notified nor noted as suppressed", e.Tag(id))
		}
	}
	if notified != 2 {
		t.Fatalf("%d escalations notified, want 2", notified)
	}
	alerts := func() []Outgoing {
		var out []Outgoing
		for _, m := range queuedKind(t, e, "alert") {
			if m.EscalationID == 0 {
				out = append(out, m)
			}
		}
		return out
	}
	runTimers(t, e)
	got := alerts()
	rosters := map[string]bool{"tier2@example.com": true, "lead@example.com": true, "vendor-mgr@example.com": true}
	if len(got) != len(rosters) {
		t.Fatalf("%d alerts, want one to each starting level's roster contact (%d)", len(got), len(rosters))
	}
	for _, m := range got {
		if !rosters[m.To[0].Email] || !strings.Contains(m.Body, "3 notification(s)") {
			t.Errorf("alert to %s:\n%s", m.To[0].Email, m.Body)
		}
	}
	// Within the hour: no second alert, even with more held back.
	ingest(t, e, inMail(c, "u9@flood9.test", "flood", "down"))
	c.t = c.t.Add(30 * time.Minute)
	runTimers(t, e)
	if n := len(alerts()); n != len(rosters) {
		t.Errorf("%d alerts after half an hour, want still %d", n, len(rosters))
	}
	c.t = c.t.Add(31 * time.Minute)
	runTimers(t, e)
	if n := len(alerts()); n != 2*len(rosters) {
		t.Errorf("%d alerts after the hour, want %d", n, 2*len(rosters))
	}
}

func TestNoRelayForStrangers(t *testing.T) {
	e, c := newTestEngine(t, nil)
	quiet(e)
	ask := "Please open a case with AWS support for this outage."
	stranger := ingest(t, e, inMail(c, "someone@random.test", "outage", ask)).EscalationID
	s := snap(t, e, stranger)
	if s.esc.Type != Vendor {
		t.Fatalf("type %s, want Vendor", s.esc.Type)
	}
	if n := len(kindsOf(s.outbox, "vendor")); n != 0 {
		t.Fatalf("a stranger's text sent %d vendor case requests", n)
	}
	if !snapHas(s, "vendor case request waits for staff: /vendor") {
		t.Errorf("timeline %v", s.timeline)
	}
	// A staff /vendor sends it.
	ingest(t, e, replyTo(c, stranger, "lead@example.com", "/vendor AWS case 12345"))
	if n := len(kindsOf(snap(t, e, stranger).outbox, "vendor")); n != 1 {
		t.Errorf("after staff /vendor: %d vendor requests, want 1", n)
	}
	// A customer (customers domain) gets it on its own.
	cust := ingest(t, e, inMail(c, "jane@acme.test", "outage", ask)).EscalationID
	if n := len(kindsOf(snap(t, e, cust).outbox, "vendor")); n != 1 {
		t.Errorf("customer's request: %d vendor requests, want 1", n)
	}
}
