package mailin

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/workflow"
)

// maxPeakRSS is the most memory the daemon may take for any message up to
// limits.max_message_bytes (§11).
const maxPeakRSS = 256 << 20

// memShape is one worst case for the parser's memory.
type memShape struct {
	name        string
	build       func(w *bytes.Buffer)
	quarantined bool // else applied
}

// shapeSize is how large the shapes that fill up are: just under the default
// limits.max_message_bytes (25 MiB), so that they are fetched and parsed.
const shapeSize = 26214400 - 64<<10

func shapeHeader(w *bytes.Buffer, extra string) {
	w.WriteString("From: Big Sender <big@acme.test>\r\nTo: escalations@example.com\r\nMessage-ID: <shape@acme.test>\r\n" +
		"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra)
}

// fill writes line until w would grow past size (less room for the end).
func fill(w *bytes.Buffer, line string, size int) {
	for w.Len()+len(line) <= size {
		w.WriteString(line)
	}
}

// base64Lines writes n random bytes as base64 in 76-column lines, or in one
// line when oneLine.
func base64Lines(w *bytes.Buffer, n int, oneLine bool, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	raw := make([]byte, n)
	for i := range raw {
		raw[i] = byte(rng.Uint32())
	}
	enc := base64.StdEncoding.EncodeToString(raw)
	if oneLine {
		w.WriteString(enc)
		w.WriteString("\r\n")
		return
	}
	for len(enc) > 76 {
		w.WriteString(enc[:76])
		w.WriteString("\r\n")
		enc = enc[76:]
	}
	w.WriteString(enc + "\r\n")
}

// nested writes levels multipart levels around inner.
func nested(w *bytes.Buffer, levels int, inner func(w *bytes.Buffer)) {
	for i := range levels {
		fmt.Fprintf(w, "Content-Type: multipart/mixed; boundary=n%d\r\n\r\n--n%d\r\n", i, i)
	}
	inner(w)
	for i := levels - 1; i >= 0; i-- {
		fmt.Fprintf(w, "\r\n--n%d--\r\n", i)
	}
}

var memShapes = []memShape{
	{name: "baseline: one small message", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: small\r\n\r\n")
		w.WriteString("It broke.\r\n")
	}},
	{name: "message header: 25 MiB of tiny lines", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: lines\r\n")
		fill(w, "X-A: b\r\n", shapeSize)
		w.WriteString("\r\nbody\r\n")
	}},
	{name: "part header: 25 MiB of tiny lines", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: lines\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n")
		fill(w, "X-A: b\r\n", shapeSize)
		w.WriteString("\r\nbody\r\n--b--\r\n")
	}},
	{name: "part header: one 25 MiB line", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: line\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Long: ")
		fill(w, "x", shapeSize)
		w.WriteString("\r\n\r\nbody\r\n--b--\r\n")
	}},
	{name: "message header: one 20 MiB Subject line", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: ")
		fill(w, "s", 20<<20)
		w.WriteString("\r\n\r\nbody\r\n")
	}},
	{name: "message header at both limits (2000 fields, 256 KiB), 24 MiB of text", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: full header\r\nContent-Type: text/plain; charset=utf-8\r\n")
		for i := range 2000 - 7 { // 7 fields above
			fmt.Fprintf(w, "X-Fill-%04d: %s\r\n", i, strings.Repeat("v", 110))
		}
		w.WriteString("\r\n")
		fill(w, strings.Repeat("word ", 14)+"\r\n", shapeSize)
	}},
	{name: "1000 parts, each header at 2000 fields", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: fat parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
		for range 1000 {
			w.WriteString("--b\r\nContent-Type: application/octet-stream\r\n")
			for range 1999 {
				w.WriteString("X-A: b\r\n")
			}
			w.WriteString("\r\nx\r\n")
		}
		w.WriteString("--b--\r\n")
	}},
	{name: "1000 parts of 25 KiB (base64 attachments)", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: many\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
		for i := range 1000 {
			fmt.Fprintf(w, "--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=f%d.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n", i)
			base64Lines(w, 18<<10, false, uint64(i))
		}
		w.WriteString("--b--\r\n")
	}},
	{name: "1000 tiny attachments", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: tiny\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n")
		for i := range 999 {
			fmt.Fprintf(w, "--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a%d.txt\r\n\r\nx\r\n", i)
		}
		w.WriteString("--b--\r\n")
	}},
	{name: "parts past 1000: 25 MiB of empty parts", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: empty parts\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
		fill(w, "--b\r\n\r\n\r\n", shapeSize)
		w.WriteString("--b--\r\n")
	}},
	{name: "999 HTML parts of 25 KiB in an alternative", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: html\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n")
		para := "<p>" + strings.Repeat("text <b>bold</b> ", 1500) + "</p>\r\n"
		for range 999 {
			w.WriteString("--b\r\nContent-Type: text/html\r\n\r\n" + para)
		}
		w.WriteString("--b--\r\n")
	}},
	{name: "32 levels deep, 18 MiB attachment inside", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: deep\r\n")
		nested(w, 32, func(w *bytes.Buffer) {
			w.WriteString("Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=deep.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
			base64Lines(w, 18<<20, false, 1)
		})
	}},
	{name: "33 levels deep, 18 MiB attachment inside", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: deeper\r\n")
		nested(w, 33, func(w *bytes.Buffer) {
			w.WriteString("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
			base64Lines(w, 18<<20, false, 2)
		})
	}},
	{name: "nesting to 25 MiB (about 400,000 levels)", quarantined: true, build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: deepest\r\n")
		for i := 0; w.Len() < shapeSize-100; i++ {
			fmt.Fprintf(w, "Content-Type: multipart/mixed; boundary=%x\r\n\r\n--%x\r\n", i, i)
		}
		w.WriteString("Content-Type: text/plain\r\n\r\nbottom\r\n")
	}},
	{name: "18 MiB base64 attachment", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: dump\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=dump.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		base64Lines(w, 18<<20, false, 3)
		w.WriteString("--b--\r\n")
	}},
	{name: "18 MiB base64 attachment in one line", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: dump\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
			"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=dump.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n")
		base64Lines(w, 18<<20, true, 4)
		w.WriteString("--b--\r\n")
	}},
	{name: "delivery report: 25 MiB status part", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: Undelivered Mail Returned to Sender\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n"+
			"--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"+
			"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test\r\n\r\n")
		fill(w, "Final-Recipient: rfc822; someone@acme.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n", shapeSize-100)
		w.WriteString("--r--\r\n")
	}},
	{name: "text/plain body: one 25 MiB line", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: line\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
		fill(w, "word ", shapeSize)
	}},
	{name: "text/plain body: 25 MiB of blank lines", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: blank\r\nContent-Type: text/plain\r\n\r\n")
		fill(w, "\r\n", shapeSize)
	}},
	{name: "text/plain body: one 25 MiB quoted-printable line", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: qp\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		fill(w, "caf=E9 ", shapeSize)
	}},
	{name: "text/html body: one 25 MiB line", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: html\r\nContent-Type: text/html\r\n\r\n<html><body><p>")
		fill(w, "word ", shapeSize)
	}},
	{name: "text/html body: one 25 MiB attribute", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: html\r\nContent-Type: text/html\r\n\r\n<html><body><a href=\"")
		fill(w, "x", shapeSize)
		w.WriteString("\">link</a>")
	}},
	{name: "text/html body: 25 MiB of nested <ul><li>", build: func(w *bytes.Buffer) {
		shapeHeader(w, "Subject: html\r\nContent-Type: text/html\r\n\r\n<html><body>")
		fill(w, "<ul><li>x", shapeSize)
	}},
}

