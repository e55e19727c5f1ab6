package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// bigBenchN runs bigBench -mem50-runs times and reports every peak RSS.
func bigBenchN(o options, dir, bin string) ([]row, error) {
	var rows []row
	var rss []string
	for i := range max(o.memRuns, 1) {
		r, err := bigBench(o, filepath.Join(dir, fmt.Sprint("big", i)), bin)
		if err != nil {
			return append(rows, r...), err
		}
		if len(rows) == 0 {
			rows = r
		}
		rss = append(rss, r[0].rss)
	}
	if len(rss) > 1 {
		rows[0].rss = strings.Join(rss, " / ")
		rows[0].notes += fmt.Sprintf(" (%d runs)", len(rss))
	}
	return rows, nil
}

// bigBench runs `once` on one request with a 50 MiB attachment.
func bigBench(o options, dir, bin string) ([]row, error) {
	s, err := startServers()
	if err != nil {
		return nil, err
	}
	defer s.close()
	raw := request(1, sender(1), "<big-1@acme.test>", "Core dump attached", "", "", time.Now(), 50<<20)
	if _, err := s.imap.Append("INBOX", raw, time.Time{}); err != nil {
		return nil, err
	}
	work := dir
	cfg, err := writeConfig(work, s.target(), "60s", 104857600)
	if err != nil {
		return nil, err
	}
	res, err := runOnce(bin, cfg, o.timeout, "")
	if err != nil {
		return nil, err
	}
	logf("50 MiB: exit %d in %s, peak RSS %s", res.code, res.took.Round(time.Millisecond), rssCell(res.maxRSS, res.hwm))
	notes := fmt.Sprintf("message %.1f MiB on the wire; verified: exit 0, 1 ack, tracking file", float64(len(raw))/(1<<20))
	if res.code != 0 {
		return []row{{what: "memory: `once`, 1 message, 50 MiB attachment", msgs: "1", took: dur(res.took), rss: rssCell(res.maxRSS, res.hwm), notes: "FAILED"}},
			fmt.Errorf("50 MiB once: exit %d\n%s", res.code, tail(res.stderr, 20))
	}
	if err := verify(s, filepath.Join(work, "escalations"), 1); err != nil {
		notes = "NOT VERIFIED: " + err.Error()
	} else if fi, err := os.Stat(filepath.Join(work, "escalations", "ESC-00001", "dump.bin")); err != nil || fi.Size() != 50<<20 {
		notes = fmt.Sprintf("NOT VERIFIED: attachment not saved whole (%v)", err)
	} else {
		notes += ", attachment saved whole"
	}
	return []row{{what: "memory: `once`, 1 message, 50 MiB attachment (max_message_bytes 100 MiB)", msgs: "1",
		took: dur(res.took), rate: "", rss: rssCell(res.maxRSS, res.hwm), notes: notes}}, nil
}
