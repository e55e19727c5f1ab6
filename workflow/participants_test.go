package workflow

import (
	"context"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
)

const strangerNote = "Named ESC-00001 but is not a participant of it: opened as a new escalation"

// participantEngine has ESC-00001 opened by jane@acme.test (a configured
// customer domain) with support@aws.test as the AWS vendor and
// oncall@partner.test on the Tier 2 roster, and ESC-00002 opened by
// bob@globex.test (an unknown domain).
func participantEngine(t *testing.T) (*Engine, *clock) {
	t.Helper()
	e, c := newTestEngine(t, func(cfg *config.Config) {
		cfg.Vendors.AWS = "support@aws.test"
		cfg.Roster.Technical = map[string][]config.Contact{
			"tier 2": {{Email: "oncall@partner.test"}},
			"tier 3": {{Email: "tier3@example.com"}},
			"vendor": {{Email: "vendor-mgr@example.com"}},
		}
	})
	quiet(e)
	if res := ingest(t, e, msg("jane@acme.test", "Database outage", "root1@acme.test", func(in *Inbound) {
		in.Cc = []Address{{Email: "partner@ext.test"}}
	})); res.EscalationID != 1 {
		t.Fatalf("first escalation: %+v", res)
	}
	if res := ingest(t, e, msg("bob@globex.test", "Other problem", "root2@globex.test", nil)); res.EscalationID != 2 {
		t.Fatalf("second escalation: %+v", res)
	}
	return e, c
}

