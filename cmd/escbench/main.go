// Command escbench measures escalationd against the in-process IMAP server
// and SMTP sink of internal/localmail: the raw fetch-and-parse baseline, the
// throughput of `escalationd once` on a backlog, the latency of `escalationd
// run` from APPEND to acknowledgement, and the daemon's peak memory. The
// daemon always runs as its own subprocess, so its numbers are not mixed
// with the servers'. It prints a markdown table on stdout; progress goes to
// stderr.
//
//	go run ./cmd/escbench -n 10000 -latency
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

type options struct {
	n        int
	latency  bool
	latN     int
	latGap   time.Duration
	mem50    bool
	memRuns  int
	bin      string
	dir      string
	keep     bool
	timeout  time.Duration
	baseline bool
	backlog  bool
	profile  string
	stack    bool
	stackN   int
	runBack  bool
}

func main() {
	launched()
	var o options
	flag.IntVar(&o.n, "n", 10000, "messages in the backlog")
	flag.BoolVar(&o.latency, "latency", false, "also measure APPEND→ack latency of `escalationd run`")
	flag.IntVar(&o.latN, "latency-n", 200, "requests appended in the latency run")
	flag.DurationVar(&o.latGap, "latency-gap", 50*time.Millisecond, "spacing of the latency run's APPENDs (the workload)")
	flag.BoolVar(&o.mem50, "mem50", true, "also measure peak RSS for one message with a 50 MiB attachment")
	flag.IntVar(&o.memRuns, "mem50-runs", 3, "how many times to run the 50 MiB case (peak RSS varies with GC timing)")
	flag.BoolVar(&o.baseline, "baseline", true, "measure the raw imapclient+go-message baseline")
	flag.BoolVar(&o.backlog, "backlog", true, "measure `escalationd once` on the N-message backlog")
	flag.StringVar(&o.bin, "bin", "", "escalationd binary (default: go build into the work folder)")
	flag.StringVar(&o.dir, "dir", "", "work folder (default: a new temporary folder)")
	flag.BoolVar(&o.keep, "keep", false, "keep the work folder")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up on a daemon run after this long")
	flag.BoolVar(&o.stack, "stack", true, "also run the backlog against the e2e Dovecot + Postfix when they run (internal/e2e/stack)")
	flag.IntVar(&o.stackN, "stack-n", 0, "messages in the Dovecot backlog (default: -n)")
	flag.BoolVar(&o.runBack, "run-backlog", true, "also measure `escalationd run` started on the N-message backlog")
	flag.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the daemon's `once` run to this file")
	flag.Parse()
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "escbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s escbench: "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// A measurement runs in dir with the daemon binary bin and returns its rows
// of the table; on an error, the rows it has so far.
type measurement func(o options, dir, bin string) ([]row, error)

// bench runs the measurements o asks for, in order, and prints the table,
// also when one fails (with the rows measured until then).
func bench(o options) error {
	started := time.Now()
	if o.n < 1 {
		return errors.New("-n must be at least 1")
	}
	dir, err := workDir(o)
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	bin, err := daemonBinary(o.bin, dir)
	if err != nil {
		return err
	}
	if o.stackN <= 0 {
		o.stackN = o.n
	}
	steps := []struct {
		on      bool
		measure measurement
	}{
		{o.baseline || o.backlog, backlogBench},
		{o.stack && o.backlog, stackBench},
		{o.runBack && o.backlog, runBacklogBench},
		{o.latency, latencyBench},
		{o.mem50, bigBenchN},
	}
	var rows []row
	for _, s := range steps {
		if !s.on {
			continue
		}
		r, err := s.measure(o, dir, bin)
		rows = append(rows, r...)
		if err != nil {
			printTable(os.Stdout, rows, time.Since(started))
			return err
		}
	}
	printTable(os.Stdout, rows, time.Since(started))
	return nil
}

// workDir is -dir, or a new temporary folder.
func workDir(o options) (string, error) {
	if o.dir != "" {
		return o.dir, nil
	}
	return os.MkdirTemp("", "escbench-")
}

// daemonBinary returns the absolute path of bin, or builds escalationd into
// dir when bin is "".
func daemonBinary(bin, dir string) (string, error) {
	if bin == "" {
		bin = filepath.Join(dir, "escalationd")
		logf("building %s", bin)
		cmd := exec.Command("go", "build", "-o", bin, "github.com/escalationd/escalationd/cmd/escalationd")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go build: %w", err)
		}
	}
	bin, _ = filepath.Abs(bin)
	return bin, nil
}
