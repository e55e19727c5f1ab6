package workflow

import (
	"log/slog"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

// Options are what the engine uses: the parts of the configuration the core
// reads, and its templates, clock and log. No server address or credential
// is among them: those belong to the doors (mailin, mailout).
type Options struct {
	Escalation     config.Escalation
	Limits         config.Limits
	Staff          config.Staff
	Customers      []config.Customer
	Vendors        config.Vendors
	Roster         config.Roster
	Classification config.Classification
	Mail           MailOptions

	Templates *templates.Set
	Now       func() time.Time // nil means time.Now
	Log       *slog.Logger     // nil means slog.Default()
}

// MailOptions are what the engine needs to know of the mail it queues.
type MailOptions struct {
	From               string        // smtp.from: the From of every mail
	RetryMin, RetryMax time.Duration // the outbox's backoff between tries
}

// OptionsFrom takes the core's part of a validated configuration; the
// caller adds the templates, the clock and the log.
func OptionsFrom(cfg config.Config) Options {
	return Options{
		Escalation:     cfg.Escalation,
		Limits:         cfg.Limits,
		Staff:          cfg.Staff,
		Customers:      cfg.Customers,
		Vendors:        cfg.Vendors,
		Roster:         cfg.Roster,
		Classification: cfg.Classification,
		Mail:           MailOptions{From: cfg.SMTP.From, RetryMin: cfg.SMTP.RetryMin, RetryMax: cfg.SMTP.RetryMax},
	}
}

// With returns o with the templates, the clock and the log set.
func (o Options) With(tmpl *templates.Set, now func() time.Time, log *slog.Logger) Options {
	o.Templates, o.Now, o.Log = tmpl, now, log
	return o
}
