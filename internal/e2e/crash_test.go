package e2e

// Crash safety against the real stack (SPEC §8 outbox, §10 never lose): a
// backlog of 500 messages in the escalation mailbox, the daemon SIGKILLed a
// dozen times while it works (in the middle of a batch, right after a mail
// was sent, right after a batch was marked, right at start-up) and restarted
// each time, then left to finish. Nothing may be lost or applied twice, no
// escalation may get a second distinct acknowledgement, and no tracking file
// may be torn.
//
// The test holds on a busy machine as on an idle one: it never assumes how
// far a run got in a given time. Each kill's trigger is checked against what
// is left of the backlog before its run, which is refilled when the trigger
// could not come; a run that finishes the backlog before its trigger is
// repeated; kills are added until enough landed mid-batch; and every wait is
// for a state, failing only when nothing moves for crashStall.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/escalationd/escalationd/internal/e2e/stack"
	"github.com/escalationd/escalationd/workflow"
)

func TestCrashSafety(t *testing.T) {
	addrs := stack.Require(t)
	stack.Lock(t)
	begin := time.Now()

	for _, mb := range []struct{ user, pass string }{
		{stack.Escalations, stack.EscalationsPass}, {stack.Jane, stack.CustomerPass}, {stack.Tier2, stack.StaffPass},
	} {
		if err := stack.Clear(addrs.IMAP, mb.user, mb.pass, "INBOX"); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, ok, err := crashStatus(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil {
		t.Fatal(err)
	} else if ok {
		if err := stack.Clear(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil {
			t.Fatal(err)
		}
	}

	dir := t.TempDir()
	bin := buildBinary(t) // shared with the rest of the suite: built once
	cfgPath := crashWriteConfig(t, dir, addrs)
	escDir, dataDir := filepath.Join(dir, "escalations"), filepath.Join(dir, "data")

	rng := rand.New(rand.NewPCG(crashSeed1, crashSeed2))
	token := strconv.FormatInt(time.Now().UnixNano(), 36)
	nReq, nRep := crashRequests, crashReplies // grow with each refill
	msgs := crashBacklog(rng, token, 1, nReq, 1, nRep)
	if err := crashAppend(addrs.IMAP, msgs); err != nil {
		t.Fatal(err)
	}
	t.Logf("backlog: %d messages (%d requests, %d replies) appended in %s", len(msgs), nReq, nRep, time.Since(begin).Round(time.Millisecond))

	lf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lg := &crashLog{f: lf, last: time.Now(), appliedBy: map[string]int{}}
	failed := true
	defer func() {
		if failed || t.Failed() {
			t.Logf("daemon log tail:\n%s", lg.tail(60))
		}
	}()

	// The kills. How far a run gets before its kill lands depends on how
	// busy the machine is, so each trigger is checked against what is left
	// of the backlog before its run, and the backlog is refilled when the
	// trigger could not come from it. A mid-batch kill that lands after its
	// batch was marked does not count as mid-batch: another one is added,
	// up to crashMaxKills, until crashMinMidBatch have landed.
	plan := crashPlan(rng)
	var busy time.Duration // the daemon's running time until the work was done
	phaseCount := map[string]int{}
	midBatchLanded, refills, runs, retries := 0, 0, 0, 0
	for i := 0; i < len(plan); i++ {
		k := plan[i]
		for {
			left, leftReq := crashLeft(t, dataDir, msgs)
			needMsgs, needReq := k.need()
			if left >= needMsgs && leftReq >= needReq {
				break
			}
			chunk := crashBacklog(rng, token, nReq+1, crashRefillRequests, nRep+1, crashRefillReplies)
			if err := crashAppend(addrs.IMAP, chunk); err != nil {
				t.Fatal(err)
			}
			msgs = append(msgs, chunk...)
			nReq, nRep, refills = nReq+crashRefillRequests, nRep+crashRefillReplies, refills+1
			t.Logf("kill #%02d (%s) needs %d messages and %d requests left, the backlog had %d and %d: refilled with %d messages",
				i+1, k, needMsgs, needReq, left, leftReq, len(chunk))
		}
		started := time.Now()
		runs++
		r := crashStart(t, bin, cfgPath, runs, lg, &k)
		came := crashAwait(t, r, lg, dataDir, len(msgs))
		busy += time.Since(started)
		if !came {
			// The run finished the backlog first (it got further before
			// the trigger than planned): the same kill again, on a
			// refilled backlog.
			if retries++; retries > crashMaxRetries {
				t.Fatalf("kill #%d (%s): %d runs finished the backlog before their trigger", i+1, k, retries)
			}
			t.Logf("kill #%02d (%s): the run finished the backlog before its trigger; again after a refill", i+1, k)
			plan[i].n = max(1, k.n/2) // and a trigger that comes sooner
			i--
			continue
		}
		r.mu.Lock()
		trigApplied, applied, markedAfter, after := r.trigApplied, r.applied, r.markedAfterTrig, r.linesAfterTrig
		r.mu.Unlock()
		phaseCount[k.phase]++
		landed := ""
		if k.phase == "mid-batch" {
			if markedAfter {
				landed = ", landed after the batch was marked"
			} else {
				midBatchLanded++
				landed = ", landed mid-batch"
			}
		}
		lg.mu.Lock()
		total := lg.applied
		lg.mu.Unlock()
		t.Logf("kill #%02d phase=%-9s trigger=%s: applied this run %d at trigger, %d logged by death (%d lines after); applied lines so far %d%s",
			i+1, k.phase, k, trigApplied, applied, after, total, landed)
		if i == len(plan)-1 && midBatchLanded < crashMinMidBatch && len(plan) < crashMaxKills {
			plan = append(plan, crashMidBatch(rng, false, len(plan)%2 == 1))
		}
	}
	if midBatchLanded < crashMinMidBatch {
		t.Errorf("only %d kills of %d landed mid-batch, want at least %d", midBatchLanded, len(plan), crashMinMidBatch)
	}

	// The last run finishes the work.
	finalStart := time.Now()
	runs++
	final := crashStart(t, bin, cfgPath, runs, lg, nil)
	db := crashOpenStore(t, dataDir)
	defer db.Close()
	var nMsgs, nMarked, nQueued, nBehind int
	crashWaitFor(t, "the last run to finish the backlog", func() (string, bool) {
		select {
		case <-final.done:
			t.Fatalf("the last run exited by itself: %v", final.err)
		default:
		}
		var err error
		nMsgs, nMarked, nQueued, nBehind, err = crashProgress(db)
		state := fmt.Sprintf("%d of %d messages recorded, %d marked, %d mail queued, %d tracking files behind (err %v)",
			nMsgs, len(msgs), nMarked, nQueued, nBehind, err)
		quiet := lg.quiet()
		if err == nil && nMsgs == len(msgs) && nMarked == len(msgs) && nQueued == 0 && nBehind == 0 && quiet > time.Second {
			busy += time.Since(finalStart) - quiet
			return state, true
		}
		return state, false
	})
	// Postfix delivers what it accepted soon after; wait until the
	// recipients' mailboxes hold mail for every escalation and have stopped
	// growing for a second.
	var janeN, tier2N int
	stable := time.Now()
	crashWaitFor(t, "the acknowledgements and notifications to be delivered", func() (string, bool) {
		jn, _, _, err1 := crashStatus(addrs.IMAP, stack.Jane, stack.CustomerPass, "INBOX")
		tn, _, _, err2 := crashStatus(addrs.IMAP, stack.Tier2, stack.StaffPass, "INBOX")
		if err1 != nil || err2 != nil {
			t.Fatalf("status: %v %v", err1, err2)
		}
		if jn != janeN || tn != tier2N {
			janeN, tier2N, stable = jn, tn, time.Now()
		}
		state := fmt.Sprintf("jane has %d mails, tier2 %d, want mail for each of %d escalations", jn, tn, nReq)
		if jn < nReq || tn < nReq || time.Since(stable) < time.Second {
			return state, false
		}
		j := crashDistinctTags(t, addrs.IMAP, stack.Jane, stack.CustomerPass)
		t2 := crashDistinctTags(t, addrs.IMAP, stack.Tier2, stack.StaffPass)
		state += fmt.Sprintf(": jane has mail for %d escalations, tier2 for %d", j, t2)
		return state, j >= nReq && t2 >= nReq
	})
	final.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-final.done:
	case <-time.After(12 * time.Second):
		final.cmd.Process.Kill()
		<-final.done
		t.Fatalf("no exit within 12 s of SIGTERM")
	}
	if final.err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0", final.err)
	}
	replies := map[int]int{} // escalation number → replies
	for _, m := range msgs {
		if m.reply != 0 {
			replies[m.req]++
		}
	}
	ctx := context.Background()

	// 1. Every message applied exactly once.
	wantEsc := map[string]int{} // Message-ID → escalation it belongs to
	for _, m := range msgs {
		wantEsc[m.mid] = m.req
	}
	rows, err := db.QueryContext(ctx, `SELECT message_id, coalesce(esc_id, 0), disposition, marked FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	appliedRows := map[string]int{}
	for rows.Next() {
		var mid, disp string
		var esc int
		var marked bool
		if err := rows.Scan(&mid, &esc, &disp, &marked); err != nil {
			t.Fatal(err)
		}
		if disp != "applied" {
			t.Errorf("message %s: disposition %s, want applied", mid, disp)
			continue
		}
		appliedRows[mid]++
		if want, ok := wantEsc[mid]; !ok {
			t.Errorf("message %s applied but not in the backlog", mid)
		} else if esc != want {
			t.Errorf("message %s applied to ESC-%05d, want ESC-%05d", mid, esc, want)
		}
		if !marked {
			t.Errorf("message %s: not recorded as marked", mid)
		}
	}
	rows.Close()
	lost, appliedTwice := 0, 0
	for _, m := range msgs {
		switch n := appliedRows[m.mid]; {
		case n == 0:
			lost++
			t.Errorf("message %s lost: not applied", m.mid)
		case n > 1:
			appliedTwice++
			t.Errorf("message %s applied %d times", m.mid, n)
		}
	}
	var nEsc int
	if err := db.QueryRow(`SELECT count(*) FROM escalations`).Scan(&nEsc); err != nil {
		t.Fatal(err)
	}
	if nEsc != nReq {
		t.Errorf("%d escalations, want %d", nEsc, nReq)
	}
	rootOK := 0
	rows, err = db.QueryContext(ctx, `SELECT id, root_message_id FROM escalations`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int
		var root string
		if err := rows.Scan(&id, &root); err != nil {
			t.Fatal(err)
		}
		if root != crashReqMID(token, id) {
			t.Errorf("ESC-%05d opened by %s, want %s", id, root, crashReqMID(token, id))
		} else {
			rootOK++
		}
	}
	rows.Close()
	inbound, outbound := map[int]int{}, map[int]int{}
	rows, err = db.QueryContext(ctx, `SELECT esc_id, inbound, count(*) FROM log GROUP BY esc_id, inbound`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, n int
		var in bool
		if err := rows.Scan(&id, &in, &n); err != nil {
			t.Fatal(err)
		}
		if in {
			inbound[id] = n
		} else {
			outbound[id] = n
		}
	}
	rows.Close()
	for id := 1; id <= nReq; id++ {
		if inbound[id] != 1+replies[id] {
			t.Errorf("ESC-%05d: %d inbound log entries, want %d (1 + %d replies)", id, inbound[id], 1+replies[id], replies[id])
		}
		if outbound[id] != 2 {
			t.Errorf("ESC-%05d: %d outbound log entries, want 2 (acknowledgement, notification)", id, outbound[id])
		}
	}
	outbox := map[string]int{}
	rows, err = db.QueryContext(ctx, `SELECT kind || '/' || status, count(*) FROM outbox GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		outbox[k] = n
	}
	rows.Close()
	if len(outbox) != 2 || outbox["ack/sent"] != nReq || outbox["notify/sent"] != nReq {
		t.Errorf("outbox %v, want %d ack/sent and %d notify/sent only", outbox, nReq, nReq)
	}
	logTwice := 0
	for mid, n := range lg.appliedBy {
		if n > 1 {
			logTwice++
			t.Logf("log: %q logged \"message applied\" %d times (store: %d applied row)", mid, n, appliedRows[mid])
		}
	}

	// 2. One distinct acknowledgement per escalation; notifications likewise.
	acks := crashMailbox(t, addrs.IMAP, stack.Jane, stack.CustomerPass)
	ackBy, ackCopies := crashGroup(acks)
	notes := crashMailbox(t, addrs.IMAP, stack.Tier2, stack.StaffPass)
	noteBy, noteCopies := crashGroup(notes)
	distinctAcks, distinctNotes := 0, 0
	for _, m := range acks {
		if m.tag == "" {
			t.Errorf("jane got mail without a tag: %q", m.subject)
			continue
		}
		id, _ := strconv.Atoi(strings.TrimPrefix(m.tag, "ESC-"))
		if m.inReplyTo != crashReqMID(token, id) {
			t.Errorf("acknowledgement %s (%q) answers <%s>, want <%s>", m.mid, m.subject, m.inReplyTo, crashReqMID(token, id))
		}
		if !strings.Contains(m.subject, "Escalation Acknowledged") {
			t.Errorf("jane got something other than an acknowledgement: %q", m.subject)
		}
	}
	for id := 1; id <= nReq; id++ {
		tag := fmt.Sprintf("ESC-%05d", id)
		switch n := len(ackBy[tag]); n {
		case 1:
			distinctAcks++
		case 0:
			lost++
			t.Errorf("%s: no acknowledgement delivered", tag)
		default:
			distinctAcks++
			t.Errorf("%s: %d distinct acknowledgement Message-IDs: %v", tag, n, ackBy[tag])
		}
		switch n := len(noteBy[tag]); n {
		case 1:
			distinctNotes++
		case 0:
			lost++
			t.Errorf("%s: no notification delivered to %s", tag, stack.Tier2)
		default:
			distinctNotes++
			t.Errorf("%s: %d distinct notification Message-IDs: %v", tag, n, noteBy[tag])
		}
	}
	if len(ackBy) > nReq || len(noteBy) > nReq {
		t.Errorf("mail for unknown escalations: %d ack tags, %d notification tags", len(ackBy), len(noteBy))
	}
	for _, g := range []struct {
		name string
		by   map[string]map[string]int
	}{{"acknowledgement", ackBy}, {"notification", noteBy}} {
		for tag, mids := range g.by {
			for mid, n := range mids {
				if n > 1 {
					t.Logf("%s %s of %s delivered %d times (same Message-ID: a kill right after the server accepted it, allowed by §8)", g.name, mid, tag, n)
				}
			}
		}
	}

	// 3. Every message marked handled on the server; nothing quarantined.
	total, seen, err := crashSeenCount(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if total != len(msgs) || seen != len(msgs) {
		t.Errorf("escalations INBOX: %d messages, %d \\Seen; want %d, all \\Seen", total, seen, len(msgs))
	}
	if q, _, _, err := crashStatus(addrs.IMAP, stack.Escalations, stack.EscalationsPass, "Quarantine"); err != nil || q != 0 {
		t.Errorf("Quarantine: %d messages (err %v), want 0", q, err)
	}

	// 4. No torn tracking file, none behind the store, no temp file left.
	intact := 0
	for id := 1; id <= nReq; id++ {
		tag := fmt.Sprintf("ESC-%05d", id)
		b, err := os.ReadFile(filepath.Join(escDir, tag+"-tracking.md"))
		if err != nil {
			t.Errorf("%s: %v", tag, err)
			continue
		}
		if problem := crashCheckTracking(string(b), tag, inbound[id], outbound[id]); problem != "" {
			t.Errorf("%s-tracking.md: %s", tag, problem)
			continue
		}
		intact++
	}
	temps, _ := filepath.Glob(filepath.Join(escDir, ".*.tmp"))
	if len(temps) > 0 {
		t.Errorf("temp files left in escalations/: %v", temps)
	}
	// The last run removes what earlier kills left half-written in data_dir.
	rawTemps, _ := filepath.Glob(filepath.Join(dataDir, "raw", "incoming-*"))
	spool, _ := filepath.Glob(filepath.Join(dataDir, "spool", "*"))
	if len(rawTemps)+len(spool) > 0 {
		t.Errorf("left in data_dir: raw-archive temp files %v, spool files %v", rawTemps, spool)
	}
	for _, e := range lg.errors {
		t.Logf("daemon error line: %s", e)
	}

	took := time.Since(begin).Round(time.Second)
	t.Logf("crash test: %d messages, %d kills (%d mid-batch [%d landed mid-batch], %d mid-send, %d mid-mark, %d at start), %d escalations (%d opened by their request), %d distinct acks, %d duplicate ack copies (same Message-ID), %d distinct notifications, %d duplicate notification copies, %d \"mail sent\" lines for %d mails, %d lost, %d applied twice (store), %d Message-IDs logged \"message applied\" twice, %d of %d marked \\Seen, %d tracking files intact, %d temp files left (%d removed at restarts), daemon busy %s over %d runs (%.0f messages/s, %.0f mails/s), took %s",
		len(msgs), len(plan), phaseCount["mid-batch"], midBatchLanded, phaseCount["mid-send"], phaseCount["mid-mark"], phaseCount["start"],
		nEsc, rootOK, distinctAcks, ackCopies, distinctNotes, noteCopies, lg.sent, 2*nReq, lost, appliedTwice, logTwice, seen, total, intact, len(temps)+len(rawTemps)+len(spool), lg.swept,
		busy.Round(100*time.Millisecond), runs, float64(len(msgs))/busy.Seconds(), float64(2*nReq)/busy.Seconds(), took)
	// At most workflow.MaxUnrecorded mails are out without their result
	// committed: each kill can cut at most that many off between the
	// server's acceptance and the outbox commit.
	if ackCopies+noteCopies > runs*workflow.MaxUnrecorded {
		t.Errorf("%d duplicate copies for %d runs: more than %d mails accepted and unrecorded per kill", ackCopies+noteCopies, runs, workflow.MaxUnrecorded)
	}
	if lost != 0 || appliedTwice != 0 {
		t.Errorf("lost %d, applied twice %d: want 0", lost, appliedTwice)
	}
	failed = false
}

// crashCheckTracking checks one tracking file is whole and shows the store:
// it starts with the title, ends with the Resolution Plan section and a
// newline, and its Communication Log has one entry per logged mail.
func crashCheckTracking(s, tag string, inbound, outbound int) string {
	if !strings.HasPrefix(s, "# Escalation Tracking:") {
		return "does not start with \"# Escalation Tracking:\""
	}
	if !strings.HasSuffix(s, "\n") {
		return "does not end with a newline"
	}
	if !strings.Contains(s, "\n**ID**: "+tag+"\n") {
		return "no **ID** line for " + tag
	}
	var headings []string
	section := ""
	received, sent := 0, 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "## ") {
			section = line
			headings = append(headings, line)
			continue
		}
		if section == "## Communication Log" && strings.HasPrefix(line, "### ") {
			switch {
			case strings.Contains(line, " — received from "):
				received++
			case strings.Contains(line, " — sent to "):
				sent++
			}
		}
	}
	if len(headings) == 0 || headings[len(headings)-1] != "## Resolution Plan" {
		return fmt.Sprintf("the last section is %q, want \"## Resolution Plan\"", headings)
	}
	if !slices.Contains(headings, "## Communication Log") {
		return "no Communication Log"
	}
	if received != inbound || sent != outbound {
		return fmt.Sprintf("Communication Log has %d received / %d sent entries, the store %d / %d", received, sent, inbound, outbound)
	}
	return ""
}
