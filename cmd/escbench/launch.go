package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Peak RSS of a child is read from its rusage (ru_maxrss). Go starts
// children with vfork semantics, and at execve Linux carries the high-water
// RSS of the memory the child shared until then — the bench process's,
// which holds the whole mailbox — into the child's ru_maxrss. So the daemon
// is started by a launcher: this binary re-executed with launchEnv set,
// small and fresh, which runs the daemon, forwards SIGINT/SIGTERM to it,
// writes its ru_maxrss (KiB) to the file named by rssFileEnv and exits
// with its exit code.
const (
	launchEnv  = "ESCBENCH_LAUNCH"
	rssFileEnv = "ESCBENCH_RSS_FILE"
)

// launched runs the launcher when this process is one; it never returns then.
func launched() {
	if os.Getenv(launchEnv) != "1" {
		return
	}
	os.Exit(launch(os.Args[1:], os.Getenv(rssFileEnv)))
}

func launch(args []string, rssFile string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "escbench launcher: no command")
		return 2
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = withoutLaunchEnv(os.Environ())
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "escbench launcher:", err)
		return 2
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	// A cross-check: VmHWM from /proc, polled while the daemon runs.
	hwm := make(chan int64, 1)
	done := make(chan struct{})
	go func() {
		var peak int64
		status := fmt.Sprintf("/proc/%d/status", cmd.Process.Pid)
		for {
			if kib := vmHWM(status); kib > peak {
				peak = kib
			}
			select {
			case <-done:
				hwm <- peak * 1024
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	_ = cmd.Wait()
	close(done)
	if rssFile != "" {
		out := fmt.Sprintf("%d %d", maxRSS(cmd.ProcessState), <-hwm)
		_ = os.WriteFile(rssFile, []byte(out), 0o644)
	}
	return cmd.ProcessState.ExitCode()
}

func withoutLaunchEnv(env []string) []string {
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, launchEnv+"=") && !strings.HasPrefix(e, rssFileEnv+"=") {
			out = append(out, e)
		}
	}
	return out
}

// daemonCommand returns a command running the daemon bin with args under
// the launcher; its peak RSS (bytes) is read with readRSS(rssFile) after
// it has exited.
func daemonCommand(ctx context.Context, rssFile, bin string, args ...string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, append([]string{bin}, args...)...)
	cmd.Env = append(os.Environ(), launchEnv+"=1", rssFileEnv+"="+rssFile)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	return cmd, nil
}

// readRSS returns the daemon's ru_maxrss and the highest VmHWM polled, in
// bytes.
func readRSS(rssFile string) (maxrss, hwm int64) {
	b, err := os.ReadFile(rssFile)
	if err != nil {
		return 0, 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0
	}
	maxrss, _ = strconv.ParseInt(f[0], 10, 64)
	hwm, _ = strconv.ParseInt(f[1], 10, 64)
	return maxrss, hwm
}

// vmHWM returns VmHWM (KiB) from a /proc/PID/status file, 0 if unknown.
func vmHWM(status string) int64 {
	b, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
