package main

import (
	"bytes"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Waiting in tests that run the daemon: how long, for what, and the log
// they read to know.

// patience bounds every wait in these tests for something that is coming
// (mail, a log line, a file). The waits return as soon as it is there, so
// this is only a safety net against a hang: a busy machine (other builds, the
// race detector) must never reach it. Time limits that are part of the
// contract (run stops within 10 s of cancel) are spelt out where checked.
const patience = 2 * time.Minute

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of want.
func (l *lockedBuffer) lines(want ...string) []string {
	var out []string
	for line := range strings.Lines(l.String()) {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// logValue is the value of key= in a log line ("" when absent), unquoted.
func logValue(line, key string) string {
	m := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if v, err := strconv.Unquote(m[1]); err == nil {
		return v
	}
	return m[1]
}

// logTime is the time= of a log line.
func logTime(t *testing.T, line string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339Nano, logValue(line, "time"))
	if err != nil {
		t.Fatalf("log line without a time: %s", line)
	}
	return at
}

// captureLog makes the harness log also go to a buffer, for assertions, and
// returns the buffer. Call it before anything logs.
func (h *harness) captureLog() *lockedBuffer {
	logs := &lockedBuffer{}
	h.log = slog.New(slog.NewTextHandler(io.MultiWriter(testWriter{h.t}, logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return logs
}

// eventually polls cond every 20 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
