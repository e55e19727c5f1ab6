package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/mailin"
	"github.com/escalationd/escalationd/mailout"
	"github.com/escalationd/escalationd/templates"
	"github.com/escalationd/escalationd/workflow"
)

// configError is a problem with the configuration or templates: exit 2.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

// daemon is every part, built from one config and wired together.
type daemon struct {
	store  workflow.Store
	engine *workflow.Engine
	poller *mailin.Poller
	sender *mailout.Sender
	tick   time.Duration    // escalation.timer_tick
	now    func() time.Time // the clock the engine schedules by
	log    *slog.Logger
}

// build opens the store and builds the parts. The data flows: mailin.Poller
// fetches and parses → workflow.Engine routes, applies, queues mail and
// writes tracking files → mailout.Sender delivers the outbox.
func build(cfg config.Config, now func() time.Time, log *slog.Logger) (*daemon, error) {
	tmpl, err := templates.Load(cfg.Escalation.TemplatesDir)
	if err != nil {
		return nil, configError{err}
	}
	st, err := sqlite.Open(cfg.Escalation.DataDir)
	if err != nil {
		return nil, err
	}
	eng, err := workflow.New(st, workflow.OptionsFrom(cfg).With(tmpl, now, log))
	if err != nil {
		st.Close()
		return nil, err
	}
	poller := mailin.New(mailin.Options{
		Host:              cfg.IMAP.Host,
		Port:              cfg.IMAP.Port,
		TLS:               cfg.IMAP.TLS,
		Username:          cfg.IMAP.Username,
		Password:          cfg.IMAP.Password,
		Mailbox:           cfg.IMAP.Mailbox,
		ProcessedMailbox:  cfg.IMAP.ProcessedMailbox,
		QuarantineMailbox: cfg.IMAP.QuarantineMailbox,
		PollInterval:      cfg.IMAP.PollInterval,
		Idle:              cfg.IMAP.Idle,
		MaxMessageBytes:   cfg.Limits.MaxMessageBytes,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		MaxHeaderFields:   cfg.Limits.MaxHeaderFields,
		DataDir:           cfg.Escalation.DataDir,
		MaxBackoff:        cfg.IMAP.ReconnectMax,
	}, st, eng, log.With("part", "mailin"))
	sender := mailout.NewSender(mailout.Options{
		Host:     cfg.SMTP.Host,
		Port:     cfg.SMTP.Port,
		TLS:      cfg.SMTP.TLS,
		Username: cfg.SMTP.Username,
		Password: cfg.SMTP.Password,
	})
	return &daemon{store: st, engine: eng, poller: poller, sender: sender, tick: cfg.Escalation.TimerTick, now: now, log: log}, nil
}

func (d *daemon) close() { d.store.Close() }

// run is `escalationd run`: the poller and the outbox sender until ctx ends.
func run(ctx context.Context, cfg config.Config, now func() time.Time, log *slog.Logger) error {
	warnings(cfg, log)
	release, err := lockDataDir(cfg.Escalation.DataDir)
	if err != nil {
		return err
	}
	defer release()
	d, err := build(cfg, now, log)
	if err != nil {
		return err
	}
	defer d.close()
	return d.run(ctx)
}

func (d *daemon) run(ctx context.Context) error {
	d.log.Info("escalationd running")
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := d.poller.Run(ctx); err != nil {
			d.log.Error("mailbox watcher stopped", "err", err)
		}
	})
	wg.Go(func() { d.sendLoop(ctx) })
	wg.Go(func() { d.timerLoop(ctx, d.tick) })
	wg.Wait()
	d.log.Info("escalationd stopped")
	return nil
}

