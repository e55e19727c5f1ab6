package workflow

// Classification of a new escalation (SPEC §4).
//
// The rules read the opening message only: its subject and body text, with
// quoted reply lines (those starting with ">") left out. Everything is
// case-insensitive and Unicode-aware: text is put in NFC, lower-cased, and
// "ё" is read as "е", so Russian keywords match however they were typed.
//
// Keywords are phrases matched word by word: "speak to a manager" matches
// "Speak to a\nmanager" but not "speak to amanager". A word ending in "*"
// matches any word it begins ("руководител*" matches "руководителя",
// "руководителем"), which is how Russian endings are covered. A phrase never
// matches across a clause break (",", ";", ".", "!", "?", "…" or a blank
// line), and a match is ignored when a negation stands right before it ("do
// not escalate this", "no need to speak to a manager", "не эскалируйте").
//
// Type precedence: an Executive trigger wins over a Vendor request, which wins
// over Technical; every reason that applies is listed whatever the type, and
// Decision.Vendor records the vendor named whatever the type.

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/escalationd/escalationd/internal/config"
)

// Decision is how a new escalation starts: its type, level, status and the
// reasons, in words, shown in the tracking file's Classification section.
type Decision struct {
	Type Type
	// Level is the starting level, one above the sender's side: Technical
	// "Tier 2", Executive "Team Lead", Vendor "Case opened".
	Level  string
	Status Status // always StatusEscalated for a new escalation
	// Reasons are every reason that applies, in words: executive ones
	// first, then vendor, then technical. Never empty.
	Reasons []string
	// Vendor is "AWS", "Azure", "GCP" or "Oracle": the vendor the text asks
	// to escalate to, else the one cloud it names (a Technical escalation may
	// reach the Vendor level later); "" when none or several are named.
	Vendor string
}

// noTriggerReason is the only reason of a Technical decision that found none.
const noTriggerReason = "no executive or vendor trigger: technical request"

// Classifier applies §4's rules with thresholds and keyword lists from
// config. It is safe for concurrent use: Decide only reads it.
type Classifier struct {
	revenueThreshold float64       // USD; an amount must be above it
	csatBelow        int           // 0: the CSAT rule is off
	repeatCount      int           // 0: the repeat rule is off
	repeatWindow     time.Duration // only for the reason's words

	manager, escalation, beyond, slaRisk *kwSet
	// vendorAfter phrases take the vendor name after them, vendorEither
	// phrases also right before them; see vendorOf.
	vendorAfter, vendorEither *kwSet
	vendorNames               []kwVendorName // longest first
}

// NewClassifier compiles the rules. Thresholds are taken as they are:
// revenue_threshold_usd 0 makes any USD amount a trigger, csat_below 0 and
// repeat_count 0 turn those rules off; negative values are an error. A
// keyword list in cfg that is non-empty replaces the built-in one (EN + RU);
// for vendor_request it replaces the request phrases, while vendor names stay
// built in. A phrase with no word in it, or a "*" that does not end a word, is
// an error naming the list.
func NewClassifier(cfg config.Classification) (*Classifier, error) {
	if err := checkThresholds(cfg); err != nil {
		return nil, err
	}
	c := &Classifier{
		revenueThreshold: cfg.RevenueThresholdUSD,
		csatBelow:        cfg.CSATBelow,
		repeatCount:      cfg.RepeatCount,
		repeatWindow:     cfg.RepeatWindow,
	}
	if err := c.compileKeywords(cfg.Keywords); err != nil {
		return nil, err
	}
	names, err := compileVendorNames()
	if err != nil {
		return nil, err
	}
	c.vendorNames = names
	return c, nil
}

// checkThresholds rejects negative thresholds (and a NaN revenue threshold),
// naming the key.
func checkThresholds(cfg config.Classification) error {
	switch {
	case cfg.RevenueThresholdUSD < 0 || math.IsNaN(cfg.RevenueThresholdUSD):
		return fmt.Errorf("classification.revenue_threshold_usd: must be 0 or more, got %v", cfg.RevenueThresholdUSD)
	case cfg.CSATBelow < 0:
		return fmt.Errorf("classification.csat_below: must be 0 or more, got %d", cfg.CSATBelow)
	case cfg.RepeatCount < 0:
		return fmt.Errorf("classification.repeat_count: must be 0 or more, got %d", cfg.RepeatCount)
	}
	return nil
}

// compileKeywords sets c's keyword sets: each from kw's list when that is
// not empty, else from the built-in one. An error names the list.
func (c *Classifier) compileKeywords(kw config.Keywords) error {
	lists := []struct {
		key     string
		custom  []string
		builtin []string
		dst     **kwSet
	}{
		{"manager_request", kw.ManagerRequest, builtinManagerRequest(), &c.manager},
		{"escalation_request", kw.EscalationRequest, builtinEscalationRequest, &c.escalation},
		{"beyond_expertise", kw.BeyondExpertise, builtinBeyondExpertise, &c.beyond},
		{"sla_risk", kw.SLARisk, builtinSLARisk, &c.slaRisk},
	}
	for _, l := range lists {
		src := l.builtin
		if len(l.custom) > 0 {
			src = l.custom
		}
		set, err := compileKwSet(src)
		if err != nil {
			return fmt.Errorf("classification.keywords.%s: %w", l.key, err)
		}
		*l.dst = set
	}
	var err error
	c.vendorAfter, c.vendorEither = &kwSet{}, &kwSet{}
	if len(kw.VendorRequest) > 0 {
		c.vendorEither, err = compileKwSet(kw.VendorRequest)
	} else if c.vendorAfter, err = compileKwSet(builtinVendorRequest); err == nil {
		c.vendorEither, err = compileKwSet(builtinVendorRoles)
	}
	if err != nil {
		return fmt.Errorf("classification.keywords.vendor_request: %w", err)
	}
	return nil
}