// Each shape of message that could take the parser's memory, up to
// limits.max_message_bytes, is fetched, parsed and applied (or quarantined)
// by a process of its own: this test binary as TestMemoryChild, running the
// poller once against an in-process IMAP server in this process, with a
// store and data_dir of its own. Its peak RSS (VmHWM) must stay under
// 256 MiB. The table: go test -run TestPeakMemoryPerShape -v ./mailin/
// (its times include the test IMAP server's, which parses every header it
// serves).
func TestPeakMemoryPerShape(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and parses 25 MiB messages in a child process each")
	}
	if raceEnabled {
		t.Skip("the race detector multiplies memory: peak RSS means nothing under it")
	}
	var table strings.Builder
	table.WriteString("| shape | message | outcome | peak RSS (VmHWM) | time |\n|---|---|---|---|---|\n")
	for _, sh := range memShapes {
		var w bytes.Buffer
		sh.build(&w)
		size := w.Len()
		if size > 26214400 {
			t.Fatalf("%s: %d bytes, over max_message_bytes", sh.name, size)
		}
		res := runMemoryChild(t, w.Bytes())
		outcome := "applied"
		if res.Stats.Quarantined == 1 {
			outcome = "quarantined: " + res.Reason
		}
		fmt.Fprintf(&table, "| %s | %.1f MiB | %s | %.1f MiB | %s |\n", sh.name, float64(size)/(1<<20), outcome,
			float64(res.PeakKB)/1024, time.Duration(res.Millis)*time.Millisecond)
		if want := map[bool]Stats{false: {Fetched: 1, IntakeStats: workflow.IntakeStats{Applied: 1}}, true: {Fetched: 1, IntakeStats: workflow.IntakeStats{Quarantined: 1}}}[sh.quarantined]; res.Stats != want {
			t.Errorf("%s: stats %+v, want %+v (%s)", sh.name, res.Stats, want, res.Reason)
		}
		if res.PeakKB<<10 >= maxPeakRSS {
			t.Errorf("%s: peak RSS %.1f MiB, want under %d MiB", sh.name, float64(res.PeakKB)/1024, maxPeakRSS>>20)
		}
	}
	t.Logf("peak memory per shape (GOGC=%s, %d MiB limit):\n%s", orDefault(os.Getenv("GOGC"), "100"), maxPeakRSS>>20, table.String())
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// memResult is what TestMemoryChild reports.
type memResult struct {
	Stats  Stats
	Reason string
	PeakKB int64
	Millis int64
}