// timerLoop fires due timers at start-up and every escalation.timer_tick.
func (d *daemon) timerLoop(ctx context.Context, tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		if n, err := d.engine.RunTimers(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("timers failed; retried at the next tick", "err", err)
		} else if n > 0 {
			d.log.Info("timers fired", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sendLoop drains the outbox whenever mail is queued or a retry is due, and
// writes the tracking files of the escalations whose mail went out.
func (d *daemon) sendLoop(ctx context.Context) {
	log := d.log.With("part", "outbox")
	for {
		if _, err := d.engine.FlushOutbox(ctx, d.sender, false); err != nil && ctx.Err() == nil {
			log.Error("outbox flush failed", "err", err)
		}
		// A failure is retried here after the next flush, and by the
		// poller before it marks anything.
		if _, err := d.engine.RenderBehind(context.WithoutCancel(ctx)); err != nil {
			log.Error("tracking files not written", "err", err)
		}
		wait := time.Minute
		if at, ok, err := d.engine.NextOutboxDue(ctx); err == nil && ok {
			// Due times come from the engine's clock: wait by the same one.
			wait = max(at.Sub(d.now()), 0) + 10*time.Millisecond
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-d.engine.OutboxWake():
		case <-timer.C:
		}
		timer.Stop()
	}
}

// once is `escalationd once`: fetch and handle everything pending, flush the
// whole outbox, exit 0 when nothing is left to do.
func once(ctx context.Context, cfg config.Config, now func() time.Time, log *slog.Logger) int {
	warnings(cfg, log)
	release, err := lockDataDir(cfg.Escalation.DataDir)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitWork
	}
	defer release()
	d, err := build(cfg, now, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		if _, ok := err.(configError); ok {
			return exitConfig
		}
		return exitWork
	}
	defer d.close()
	code := exitOK
	// The outbox is sent while the messages are applied; timers and a last
	// flush run when all are applied, before the tracking files are written,
	// so each file is written once, with the mail sent. Mail committed
	// before is sent even when the server cannot be reached.
	stopSending := d.sendWhileApplying(ctx, log)
	var st mailin.Stats
	sess, err := d.poller.Connect(ctx)
	if err == nil {
		defer sess.Close()
		st, err = sess.FetchAll(ctx)
	}
	fired, flushed, ok := d.finishSending(ctx, stopSending, log)
	if !ok {
		code = exitWork
	}
	if sess != nil {
		if serr := sess.Settle(ctx); serr != nil {
			err = errors.Join(err, serr)
		} else if err == nil {
			err = sess.Logout()
		}
	}
	if err != nil {
		log.Error("mailbox cycle failed; unhandled mail stays on the server for the next run", "err", err)
		code = exitWork
		// The poller could not settle (the server was unreachable, say):
		// the mail sent is still shown in the tracking files.
		if _, err := d.engine.RenderBehind(context.WithoutCancel(ctx)); err != nil {
			log.Error("tracking files not written", "err", err)
		}
	}
	if flushed.Pending > 0 {
		log.Warn("mail stays queued for the next run", "queued", flushed.Pending)
		code = exitWork
	}
	log.Info("cycle done", "timers", fired, "fetched", st.Fetched, "applied", st.Applied, "duplicates", st.Duplicates,
		"quarantined", st.Quarantined, "sent", flushed.Sent, "failed", flushed.Failed, "queued", flushed.Pending)
	return code
}

// finishSending stops the sending started by sendWhileApplying, fires the
// timers and sends all that is queued, while the tracking files of the
// escalations whose mail is all out are written. ok is false when timers
// or sending failed.
func (d *daemon) finishSending(ctx context.Context, stopSending func() (workflow.FlushStats, bool), log *slog.Logger) (fired int, flushed workflow.FlushStats, ok bool) {
	// The files of escalations whose mail is all out are written while the
	// rest goes; Settle writes the others after.
	var settled sync.WaitGroup
	settled.Go(func() {
		if _, err := d.engine.RenderSettled(context.WithoutCancel(ctx)); err != nil {
			log.Warn("tracking files not written yet; retried before marking", "err", err)
		}
	})
	defer settled.Wait()
	early, failing := stopSending()
	ok = true
	var err error
	if fired, err = d.engine.RunTimers(ctx); err != nil {
		log.Error("timers failed", "err", err)
		ok = false
	}
	// All queued mail is due in `once`, unless the server failed during
	// this run: what it refused then waits for its backoff.
	if flushed, err = d.engine.FlushOutbox(ctx, d.sender, !failing); err != nil {
		log.Error("outbox flush failed", "err", err)
		ok = false
	}
	flushed.Sent += early.Sent
	flushed.Failed += early.Failed
	return fired, flushed, ok
}

// sendWhileApplying flushes the outbox in the background each time the
// engine queues mail, until the returned stop is called; stop waits for the
// flush in progress and returns what all the flushes sent, and whether the
// server failed. A flush that meets a failing server ends the background
// sending.
func (d *daemon) sendWhileApplying(ctx context.Context, log *slog.Logger) (stop func() (workflow.FlushStats, bool)) {
	done := make(chan struct{})
	var total workflow.FlushStats
	failing := false
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-d.engine.OutboxWake():
			}
			st, err := d.engine.FlushOutbox(ctx, d.sender, true)
			total.Sent += st.Sent
			total.Failed += st.Failed
			if err != nil || st.Deferred > 0 {
				if err != nil && ctx.Err() == nil {
					log.Error("outbox flush failed", "err", err)
				}
				failing = st.Deferred > 0
				return
			}
		}
	})
	return func() (workflow.FlushStats, bool) {
		close(done)
		wg.Wait()
		return total, failing
	}
}

// checkConfig is `escalationd check-config`: the config is already loaded and
// valid; parse and test-render the templates, and print the result without
// secrets.
func checkConfig(cfg config.Config, path string, stdout, stderr io.Writer) int {
	tmpl, err := templates.Load(cfg.Escalation.TemplatesDir)
	if err != nil {
		fmt.Fprintf(stderr, "escalationd: %v\n", err)
		return exitConfig
	}
	r := cfg.Redacted()
	fmt.Fprintf(stdout, "%s: OK\n", path)
	fmt.Fprintf(stdout, "  imap:       %s:%d (tls: %s) as %s, mailbox %s, password %s\n", r.IMAP.Host, r.IMAP.Port, r.IMAP.TLS, r.IMAP.Username, r.IMAP.Mailbox, orNone(r.IMAP.Password))
	fmt.Fprintf(stdout, "  smtp:       %s:%d (tls: %s), from %s, password %s\n", r.SMTP.Host, r.SMTP.Port, r.SMTP.TLS, r.SMTP.From, orNone(r.SMTP.Password))
	fmt.Fprintf(stdout, "  escalation: %s, ids %s-NNNNN, files in %s, store in %s\n", r.Escalation.Address, r.Escalation.IDPrefix,
		filepath.Clean(r.Escalation.Dir), filepath.Clean(r.Escalation.DataDir))
	for _, n := range tmpl.Names() {
		fmt.Fprintf(stdout, "  template:   %s (%s)\n", n, tmpl.Source(n))
	}
	return exitOK
}

// warnings logs what in a valid config an operator should still know about.
func warnings(cfg config.Config, log *slog.Logger) {
	if !cfg.Staff.RequireAuthenticated {
		log.Warn("staff.require_authenticated is false: anyone who forges a From address of staff.domains or staff.addresses can give commands; set it to true (the default): staff then command by replying to the keyed Reply-To of the mail the daemon sends them, or in mail your receiving server (staff.authserv_id) vouches for")
	}
}

// discardLog is for the read-only commands, which only print.
func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func splitHostPort(addr string) (string, int, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return host, n, nil
}
