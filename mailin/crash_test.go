package mailin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/localmail"
	"github.com/escalationd/escalationd/internal/store/sqlite"
)

// A message whose parse kills the daemon (SIGKILL in the middle of it, as
// the kernel's out-of-memory killer would) kills it three times, then is
// quarantined as it came, without a fourth parse; the messages before and
// after it, one of them in its batch, are applied. Each run is a process of
// its own (this test binary, run as TestCrashChild) against one in-process
// IMAP server and one data_dir.
func TestMessageThatKillsTheParserIsQuarantined(t *testing.T) {
	srv, err := localmail.StartIMAPWith(localmail.IMAPOptions{Username: "esc@example.com", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	const killer = 3
	var raw [][]byte
	for n := 1; n <= 5; n++ {
		raw = append(raw, rawMessage(n))
		if uid, err := srv.Append("INBOX", raw[n-1], time.Now()); err != nil || uid != uint32(n) {
			t.Fatalf("append %d: UID %d, %v", n, uid, err)
		}
	}
	dataDir, escDir := t.TempDir(), filepath.Join(t.TempDir(), "escalations")
	run := func() (*os.ProcessState, []byte) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MAILIN_CRASH_PORT="+strconv.Itoa(srv.Port), "MAILIN_CRASH_DATA="+dataDir,
			"MAILIN_CRASH_ESC="+escDir, "MAILIN_CRASH_KILL_UID="+strconv.Itoa(killer))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState, out.Bytes()
	}
	attempts := func() map[uint32]int {
		t.Helper()
		st, err := sqlite.Open(dataDir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		uv, _, _, err := st.Checkpoint(context.Background(), "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		got, err := st.ParseAttempts(context.Background(), "INBOX", uv, []uint32{1, 2, 3, 4, 5})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// Batches of two: [1 2] [3 4] [5]. The first death leaves one
	// unfinished parse on all of [3 4]; from then on they are parsed one at
	// a time, and only the killer is blamed.
	for i, want := range []map[uint32]int{{3: 1, 4: 1}, {3: 2, 4: 1}, {3: 3, 4: 1}} {
		ps, out := run()
		ws, _ := ps.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("run %d: %v, want it killed while parsing UID %d; output:\n%s", i+1, ps, killer, out)
		}
		if got := attempts(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("run %d: unfinished parse starts %v, want %v", i+1, got, want)
		}
	}

	// The fourth run quarantines it unparsed (parsing it would kill this run
	// too) and applies the others.
	ps, out := run()
	if !ps.Success() {
		t.Fatalf("run 4: %v; output:\n%s", ps, out)
	}
	reason := "killed the daemon 3 times while being parsed (out of memory or a crash): quarantined without parsing it again"
	if got := loggedReasons(t, out); fmt.Sprint(got) != fmt.Sprint(map[uint32]string{killer: reason}) {
		t.Errorf("logged reasons %v, want UID %d: %q", got, killer, reason)
	}
	if got := quarantined(t, srv); len(got) != 1 || !bytes.Equal(got[0], raw[killer-1]) {
		t.Errorf("Quarantine holds %d messages, want message %d as delivered", len(got), killer)
	}
	want := map[uint32]string{1: "applied: ", 2: "applied: ", 3: "quarantined: " + reason, 4: "applied: ", 5: "applied: "}
	if got := storedReasons(t, dataDir); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("stored\n%v\nwant\n%v", got, want)
	}
	inbox := flags(t, srv, "INBOX")
	for _, uid := range []uint32{1, 2, 4, 5} {
		if !slices.Contains(inbox[uid], `\Seen`) {
			t.Errorf("UID %d not marked handled: %v", uid, inbox[uid])
		}
	}
	if got := attempts(); len(got) != 0 {
		t.Errorf("unfinished parse starts left: %v", got)
	}
}

// TestCrashChild is one start of the daemon's poller for
// TestMessageThatKillsTheParserIsQuarantined: `escalationd once` with
// batches of two, whose parse of MAILIN_CRASH_KILL_UID kills the process.
func TestCrashChild(t *testing.T) {
	port := os.Getenv("MAILIN_CRASH_PORT")
	if port == "" {
		t.Skip("run by TestMessageThatKillsTheParserIsQuarantined")
	}
	portN, _ := strconv.Atoi(port)
	kill, _ := strconv.Atoi(os.Getenv("MAILIN_CRASH_KILL_UID"))
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, eng := childEngine(t, os.Getenv("MAILIN_CRASH_ESC"), os.Getenv("MAILIN_CRASH_DATA"), log)
	p := New(Options{
		Host: "127.0.0.1", Port: portN, TLS: "none", Username: "esc@example.com", Password: "pw",
		DataDir: cfg.Escalation.DataDir, BatchSize: 2,
	}, eng.Store(), eng, log)
	p.beforeParse = func(uid uint32) {
		if uid == uint32(kill) {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal is on its way
		}
	}
	if _, err := once(p); err != nil {
		t.Fatal(err)
	}
}
