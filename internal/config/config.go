// Package config loads escalationd's configuration (SPEC §3) once, with viper,
// into a typed and validated Config. Nothing else in the program calls viper.
package config

import (
	"net/mail"
	"strings"
	"time"
)

// Config is the whole configuration, decoded and validated.
type Config struct {
	IMAP           IMAP           `mapstructure:"imap"`
	SMTP           SMTP           `mapstructure:"smtp"`
	Escalation     Escalation     `mapstructure:"escalation"`
	Limits         Limits         `mapstructure:"limits"`
	Staff          Staff          `mapstructure:"staff"`
	Customers      []Customer     `mapstructure:"customers"`
	Vendors        Vendors        `mapstructure:"vendors"`
	Roster         Roster         `mapstructure:"roster"`
	Classification Classification `mapstructure:"classification"`
}

// IMAP is the mailbox the daemon reads.
type IMAP struct {
	Host              string        `mapstructure:"host"`
	Port              int           `mapstructure:"port"`
	TLS               string        `mapstructure:"tls"` // implicit | starttls | none
	AllowInsecure     bool          `mapstructure:"allow_insecure"`
	Username          string        `mapstructure:"username"`
	Password          string        `mapstructure:"password"`
	PasswordFile      string        `mapstructure:"password_file"`
	Mailbox           string        `mapstructure:"mailbox"`
	ProcessedMailbox  string        `mapstructure:"processed_mailbox"`
	QuarantineMailbox string        `mapstructure:"quarantine_mailbox"`
	PollInterval      time.Duration `mapstructure:"poll_interval"`
	Idle              bool          `mapstructure:"idle"`
	// ReconnectMax caps the backoff between reconnects (and is the wait after
	// a refused login).
	ReconnectMax time.Duration `mapstructure:"reconnect_max"`
}

// SMTP is the server mail goes out through.
type SMTP struct {
	Host          string `mapstructure:"host"`
	Port          int    `mapstructure:"port"`
	TLS           string `mapstructure:"tls"` // implicit | starttls | none
	AllowInsecure bool   `mapstructure:"allow_insecure"`
	Username      string `mapstructure:"username"`
	Password      string `mapstructure:"password"`
	PasswordFile  string `mapstructure:"password_file"`
	From          string `mapstructure:"from"` // "Escalations <escalations@example.com>"
	// RetryMin and RetryMax bound the outbox's backoff after a failed send.
	RetryMin time.Duration `mapstructure:"retry_min"`
	RetryMax time.Duration `mapstructure:"retry_max"`
}

// Escalation holds the mailbox address, folders and clocks.
type Escalation struct {
	Address        string        `mapstructure:"address"`
	IDPrefix       string        `mapstructure:"id_prefix"`
	Dir            string        `mapstructure:"dir"`
	DataDir        string        `mapstructure:"data_dir"`
	TemplatesDir   string        `mapstructure:"templates_dir"`
	Timezone       string        `mapstructure:"timezone"`
	UpdateInterval time.Duration `mapstructure:"update_interval"`
	SLA            SLA           `mapstructure:"sla"`
	TimerTick      time.Duration `mapstructure:"timer_tick"`
}

// SLA is the time each type of escalation has per level (§7).
type SLA struct {
	Technical time.Duration `mapstructure:"technical"`
	Executive time.Duration `mapstructure:"executive"`
	Vendor    time.Duration `mapstructure:"vendor"`
}

// Limits bound what the daemon accepts and sends.
type Limits struct {
	MaxMessageBytes      int64         `mapstructure:"max_message_bytes"`
	AckMaxAge            time.Duration `mapstructure:"ack_max_age"`
	AcksPerSenderPerHour int           `mapstructure:"acks_per_sender_per_hour"` // per address, case-folded, plus-tag removed
	AcksPerDomainPerHour int           `mapstructure:"acks_per_domain_per_hour"` // per domain; customers domains exempt
	AcksPerHour          int           `mapstructure:"acks_per_hour"`            // in all
	// NotificationsPerHour bounds the roster notifications of new
	// escalations, counted per escalation, not per recipient.
	NotificationsPerHour           int  `mapstructure:"notifications_per_hour"`
	UpdatesPerEscalationPerHour    int  `mapstructure:"updates_per_escalation_per_hour"`
	AckRequiresAuthenticatedSender bool `mapstructure:"ack_requires_authenticated_sender"`
	// MaxHeaderBytes and MaxHeaderFields bound each header block (the
	// message's and each MIME part's): mail over either is quarantined (§11).
	MaxHeaderBytes  int64 `mapstructure:"max_header_bytes"`
	MaxHeaderFields int   `mapstructure:"max_header_fields"`
}

