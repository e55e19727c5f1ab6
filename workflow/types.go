// Package workflow is the core of escalationd: the domain types (the inbound
// message as the daemon sees it, the escalation, the outgoing mail), the store,
// routing, classification and the tracking file. It imports neither IMAP nor
// SMTP code; mailin and mailout translate to and from these types.
package workflow

import (
	"errors"
	"os"
	"strings"
	"time"
)

// Address is a mailbox with an optional display name. Email is kept as given,
// compare with strings.EqualFold.
type Address struct {
	Name  string
	Email string
}

// Attachment is a file part of an inbound message. mailin streams its content
// to a spool file (Path); the engine moves it into the escalation's folder.
type Attachment struct {
	Name        string // as the sender named it (untrusted, decoded); may be empty
	ContentType string // e.g. "application/pdf"
	Size        int64  // bytes written to Path
	Path        string // spooled file; the engine takes ownership
}

// Inbound is one message fetched from the escalation mailbox, parsed.
type Inbound struct {
	Mailbox      string    // IMAP mailbox it was fetched from
	UIDValidity  uint32    // of Mailbox when fetched
	UID          uint32    // IMAP UID in Mailbox
	InternalDate time.Time // server arrival time (IMAP INTERNALDATE)
	Size         int64     // RFC822.SIZE
	RawPath      string    // archived raw message (under data_dir), kept for audit
	RawSHA256    string    // hex digest of the raw bytes

	MessageID   string   // without angle brackets; "" when the message has none
	InReplyTo   []string // message ids without angle brackets
	References  []string // message ids without angle brackets, oldest first
	From        Address
	To          []Address
	Cc          []Address
	ReplyTo     []Address
	DeliveredTo []string // Delivered-To / X-Original-To addresses
	Subject     string   // RFC 2047 decoded, CR/LF folded to spaces
	Date        time.Time

	// Header holds every header field, keys in canonical MIME form
	// ("Auto-Submitted"), values decoded where they are text, except
	// Authentication-Results: never RFC 2047-decoded (see AuthResults).
	Header map[string][]string

	// AuthResults holds the Authentication-Results field values of the
	// message's own header, topmost first, exactly as received apart from
	// unfolding: no RFC 2047 decoding, no charset conversion, so an encoded
	// word in a comment stays a word (§11). The trust checks read only this.
	AuthResults []string

	Text         string   // body text: text/plain preferred, else HTML turned into text
	TextFromHTML bool     // Text was converted from an HTML-only body
	Notes        []string // parser remarks worth logging (e.g. "unknown charset x-foo: shown as received")
	Attachments  []Attachment

	// DeliveryReport is what a delivery status notification (multipart/report;
	// report-type=delivery-status) says; nil for any other message.
	DeliveryReport *DeliveryReport
}

// DeliveryReport is the gist of a DSN (RFC 3464): the first recipient it
// reports a failure for (else its first recipient) and the Message-ID of the
// mail it returns.
type DeliveryReport struct {
	Recipient         string // Original-Recipient, else Final-Recipient, without its "rfc822;" type
	Action            string // "failed", "delayed", "delivered", "relayed", "expanded"; lower case
	Status            string // e.g. "5.1.1"
	Diagnostic        string // Diagnostic-Code without its "smtp;" type, e.g. "550 5.1.1 User unknown"
	OriginalMessageID string // Message-ID of the returned mail, without angle brackets; "" when not quoted
}

// Failed reports whether the report is of a permanent failure.
func (r *DeliveryReport) Failed() bool {
	switch r.Action {
	case "failed":
		return true
	case "":
		return strings.HasPrefix(r.Status, "5.")
	}
	return false
}

// Reason is the diagnostic, else the status code.
func (r *DeliveryReport) Reason() string {
	if r.Diagnostic != "" {
		return r.Diagnostic
	}
	if r.Status != "" {
		return "status " + r.Status
	}
	return "no reason given"
}

// MessageRef names a fetched message on the server without its content: what
// the store needs to checkpoint, mark or quarantine it.
type MessageRef struct {
	Mailbox      string
	UIDValidity  uint32
	UID          uint32
	InternalDate time.Time
	Size         int64
}

// Type is the kind of escalation (§4).
type Type string

// The escalation types of §4.
const (
	Technical Type = "Technical"
	Executive Type = "Executive"
	Vendor    Type = "Vendor"
)

// Status is the state of an escalation (§5).
type Status string

// The statuses of §5, exactly these words.
const (
	StatusActive    Status = "ACTIVE"
	StatusEscalated Status = "ESCALATED"
	StatusResolved  Status = "RESOLVED"
)

// Disposition tells what became of a fetched message.
type Disposition string

// Dispositions of a fetched message.
const (
	Applied     Disposition = "applied"     // its effects are committed
	Duplicate   Disposition = "duplicate"   // the same message was applied before
	Quarantined Disposition = "quarantined" // moved aside with a reason
)

// Outgoing is one queued mail. Everything that goes on the wire is fixed when
// it is queued, so a retry sends the same message (same Message-ID).
type Outgoing struct {
	ID           int64  // outbox row
	EscalationID int64  // 0 when it belongs to none
	Kind         string // "ack", "notify", "reminder", "error", "update", "vendor"
	MessageID    string // without angle brackets
	From         Address
	EnvelopeFrom string // SMTP MAIL FROM: the escalation address, never empty
	To           []Address
	Cc           []Address
	ReplyTo      string // the escalation's plus-address
	Subject      string
	InReplyTo    string   // without angle brackets; "" for none
	References   []string // without angle brackets
	Date         time.Time
	// Headers are the extra header fields in order: Auto-Submitted,
	// X-Auto-Response-Suppress, X-Escalationd-Loop.
	Headers [][2]string
	Body    string // text/plain, UTF-8
}

// ErrPermanent marks a delivery failure that retrying cannot fix (an SMTP 5xx).
// A Mailer wraps it: fmt.Errorf("%w: 550 5.1.1 no such user", workflow.ErrPermanent).
var ErrPermanent = errors.New("permanent delivery failure")

// RemoveSpool deletes the spooled attachments of a message that is not
// applied. An attachment the engine has already moved into escalation.dir
// is no longer in the spool, and is left alone.
func (in *Inbound) RemoveSpool() {
	for _, a := range in.Attachments {
		if a.Path != "" {
			os.Remove(a.Path)
		}
	}
}
