package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/workflow"
)

// list is `escalationd list`: every escalation, open ones first, with what
// is due.
func list(ctx context.Context, cfg config.Config, now func() time.Time, w io.Writer) error {
	d, err := buildForReading(cfg, now)
	if err != nil {
		return err
	}
	defer d.close()
	all, err := d.engine.List(ctx)
	if err != nil {
		return err
	}
	loc := cfg.Location()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tLEVEL\tSTATUS\tNEXT UPDATE\tSLA\tOWNER\tCUSTOMER — SUBJECT")
	open := 0
	for _, closed := range []bool{false, true} {
		for _, s := range all {
			if (s.Status == workflow.StatusResolved) != closed {
				continue
			}
			if !closed {
				open++
			}
			next := "-"
			sla := "-"
			if s.Status != workflow.StatusResolved {
				next = workflow.FormatTime(s.NextUpdateDue, loc)
				if s.Overdue {
					next += " (overdue)"
				}
				sla = strconv.Itoa(s.SLAConsumed) + "%"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s — %s\n", s.Tag, s.Type, s.Level, s.Status, next, sla, orDash(s.Owner),
				workflow.OneLine(s.CustomerName), workflow.OneLine(s.Subject))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\n%d open, %d resolved\n", open, len(all)-open)
	return nil
}

// show is `escalationd show ESC-00042`: the tracking file as the store has
// it now, and the escalation's mail.
func show(ctx context.Context, cfg config.Config, tag string, now func() time.Time, w io.Writer) error {
	prefix := strings.ToUpper(cfg.Escalation.IDPrefix) + "-"
	num, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(tag)), prefix)
	id, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || id <= 0 {
		return fmt.Errorf("%q is not an escalation id like %s00042", tag, prefix)
	}
	d, err := buildForReading(cfg, now)
	if err != nil {
		return err
	}
	defer d.close()
	v, err := d.engine.View(ctx, id)
	if errors.Is(err, workflow.ErrNotFound) {
		return fmt.Errorf("no escalation %s in %s", d.engine.Tag(id), cfg.Escalation.DataDir)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", d.engine.Tag(id), err)
	}
	w.Write(workflow.RenderTracking(v, cfg.Location()))
	mail, err := d.engine.Outbox(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\n## Mail (outbox)\n")
	n := 0
	for _, m := range mail {
		if m.EscalationID != id {
			continue
		}
		n++
		to := make([]string, len(m.To))
		for i, a := range m.To {
			to[i] = a.Email
		}
		line := fmt.Sprintf("- %s %s to %s: %s", m.Status, m.Kind, strings.Join(to, ", "), workflow.OneLine(m.Subject))
		if m.LastError != "" {
			line += " (" + workflow.OneLine(m.LastError) + ")"
		}
		fmt.Fprintln(w, line)
	}
	if n == 0 {
		fmt.Fprintln(w, "_None yet._")
	}
	fmt.Fprintf(w, "\nTracking file: %s\n", d.engine.TrackingPath(id))
	return nil
}

// buildForReading builds the daemon's parts for list and show. A data_dir
// without a store is an error: a wrong --config must not read as "nothing
// open" (nor leave an empty store behind).
func buildForReading(cfg config.Config, now func() time.Time) (*daemon, error) {
	path := filepath.Join(cfg.Escalation.DataDir, "escalationd.db") // workflow.OpenStore's file
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store in escalation.data_dir %s (has the daemon run with this config?): %w", cfg.Escalation.DataDir, err)
	}
	return build(cfg, now, discardLog())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