func hasTimeline(t *testing.T, e *Engine, id int64, text string) bool {
	t.Helper()
	v, err := e.View(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, te := range v.Timeline {
		if te.Text == text {
			return true
		}
	}
	return false
}

func countEscalations(t *testing.T, e *Engine) int {
	t.Helper()
	list, err := e.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// isParticipant reports whether email is a participant of escalation id.
func isParticipant(t *testing.T, e *Engine, id int64, email string) bool {
	t.Helper()
	var ok bool
	err := e.st.Read(context.Background(), func(tx Tx) (err error) {
		ok, err = tx.IsParticipant(id, email)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// wrapStore puts wrap(tx) in place of the Tx of each transaction of e's
// store: a test overrides an operation of the port to watch it or to make
// it fail.
func wrapStore(e *Engine, wrap func(Tx) Tx) {
	e.st = wrappedStore{Store: e.st, wrap: wrap}
}

type wrappedStore struct {
	Store
	wrap func(Tx) Tx
}

func (s wrappedStore) Update(ctx context.Context, fn func(Tx) error) error {
	return s.Store.Update(ctx, func(tx Tx) error { return fn(s.wrap(tx)) })
}

func (s wrappedStore) Read(ctx context.Context, fn func(Tx) error) error {
	return s.Store.Read(ctx, func(tx Tx) error { return fn(s.wrap(tx)) })
}

// recordMessages makes e keep, in the list it returns, every message record
// its store accepts (the ones of a transaction rolled back included).
func recordMessages(e *Engine) *[]MessageRecord {
	recs := new([]MessageRecord)
	wrapStore(e, func(tx Tx) Tx { return recordingTx{tx, recs} })
	return recs
}

type recordingTx struct {
	Tx
	recs *[]MessageRecord
}

func (t recordingTx) RecordMessage(m MessageRecord) error {
	if err := t.Tx.RecordMessage(m); err != nil {
		return err
	}
	*t.recs = append(*t.recs, m)
	return nil
}

// A stranger who names an escalation by tag, plus-address, In-Reply-To or
// References opens a new escalation whose timeline names the one it named;
// the named one is untouched.
func TestParticipantStrangerOpensNew(t *testing.T) {
	e, _ := participantEngine(t)
	ack := queuedMail(t, e)[0]
	if ack.EscalationID != 1 {
		t.Fatalf("first ack is of %d", ack.EscalationID)
	}
	for _, tc := range []struct {
		name string
		in   *Inbound
	}{
		{"tag", msg("mallory@evil.test", "Re: [ESC-00001] Database outage", "s1@evil.test", nil)},
		{"plus-address", msg("mallory@evil.test", "no tag", "s2@evil.test", func(in *Inbound) {
			in.To = []Address{{Email: "escalations+ESC-00001@example.com"}}
		})},
		{"delivered-to plus-address", msg("mallory@evil.test", "no tag", "s3@evil.test", func(in *Inbound) {
			in.DeliveredTo = []string{"escalations+ESC-00001@example.com"}
		})},
		{"in-reply-to our ack", msg("mallory@evil.test", "Re: outage", "s4@evil.test", func(in *Inbound) {
			in.InReplyTo = []string{ack.MessageID}
		})},
		{"references the customer's message", msg("mallory@evil.test", "Re: outage", "s5@evil.test", func(in *Inbound) {
			in.References = []string{"root1@acme.test"}
		})},
		{"look-alike of the customer domain", msg("jim@acme.test.evil.test", "[ESC-00001]", "s6@evil.test", nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, e, 1)
			n := countEscalations(t, e)
			res := ingest(t, e, tc.in)
			if !res.New || res.EscalationID != int64(n+1) {
				t.Fatalf("result %+v, want new escalation %d", res, n+1)
			}
			if !hasTimeline(t, e, res.EscalationID, strangerNote) {
				t.Errorf("timeline of %s lacks %q", e.Tag(res.EscalationID), strangerNote)
			}
			after := snap(t, e, 1)
			if len(after.timeline) != len(before.timeline) || len(after.outbox) != len(before.outbox) || after.esc != before.esc {
				t.Errorf("ESC-00001 changed: timeline %v", newEntries(before, after))
			}
			// Its acknowledgement threads to the stranger's own escalation.
			acks := queuedMail(t, e)
			if last := acks[len(acks)-1]; last.EscalationID != res.EscalationID || last.To[0].Email != tc.in.From.Email {
				t.Errorf("last ack %+v", last)
			}
		})
	}
	// A customer colleague of an unknown domain is no participant either.
	res := ingest(t, e, msg("carol@globex.test", "Re: [ESC-00002] Other problem", "s7@globex.test", nil))
	if !res.New || !hasTimeline(t, e, res.EscalationID, "Named ESC-00002 but is not a participant of it: opened as a new escalation") {
		t.Errorf("colleague of an unknown domain: %+v", res)
	}
	// The stranger's next reply, to the new escalation's ack, threads there.
	var stranger Result
	for _, a := range queuedMail(t, e) {
		if a.To[0].Email == "carol@globex.test" {
			stranger = ingest(t, e, msg("carol@globex.test", "Re: x", "s8@globex.test", func(in *Inbound) { in.InReplyTo = []string{a.MessageID} }))
		}
	}
	if stranger.New || stranger.EscalationID != res.EscalationID {
		t.Errorf("reply to the new escalation's ack: %+v, want into %d", stranger, res.EscalationID)
	}
}

// Participants thread normally: the customer, a colleague of a configured
// customers domain, someone the customer copied, the vendor after the case
// request, a roster recipient and staff.
func TestParticipantThreads(t *testing.T) {
	e, _ := participantEngine(t)
	// A vendor escalation: its case request goes to support@aws.test.
	vres := ingest(t, e, msg("jane@acme.test", "Need AWS", "v1@acme.test", func(in *Inbound) { in.Text = "Please open a case with AWS." }))
	if len(queuedKind(t, e, "vendor")) == 0 {
		t.Fatal("no vendor case request queued")
	}
	var notified bool
	for _, m := range queuedKind(t, e, "notify") {
		notified = notified || m.EscalationID == 1 && m.To[0].Email == "oncall@partner.test"
	}
	if !notified {
		t.Fatal("roster oncall@partner.test not notified of ESC-00001")
	}
	for _, tc := range []struct {
		from string
		id   int64
	}{
		{"jane@acme.test", 1},
		{"JANE@ACME.TEST", 1},
		{"alice@acme.test", 1},
		{"partner@ext.test", 1},
		{"oncall@partner.test", 1},
		{"tier2@example.com", 1},
		{"bob@globex.test", 2},
		{"support@aws.test", vres.EscalationID},
	} {
		t.Run(tc.from, func(t *testing.T) {
			res := ingest(t, e, msg(tc.from, "Re: ["+e.Tag(tc.id)+"] x", "", nil))
			if res.New || res.EscalationID != tc.id || res.Via != "subject tag" {
				t.Errorf("%s: %+v, want into %d by tag", tc.from, res, tc.id)
			}
		})
	}
	if !isParticipant(t, e, vres.EscalationID, "support@aws.test") {
		t.Error("the vendor is not in participants")
	}
	if !isParticipant(t, e, 1, "oncall@partner.test") {
		t.Error("the roster recipient is not in participants")
	}
	for id := int64(1); id <= int64(countEscalations(t, e)); id++ {
		if isParticipant(t, e, id, "escalations@example.com") {
			t.Errorf("our own address is a participant of %s", e.Tag(id))
		}
	}
}

// Automatic mail naming an escalation its sender does not participate in is
// not logged there: it belongs to none. A participant's is logged.
func TestParticipantAutomatic(t *testing.T) {
	e, _ := participantEngine(t)
	before := snap(t, e, 1)
	recs := recordMessages(e)
	res := ingest(t, e, msg("mallory@evil.test", "Automatic reply: [ESC-00001] Database outage", "oof1@evil.test", nil))
	if res.EscalationID != 0 || res.New {
		t.Errorf("stranger's automatic mail: %+v, want none", res)
	}
	if after := snap(t, e, 1); len(after.timeline) != len(before.timeline) || after.esc != before.esc {
		t.Errorf("ESC-00001 changed: %v", newEntries(before, after))
	}
	if len(*recs) != 1 || (*recs)[0].MessageID != "oof1@evil.test" {
		t.Fatalf("recorded %+v, want oof1@evil.test", *recs)
	}
	if r := (*recs)[0]; r.EscalationID != 0 || !strings.Contains(r.Reason, "named ESC-00001") {
		t.Errorf("recorded escalation %d, reason %q", r.EscalationID, r.Reason)
	}
	res = ingest(t, e, msg("jane@acme.test", "Automatic reply: [ESC-00001] Database outage", "oof2@acme.test", nil))
	if res.EscalationID != 1 || res.Via != "automatic" {
		t.Errorf("participant's automatic mail: %+v, want logged in 1", res)
	}
	if countEscalations(t, e) != 2 {
		t.Error("automatic mail opened an escalation")
	}
}
