package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The daemon under test, run as a subprocess under the launcher (launch.go):
// `escalationd once` to completion, or `escalationd run` until stopped.

// result is what one `once` run did.
type result struct {
	code   int
	took   time.Duration
	maxRSS int64         // bytes, ru_maxrss
	hwm    int64         // bytes, VmHWM polled every 2 ms
	stderr string        // the path of its log (stdout and stderr)
	cpu    time.Duration // user + system CPU of the daemon
	served time.Duration // user + system CPU of this process (the servers) meanwhile
}

// selfCPU is the user + system CPU this process has used.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runOnce runs `escalationd once --config cfg` as a subprocess.
func runOnce(bin, cfg string, timeout time.Duration, profile string) (result, error) {
	logPath := filepath.Join(filepath.Dir(cfg), "once.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return result{}, err
	}
	defer logFile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rssFile := filepath.Join(filepath.Dir(cfg), "once.rss")
	args := []string{"once", "--config", cfg}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	cmd, err := daemonCommand(ctx, rssFile, bin, args...)
	if err != nil {
		return result{}, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start, served := time.Now(), selfCPU()
	err = cmd.Run()
	took := time.Since(start)
	res := result{took: took, stderr: logPath, served: selfCPU() - served}
	if cmd.ProcessState == nil {
		return res, err
	}
	res.code = cmd.ProcessState.ExitCode()
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	res.maxRSS, res.hwm = readRSS(rssFile)
	return res, nil
}

// maxRSS is the ru_maxrss of an exited process, in bytes.
func maxRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return int64(ru.Maxrss) * 1024 // KiB on Linux
	}
	return 0
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// daemonRun is `escalationd run` started as a subprocess.
type daemonRun struct {
	cmd      *exec.Cmd
	log, rss string // its log and the file its peak RSS is written to
	exited   chan error
	stopped  bool
	code     int
}

// startRun starts `escalationd run --config cfg`, logging to work/run.log.
func startRun(bin, work, cfg string) (*daemonRun, error) {
	r := &daemonRun{log: filepath.Join(work, "run.log"), rss: filepath.Join(work, "run.rss"), exited: make(chan error, 1)}
	logFile, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	if r.cmd, err = daemonCommand(context.Background(), r.rss, bin, "run", "--config", cfg); err != nil {
		return nil, err
	}
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { r.exited <- r.cmd.Wait() }()
	return r, nil
}

// stop sends SIGTERM and waits for the exit, killing the daemon after 15 s;
// it returns an error when it had to. Calling it again does nothing.
func (r *daemonRun) stop() error {
	if r.stopped {
		return nil
	}
	r.stopped = true
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		r.code = r.cmd.ProcessState.ExitCode()
		return nil
	case <-time.After(15 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exited
		return errors.New("no exit 15 s after SIGTERM: killed")
	}
}