// runMemoryChild delivers raw to a new in-process IMAP server and runs
// TestMemoryChild against it.
func runMemoryChild(t *testing.T, raw []byte) memResult {
	t.Helper()
	srv, err := localmail.StartIMAPWith(localmail.IMAPOptions{Username: "esc@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := srv.Append("INBOX", raw, time.Now()); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MAILIN_MEM_PORT="+strconv.Itoa(srv.Port), "MAILIN_MEM_DATA="+t.TempDir(),
		"MAILIN_MEM_ESC="+filepath.Join(t.TempDir(), "escalations"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("memory child: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		if js, ok := strings.CutPrefix(line, "MEMCHILD "); ok {
			var res memResult
			if err := json.Unmarshal([]byte(js), &res); err != nil {
				t.Fatal(err)
			}
			return res
		}
	}
	t.Fatalf("memory child reported nothing:\n%s\n%s", out, stderr.Bytes())
	return memResult{}
}

// TestMemoryChild is the daemon's poller for TestPeakMemoryPerShape: one
// `escalationd once` (fetch, archive, parse, apply or quarantine, tracking
// file, mark), then its peak RSS.
func TestMemoryChild(t *testing.T) {
	port := os.Getenv("MAILIN_MEM_PORT")
	if port == "" {
		t.Skip("run by TestPeakMemoryPerShape")
	}
	portN, _ := strconv.Atoi(port)
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg, eng := childEngine(t, os.Getenv("MAILIN_MEM_ESC"), os.Getenv("MAILIN_MEM_DATA"), log)
	p := New(Options{
		Host: "127.0.0.1", Port: portN, TLS: "none", Username: "esc@example.com", Password: "pw",
		DataDir: cfg.Escalation.DataDir, MaxMessageBytes: cfg.Limits.MaxMessageBytes,
		MaxHeaderBytes: cfg.Limits.MaxHeaderBytes, MaxHeaderFields: cfg.Limits.MaxHeaderFields,
	}, eng.Store(), eng, log)
	start := time.Now()
	stats, err := once(p)
	if err != nil {
		t.Fatal(err)
	}
	res := memResult{Stats: stats, PeakKB: vmHWM(t), Millis: time.Since(start).Milliseconds()}
	for _, reason := range loggedReasons(t, logs.Bytes()) {
		res.Reason = reason
	}
	js, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("MEMCHILD %s\n", js)
}

// vmHWM is this process's peak resident set size in KiB.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}