// Decide classifies the opening message of a new escalation: subject and text
// of in (nil reads as an empty message), the customer (Tier "enterprise", in
// any case, makes a manager request executive) and recent, the number of
// escalations this customer opened within the repeat window including this
// one.
func (c *Classifier) Decide(in *Inbound, cust config.Customer, recent int) Decision {
	var subject, body string
	if in != nil {
		subject, body = in.Subject, in.Text
	}
	tx := newKwText(subject, body)

	var exec, tech []string
	if r, ok := c.csatReason(tx.low); ok {
		exec = append(exec, r)
	}
	if r, executive, ok := c.managerReason(tx, cust); ok {
		if executive {
			exec = append(exec, r)
		} else {
			tech = append(tech, r)
		}
	}
	if r, ok := c.repeatReason(cust, recent); ok {
		exec = append(exec, r)
	}
	if r, ok := c.revenueReason(tx.low); ok {
		exec = append(exec, r)
	}
	requests := c.vendorRequests(tx)
	var vend []string
	for _, r := range requests {
		vend = append(vend, fmt.Sprintf("explicit request to escalate to %s (%q)", r.vendor, tx.quote(r.from, r.to)))
	}
	tech = append(tech, c.technicalReasons(tx)...)

	d := Decision{Type: Technical, Level: technicalStartLevel, Status: StatusEscalated}
	switch {
	case len(exec) > 0:
		d.Type, d.Level = Executive, executiveStartLevel
	case len(vend) > 0:
		d.Type, d.Level = Vendor, vendorStartLevel
	}
	d.Reasons = append(append(exec, vend...), tech...)
	if len(d.Reasons) == 0 {
		d.Reasons = []string{noTriggerReason}
	}
	if len(requests) > 0 {
		d.Vendor = requests[0].vendor
	} else {
		d.Vendor = c.soleMention(tx)
	}
	return d
}

// managerReason returns the reason of the first manager request in tx;
// executive is true when cust is an enterprise customer, else the request
// is only a technical reason.
func (c *Classifier) managerReason(tx *kwText, cust config.Customer) (reason string, executive, ok bool) {
	m, ok := c.manager.first(tx, guardManager)
	if !ok {
		return "", false, false
	}
	if strings.EqualFold(strings.TrimSpace(cust.Tier), "enterprise") {
		return fmt.Sprintf("enterprise customer %s asks for a manager (%q)", customerLabel(cust), tx.quote(m.from, m.to)), true, true
	}
	return fmt.Sprintf("manager requested by a non-enterprise customer (%q)", tx.quote(m.from, m.to)), false, true
}

// repeatReason returns "3 escalations from Acme in 30 days (this one
// counted) ≥ 3" when recent reaches the repeat count (and the rule is on).
func (c *Classifier) repeatReason(cust config.Customer, recent int) (string, bool) {
	if c.repeatCount <= 0 || recent < c.repeatCount {
		return "", false
	}
	return fmt.Sprintf("%s from %s in %s (this one counted) ≥ %d",
		plural(recent, "escalation"), customerLabel(cust), windowWords(c.repeatWindow), c.repeatCount), true
}

// revenueReason returns "revenue impact $25,000 > $10,000" when the largest
// USD amount of low (folded text) is above the threshold.
func (c *Classifier) revenueReason(low string) (string, bool) {
	amount, ok := maxUSD(low)
	if !ok || amount <= c.revenueThreshold {
		return "", false
	}
	return fmt.Sprintf("revenue impact %s > %s", formatUSD(amount), formatUSD(c.revenueThreshold)), true
}

// technicalReasons returns the reasons of the keyword triggers that make an
// escalation technical, in this order: beyond expertise, SLA at risk,
// customer requests escalation.
func (c *Classifier) technicalReasons(tx *kwText) []string {
	var out []string
	for _, l := range []struct {
		set  *kwSet
		what string
	}{{c.beyond, "beyond expertise"}, {c.slaRisk, "SLA at risk"}, {c.escalation, "customer requests escalation"}} {
		if m, ok := l.set.first(tx, nil); ok {
			out = append(out, fmt.Sprintf("%s (%q)", l.what, tx.quote(m.from, m.to)))
		}
	}
	return out
}

// customerLabel names the customer in reasons.
func customerLabel(cust config.Customer) string {
	switch {
	case strings.TrimSpace(cust.Name) != "":
		return strings.TrimSpace(cust.Name)
	case strings.TrimSpace(cust.Domain) != "":
		return strings.TrimSpace(cust.Domain)
	}
	return "this customer"
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// windowWords writes the repeat window in words: "30 days", "36 hours", else
// as a Go duration.
func windowWords(d time.Duration) string {
	switch {
	case d <= 0:
		return "the repeat window"
	case d%(24*time.Hour) == 0:
		return plural(int(d/(24*time.Hour)), "day")
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	}
	return d.String()
}
