package workflow

import "time"

// View is everything the tracking file of one escalation shows, read from the
// store in one transaction. RenderTracking turns it into markdown.
type View struct {
	ID            int64
	Tag           string // "ESC-00042"
	Type          Type
	Level         string
	Status        Status
	CustomerName  string // customers entry name, or the sender's address
	CustomerEmail string
	Subject       string // original subject, prefixes and tags removed (untrusted)
	Owner         string // "@tier2"; "" when nobody owns it
	Opened        time.Time
	NextUpdateDue time.Time // zero: none
	Overdue       bool      // next update passed without an update
	SLAConsumed   int       // percent of the type's SLA since the last level change
	SLA           time.Duration
	Reasons       []string // classification reasons, in words
	Timeline      []TimelineEntry
	Checklist     [7]bool // the guide's seven handoff items, in order
	Actions       []Action
	Log           []LogEntry
	Plan          []string // resolution plan lines, oldest first (untrusted when staff wrote them)

	// timelineText and logText, when set, are the bodies of the Timeline
	// and Communication Log sections as RenderTracking writes them, kept
	// from an earlier render (the engine's cache of long escalations);
	// Timeline and Log are not read then.
	timelineText, logText []byte
}

// TimelineEntry is one line of the timeline.
type TimelineEntry struct {
	At    time.Time
	Text  string // written by the daemon, may quote untrusted text
	Actor string // address of who caused it; "" for the daemon
}

// Action is one item of Actions & Owners.
type Action struct {
	Text  string
	Owner string // "@bob"
	Done  bool
}

// LogEntry is one message of the communication log, in or out.
type LogEntry struct {
	At          time.Time
	Inbound     bool // true: received; false: sent by the daemon
	From        Address
	To          []Address
	Subject     string
	Text        string // new text, quoted text stripped (untrusted)
	Note        string // e.g. "acknowledgement", "delivery failed: 550 ...", "automatic reply"
	Attachments []LoggedAttachment
}

// LoggedAttachment is a saved attachment, linked from the log.
type LoggedAttachment struct {
	Name    string // safe file name inside the escalation's folder
	RelPath string // relative to the tracking file: "ESC-00042/report.pdf"
	Size    int64
}

// ChecklistItems are the guide's seven handoff items, in order (§9).
var ChecklistItems = [7]string{
	"Complete troubleshooting summary",
	"Document steps already attempted",
	"Customer impact assessment",
	"Diagnostic data collected",
	"Customer expectation set",
	"Next tier engineer assigned",
	"Customer notified of escalation",
}
