package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// backlogBench fills the in-process INBOX with o.n messages and measures
// the raw fetch baseline (a) and `escalationd once` (b) on them, and b as a
// multiple of a.
func backlogBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	t0 := time.Now()
	g, err := fill(s, o.n)
	if err != nil {
		return nil, err
	}
	logf("filled INBOX with %d messages (%d requests, %d tag replies, %d In-Reply-To replies, %d with 1 MiB) in %s",
		o.n, g.requests, g.tagged, g.threaded, g.attached, time.Since(t0).Round(time.Millisecond))

	var rows []row
	var baseTook time.Duration
	if o.baseline {
		r, took, err := fetchBench(s, o.n, g.mix())
		if err != nil {
			return rows, err
		}
		rows, baseTook = append(rows, r), took
	}
	if !o.backlog {
		return rows, nil
	}
	r, res, err := onceBench(o, dir, bin, s, g)
	rows = append(rows, r...)
	if err != nil {
		return rows, err
	}
	if o.baseline {
		rows = append(rows, row{
			what: "ratio b/a (time)", msgs: "", took: times(res.took, baseTook),
			notes: "daemon wall time ÷ baseline wall time",
		})
	}
	return rows, nil
}

// fill APPENDs n generated messages to the in-process INBOX.
func fill(s *servers, n int) (*gen, error) {
	g := newGen(sender)
	for i := range n {
		if _, err := s.imap.Append("INBOX", g.next(i), time.Time{}); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// fetchBench measures the raw fetch baseline (a) on the n messages of the
// in-process INBOX; mix describes them.
func fetchBench(s *servers, n int, mix string) (row, time.Duration, error) {
	t0 := time.Now()
	c, err := s.imap.Dial()
	if err != nil {
		return row{}, 0, err
	}
	got, size, err := baseline(c)
	took := time.Since(t0)
	if err != nil {
		return row{}, took, fmt.Errorf("baseline: %w", err)
	}
	if got != n {
		return row{}, took, fmt.Errorf("baseline fetched %d messages, want %d", got, n)
	}
	logf("baseline: %d messages, %.1f MiB in %s", got, float64(size)/(1<<20), took.Round(time.Millisecond))
	return row{
		what: "(a) baseline: imapclient `UID FETCH 1:* BODY.PEEK[]` + go-message walk", msgs: fmt.Sprint(got),
		took: dur(took), rate: rate(got, took), rss: "n/a (in bench process)",
		notes: fmt.Sprintf("%.1f MiB fetched; %s", float64(size)/(1<<20), mix),
	}, took, nil
}

// onceBench runs `escalationd once` (b) on the backlog g made in s, and
// verifies what it did. Its row comes also with an error, unless the daemon
// could not run at all.
func onceBench(o options, dir, bin string, s *servers, g *gen) ([]row, result, error) {
	work := filepath.Join(dir, "once")
	cfg, err := writeConfig(work, s.target(), "60s", 26214400)
	if err != nil {
		return nil, result{}, err
	}
	logf("running %s once --config %s", bin, cfg)
	res, err := runOnce(bin, cfg, o.timeout, o.profile)
	if err != nil {
		return nil, res, fmt.Errorf("once: %w\n%s", err, tail(res.stderr, 20))
	}
	logf("once: exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	r := row{what: "(b) `escalationd once`", msgs: fmt.Sprint(o.n), took: dur(res.took), rate: rate(o.n, res.took), rss: rssCell(res.maxRSS, res.hwm)}
	if res.code != 0 {
		r.notes = "exit " + fmt.Sprint(res.code)
		return []row{r}, res, fmt.Errorf("FAILED: exit %d; log tail:\n%s", res.code, tail(res.stderr, 20))
	}
	if err := verify(s, filepath.Join(work, "escalations"), g.requests); err != nil {
		r.notes = "NOT VERIFIED: " + err.Error()
		return []row{r}, res, fmt.Errorf("verify: %w", err)
	}
	status := "verified: exit 0, one ack per request, every tracking file"
	logf("%s", status)
	r.what = "(b) `escalationd once` (subprocess, fresh store)"
	r.notes = fmt.Sprintf("%s; %d acks over %d SMTP sessions; CPU: daemon %.1f s, servers %.1f s", status, g.requests, s.smtp.Sessions(),
		res.cpu.Seconds(), res.served.Seconds())
	return []row{r}, res, nil
}

// verify checks that each of the requests got exactly one ack, addressed to
// its sender, and has its tracking file, and that nothing opened more.
func verify(s *servers, escDir string, requests int) error {
	got := s.smtp.Received()
	if len(got) != requests {
		return fmt.Errorf("the sink received %d mails, want %d acks (empty roster)", len(got), requests)
	}
	seen := map[string]bool{}
	for _, m := range got {
		if len(m.To) != 1 {
			return fmt.Errorf("mail to %v, want one recipient", m.To)
		}
		if !strings.Contains(m.Header.Get("Subject"), "Escalation Acknowledged") {
			return fmt.Errorf("mail to %v is not an ack: %q", m.To, m.Header.Get("Subject"))
		}
		seen[strings.ToLower(m.To[0])] = true
	}
	for r := 1; r <= requests; r++ {
		if !seen[sender(r)] {
			return fmt.Errorf("no ack to %s", sender(r))
		}
		p := filepath.Join(escDir, fmt.Sprintf("ESC-%05d-tracking.md", r))
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("tracking file: %w", err)
		}
	}
	extra := filepath.Join(escDir, fmt.Sprintf("ESC-%05d-tracking.md", requests+1))
	if _, err := os.Stat(extra); err == nil {
		return fmt.Errorf("%s exists: a reply opened a new escalation", extra)
	}
	return nil
}
