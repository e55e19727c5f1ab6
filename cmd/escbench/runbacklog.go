package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/emersion/go-imap/v2"
)

// runBacklogBench measures `escalationd run` starting on the same backlog
// as once: how long until every acknowledgement is accepted, and until
// every message is marked (which comes after its tracking file is written).
// This is the daemon after a weekend down, as it runs in production.
func runBacklogBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	g, err := fill(s, o.n)
	if err != nil {
		return nil, err
	}
	work := filepath.Join(dir, "run-backlog")
	cfg, err := writeConfig(work, s.target(), "1h", 26214400)
	if err != nil {
		return nil, err
	}
	logf("run-backlog: starting %s run on %d messages", bin, o.n)
	start := time.Now()
	run, err := startRun(bin, work, cfg)
	if err != nil {
		return nil, err
	}
	defer run.stop()

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if _, err := s.smtp.Wait(ctx, g.requests); err != nil {
		return nil, fmt.Errorf("run-backlog: acks: %w\n%s", err, tail(run.log, 20))
	}
	acked := time.Since(start)
	if err := waitUnseen(ctx, s, 0); err != nil {
		return nil, fmt.Errorf("run-backlog: marks: %w\n%s", err, tail(run.log, 20))
	}
	marked := time.Since(start)
	if err := run.stop(); err != nil {
		return nil, fmt.Errorf("run-backlog: %w", err)
	}
	if run.code != 0 {
		return nil, fmt.Errorf("run-backlog: exit %d\n%s", run.code, tail(run.log, 20))
	}
	if err := verify(s, filepath.Join(work, "escalations"), g.requests); err != nil {
		return nil, fmt.Errorf("run-backlog verify: %w", err)
	}
	maxRSS, hwm := readRSS(run.rss)
	logf("run-backlog: every ack in %s, every message marked in %s", acked.Round(time.Millisecond), marked.Round(time.Millisecond))
	return []row{{
		what: "`escalationd run` started on the same backlog (IDLE, poll 1h)", msgs: fmt.Sprint(o.n),
		took: dur(marked), rate: rate(o.n, marked), rss: rssCell(maxRSS, hwm),
		notes: fmt.Sprintf("every ack accepted after %s, every message marked (its tracking file written first) after %s; verified", dur(acked), dur(marked)),
	}}, nil
}

// waitUnseen polls the INBOX until at most n of its messages lack \Seen.
func waitUnseen(ctx context.Context, s *servers, n int) error {
	for {
		c, err := s.imap.Dial()
		if err != nil {
			return err
		}
		st, err := c.Status("INBOX", &imap.StatusOptions{NumUnseen: true}).Wait()
		c.Close()
		if err != nil {
			return err
		}
		if st.NumUnseen != nil && int(*st.NumUnseen) <= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d unseen: %w", *st.NumUnseen, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