// Staff says who may give commands.
type Staff struct {
	Domains              []string `mapstructure:"domains"`
	Addresses            []string `mapstructure:"addresses"`
	RequireAuthenticated bool     `mapstructure:"require_authenticated"`
	AuthservID           string   `mapstructure:"authserv_id"`
	// ReplyKeySecretFile holds the secret reply keys are made from; ""
	// means a secret the daemon generates once and keeps in its store.
	ReplyKeySecretFile string `mapstructure:"reply_key_secret_file"`
}

// Customer names a customer by its mail domain.
type Customer struct {
	Domain string `mapstructure:"domain"`
	Name   string `mapstructure:"name"`
	Tier   string `mapstructure:"tier"` // e.g. "enterprise"
}

// Vendors are the addresses vendor case requests go to.
type Vendors struct {
	AWS    string `mapstructure:"aws"`
	Azure  string `mapstructure:"azure"`
	GCP    string `mapstructure:"gcp"`
	Oracle string `mapstructure:"oracle"`
}

// Contact is a roster entry: an address alone, or an object with details.
type Contact struct {
	Email string `mapstructure:"email"`
	Name  string `mapstructure:"name"`
	Title string `mapstructure:"title"`
	Phone string `mapstructure:"phone"`
}

// Roster maps level names (lower-cased, as viper returns them) to the contacts
// notified at that level, per type. Look levels up with Roster.Contacts.
type Roster struct {
	Technical map[string][]Contact `mapstructure:"technical"`
	Executive map[string][]Contact `mapstructure:"executive"`
	Vendor    map[string][]Contact `mapstructure:"vendor"`
}

// Classification holds the thresholds and keyword lists of §4.
type Classification struct {
	RevenueThresholdUSD float64       `mapstructure:"revenue_threshold_usd"`
	CSATBelow           int           `mapstructure:"csat_below"`
	RepeatCount         int           `mapstructure:"repeat_count"`
	RepeatWindow        time.Duration `mapstructure:"repeat_window"`
	Keywords            Keywords      `mapstructure:"keywords"`
}

// Keywords replace the built-in lists when not empty.
type Keywords struct {
	ManagerRequest    []string `mapstructure:"manager_request"`
	VendorRequest     []string `mapstructure:"vendor_request"`
	EscalationRequest []string `mapstructure:"escalation_request"`
	BeyondExpertise   []string `mapstructure:"beyond_expertise"`
	SLARisk           []string `mapstructure:"sla_risk"`
}

// Default returns the built-in configuration: the defaults of SPEC §3 together
// with its example values (127.0.0.1 for both servers, the mailbox user
// escalations@example.com, one customer, the four vendors and a roster), so
// the demo can run on it with only hosts and ports changed. Load does not
// take the example customers, vendors, roster, hosts or IMAP user from here:
// see Load.
func Default() Config {
	return Config{
		IMAP: IMAP{
			Host:              "127.0.0.1",
			Port:              993,
			TLS:               TLSImplicit,
			Username:          "escalations@example.com",
			Mailbox:           "INBOX",
			QuarantineMailbox: "Quarantine",
			PollInterval:      60 * time.Second,
			Idle:              true,
			ReconnectMax:      5 * time.Minute,
		},
		SMTP: SMTP{
			Host:     "127.0.0.1",
			Port:     587,
			TLS:      TLSStartTLS,
			From:     "Escalations <escalations@example.com>",
			RetryMin: 30 * time.Second,
			RetryMax: 30 * time.Minute,
		},
		Escalation: Escalation{
			Address:        "escalations@example.com",
			IDPrefix:       "ESC",
			Dir:            "./escalations",
			DataDir:        "./data",
			Timezone:       "UTC",
			UpdateInterval: 4 * time.Hour,
			SLA: SLA{
				Technical: 8 * time.Hour,
				Executive: 24 * time.Hour,
				Vendor:    24 * time.Hour,
			},
			TimerTick: 30 * time.Second,
		},
		Limits: Limits{
			MaxMessageBytes:             26214400,
			AckMaxAge:                   24 * time.Hour,
			AcksPerSenderPerHour:        5,
			AcksPerDomainPerHour:        20,
			AcksPerHour:                 200,
			NotificationsPerHour:        200,
			UpdatesPerEscalationPerHour: 6,
			MaxHeaderBytes:              262144,
			MaxHeaderFields:             2000,
		},
		Staff: Staff{
			Domains:              []string{"example.com"},
			RequireAuthenticated: true,
			AuthservID:           "mx.example.com",
		},
		Customers: []Customer{{Domain: "acme.test", Name: "Acme Corp", Tier: "enterprise"}},
		Vendors: Vendors{
			AWS:    "aws-support@example.com",
			Azure:  "azure-support@example.com",
			GCP:    "gcp-support@example.com",
			Oracle: "oracle-support@example.com",
		},
		Roster: Roster{
			Technical: map[string][]Contact{
				"tier 2": {{Email: "tier2@example.com"}},
				"tier 3": {{Email: "tier3@example.com", Name: "Dana Lee", Title: "Senior Engineer", Phone: "+1 555 0100"}},
				"vendor": {{Email: "vendor-mgr@example.com"}},
			},
			Executive: map[string][]Contact{
				"team lead": {{Email: "lead@example.com", Name: "Sam Ortiz", Title: "Team Lead", Phone: "+1 555 0101"}},
				"manager":   {{Email: "manager@example.com"}},
				"director":  {{Email: "director@example.com"}},
				"vp":        {{Email: "vp@example.com"}},
			},
			Vendor: map[string][]Contact{
				"case opened": {{Email: "vendor-mgr@example.com"}},
			},
		},
		Classification: Classification{
			RevenueThresholdUSD: 10000,
			CSATBelow:           3,
			RepeatCount:         3,
			RepeatWindow:        720 * time.Hour,
		},
	}
}

