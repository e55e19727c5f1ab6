package mailin

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/localmail"
)

// logRecords parses the JSON log lines in b.
func logRecords(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			continue // not a log line (the test runner's own output)
		}
		out = append(out, rec)
	}
	return out
}

// loggedReasons maps UID to the reason logged with "quarantining message".
func loggedReasons(t *testing.T, b []byte) map[uint32]string {
	t.Helper()
	out := map[uint32]string{}
	for _, rec := range logRecords(t, b) {
		if rec["msg"] == "quarantining message" {
			uid, _ := rec["uid"].(float64)
			out[uint32(uid)], _ = rec["reason"].(string)
		}
	}
	return out
}

// storedReasons maps UID to the disposition and reason the store recorded
// for each message of INBOX.
func storedReasons(t *testing.T, dataDir string) map[uint32]string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "escalationd.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT uid, disposition, reason FROM messages WHERE mailbox = 'INBOX'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var uid uint32
		var d, reason string
		if err := rows.Scan(&uid, &d, &reason); err != nil {
			t.Fatal(err)
		}
		out[uid] = d + ": " + reason
	}
	return out
}

// quarantined returns the raw messages in the Quarantine mailbox.
func quarantined(t *testing.T, srv *localmail.IMAPServer) [][]byte {
	t.Helper()
	msgs, err := srv.Messages("Quarantine")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m.Raw)
	}
	return out
}

// Mail over a parser limit, or over limits.max_message_bytes, goes to the
// Quarantine mailbox as it came, with the reason logged and stored; the
// limits come from the poller's options (0: the defaults); the mail behind
// it is handled. Mail over max_message_bytes is not even parsed.
func TestPollerQuarantinesMailOverLimits(t *testing.T) {
	var logs bytes.Buffer
	p, eng, srv := newPollerLog(t, nil, "", slog.New(slog.NewJSONHandler(&logs, nil)))
	p.opts.MaxMessageBytes = 5 << 20
	p.opts.MaxHeaderFields = 100 // the byte limit stays the default, 256 KiB
	var parsed []uint32
	p.beforeParse = func(uid uint32) { parsed = append(parsed, uid) }

	hugeSubject := "From: a@acme.test\r\nSubject: " + strings.Repeat("s", 4<<20) + "\r\nMessage-ID: <huge@acme.test>\r\n\r\nbody\r\n"
	oversize := "From: a@acme.test\r\nSubject: big\r\nMessage-ID: <big@acme.test>\r\n\r\n" + strings.Repeat("b", 5<<20) + "\r\n"
	msgs := []struct {
		raw    string
		reason string // "" means applied
	}{
		{raw: string(rawMessage(1))},
		{raw: topMessage(101), reason: "over a parser limit: header block of the message has over 100 fields (limits.max_header_fields 100)"},
		{raw: nestedMessage(headerLines(99)), reason: "over a parser limit: header block of part 3.2 has over 100 fields (limits.max_header_fields 100)"},
		{raw: hugeSubject, reason: "over a parser limit: header block of the message is over 262144 bytes (limits.max_header_bytes 262144)"},
		{raw: wideMessage(1001), reason: "over a parser limit: over 1000 MIME parts (the limit)"},
		{raw: deepMessage(33), reason: "over a parser limit: MIME nesting deeper than 32 levels (part " + strings.Repeat("1.", 31) + "1)"},
		{raw: oversize, reason: fmt.Sprintf("message of %d bytes is over limits.max_message_bytes (%d): quarantined unread", len(oversize), 5<<20)},
		{raw: string(rawMessage(2))},
	}
	var wantQuarantine [][]byte
	wantLogged := map[uint32]string{}
	wantStored := map[uint32]string{}
	for _, m := range msgs {
		uid, err := srv.Append("INBOX", []byte(m.raw), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if m.reason == "" {
			wantStored[uid] = "applied: "
			continue
		}
		wantQuarantine = append(wantQuarantine, []byte(m.raw))
		wantLogged[uid] = m.reason
		wantStored[uid] = "quarantined: " + m.reason
	}

	st, err := once(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Applied != 2 || st.Quarantined != 6 {
		t.Errorf("stats %+v: want 2 applied, 6 quarantined", st)
	}
	got := quarantined(t, srv)
	if len(got) != len(wantQuarantine) {
		t.Fatalf("Quarantine holds %d messages, want %d", len(got), len(wantQuarantine))
	}
	for i := range got {
		if !bytes.Equal(got[i], wantQuarantine[i]) {
			t.Errorf("quarantined message %d differs from the one delivered (%d bytes, want %d)", i+1, len(got[i]), len(wantQuarantine[i]))
		}
	}
	if inbox := flags(t, srv, "INBOX"); len(inbox) != 2 {
		t.Errorf("INBOX keeps %d messages, want the 2 applied", len(inbox))
	}
	if got := loggedReasons(t, logs.Bytes()); fmt.Sprint(got) != fmt.Sprint(wantLogged) {
		t.Errorf("logged reasons\n%v\nwant\n%v", got, wantLogged)
	}
	if got := storedReasons(t, p.opts.DataDir); fmt.Sprint(got) != fmt.Sprint(wantStored) {
		t.Errorf("stored reasons\n%v\nwant\n%v", got, wantStored)
	}
	if slices.Contains(parsed, 7) || len(parsed) != 7 {
		t.Errorf("parsed UIDs %v: want every one but 7, the one over max_message_bytes", parsed)
	}
	if list, _ := eng.List(context.Background()); len(list) != 2 {
		t.Errorf("%d escalations, want 2", len(list))
	}
	// No parse is left recorded as started: none of these is a suspect.
	uv, _, _, _ := eng.Store().Checkpoint(context.Background(), "INBOX")
	if n, _ := eng.Store().ParseAttempts(context.Background(), "INBOX", uv, []uint32{1, 2, 3, 4, 5, 6, 7, 8}); len(n) != 0 {
		t.Errorf("unfinished parse starts left: %v", n)
	}
}

// A batch that fails (a store or disk error, not the message's fault) leaves
// no parse recorded as started: the next run parses its messages in a batch
// again, not one at a time, and nothing is quarantined.
func TestFailedBatchLeavesNoParseStarted(t *testing.T) {
	var logs bytes.Buffer
	p, eng, srv := newPollerLog(t, nil, "", slog.New(slog.NewJSONHandler(&logs, nil)))
	p.opts.BatchSize = 2
	for n := 1; n <= 5; n++ {
		srv.Append("INBOX", rawMessage(n), time.Now())
	}
	fail := true
	// The whole group holding UID 3 fails, as when its commit fails.
	p.core = failingCore{Core: eng, fails: func(uid uint32) bool { return fail && (uid+1)/2 == 2 }}
	if _, err := once(p); err == nil {
		t.Fatal("Once: no error for the failed batch")
	}
	uv, _, _, _ := eng.Store().Checkpoint(context.Background(), "INBOX")
	if n, err := eng.Store().ParseAttempts(context.Background(), "INBOX", uv, []uint32{1, 2, 3, 4, 5}); err != nil || len(n) != 0 {
		t.Fatalf("unfinished parse starts after a failed batch: %v, %v", n, err)
	}
	fail = false
	st, err := once(p)
	if err != nil || st.Applied != 3 || st.Quarantined != 0 {
		t.Fatalf("second run: %+v, %v; want 3 applied", st, err)
	}
	for _, rec := range logRecords(t, logs.Bytes()) {
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "one at a time") {
			t.Errorf("logged %q after a failure that killed nothing", msg)
		}
	}
}
