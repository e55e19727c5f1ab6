package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// row is one line of the result table.
type row struct {
	what, msgs, took, rate, rss, notes string
}

// printTable writes the command line and the rows as a markdown table.
func printTable(w io.Writer, rows []row, total time.Duration) {
	fmt.Fprintf(w, "\n`%s`  (GOMAXPROCS/CPUs: %d; total %s)\n\n", strings.Join(os.Args, " "), runtime.NumCPU(), total.Round(time.Millisecond))
	fmt.Fprintln(w, "| measurement | messages | wall time | msg/s | daemon peak RSS (ru_maxrss) | notes |")
	fmt.Fprintln(w, "| --- | ---: | ---: | ---: | ---: | --- |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.what, r.msgs, r.took, r.rate, r.rss, r.notes)
	}
}

func dur(d time.Duration) string { return d.Round(time.Millisecond).String() }

func rate(n int, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds())
}

// times is a ratio of wall times, as the table shows it: "13.2×".
func times(d, base time.Duration) string {
	return fmt.Sprintf("%.1f×", d.Seconds()/base.Seconds())
}

func mib(b int64) string {
	if b == 0 {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

// rssCell shows ru_maxrss, and VmHWM as polled when it differs.
func rssCell(maxrss, hwm int64) string {
	if hwm == 0 || mib(hwm) == mib(maxrss) {
		return mib(maxrss)
	}
	return fmt.Sprintf("%s (VmHWM %s)", mib(maxrss), mib(hwm))
}