// TLS modes of IMAP.TLS and SMTP.TLS.
const (
	TLSImplicit = "implicit" // TLS from the first byte (IMAPS 993, SMTPS 465)
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS
	TLSNone     = "none"     // no TLS: loopback hosts only, unless AllowInsecure
)

// redacted replaces a secret in Redacted.
const redacted = "[redacted]"

// Redacted returns a copy of c with every password that is set replaced by
// "[redacted]", for printing (check-config) or logging. Empty passwords stay
// empty, so the output still shows whether one is set. Slices and maps are
// shared with c, not copied.
func (c Config) Redacted() Config {
	if c.IMAP.Password != "" {
		c.IMAP.Password = redacted
	}
	if c.SMTP.Password != "" {
		c.SMTP.Password = redacted
	}
	return c
}

// Location returns the time zone of escalation.timezone. Call it on a
// validated Config: a zone that does not load (which Validate rejects) gives
// UTC.
func (c Config) Location() *time.Location {
	loc, err := time.LoadLocation(c.Escalation.Timezone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// FromAddress splits smtp.from into its display name ("" when it has none)
// and its address. Call it on a validated Config: a From that does not parse
// (which Validate rejects) is returned whole as the address.
func (c Config) FromAddress() (name, email string) {
	a, err := mail.ParseAddress(c.SMTP.From)
	if err != nil {
		return "", c.SMTP.From
	}
	return a.Name, a.Address
}

// Customer returns the customers entry for a mail domain, compared without
// regard to case; ok is false when the domain is not listed.
func (c Config) Customer(domain string) (cust Customer, ok bool) {
	for _, cu := range c.Customers {
		if strings.EqualFold(cu.Domain, domain) {
			return cu, true
		}
	}
	return Customer{}, false
}

// Address returns where case requests to a vendor go. name is "aws",
// "azure", "gcp" or "oracle" in any case; "" means the vendor is unknown or
// has no address configured.
func (v Vendors) Address(name string) string {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "aws":
		return v.AWS
	case "azure":
		return v.Azure
	case "gcp":
		return v.GCP
	case "oracle":
		return v.Oracle
	}
	return ""
}

// Contacts returns who is notified at a level. typ is "technical",
// "executive" or "vendor" and level a level name such as "Tier 2", both in any
// case. It returns nil for an unknown type or a level without contacts. The
// slice is shared with r.
func (r Roster) Contacts(typ, level string) []Contact {
	m := r.levels(typ)
	level = strings.TrimSpace(level)
	if cs, ok := m[strings.ToLower(level)]; ok {
		return cs
	}
	for name, cs := range m { // maps built by hand may keep "Tier 2"
		if strings.EqualFold(strings.TrimSpace(name), level) {
			return cs
		}
	}
	return nil
}

// levels returns the roster map of an escalation type, nil when typ is
// unknown.
func (r Roster) levels(typ string) map[string][]Contact {
	switch strings.ToLower(strings.TrimSpace(typ)) {
	case "technical":
		return r.Technical
	case "executive":
		return r.Executive
	case "vendor":
		return r.Vendor
	}
	return nil
}
