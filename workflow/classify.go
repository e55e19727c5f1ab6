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
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

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

// Starting levels of §4: one above the sender's side.
const (
	technicalStartLevel = "Tier 2"
	executiveStartLevel = "Team Lead"
	vendorStartLevel    = "Case opened"
)

// noTriggerReason is the only reason of a Technical decision that found none.
const noTriggerReason = "no executive or vendor trigger: technical request"

// maxClassifyBytes bounds how much of subject and body the rules read. A
// trigger past the first 256 KiB of an opening message is not plausible, and
// the bound keeps a huge message cheap to classify.
const maxClassifyBytes = 256 << 10

// Built-in keyword lists (English and Russian). A non-empty list in
// classification.keywords replaces the matching one. The manager list is
// built from verbs × targets plus stand-alone phrases (see
// builtinManagerRequest); the others are used as written.
var (
	// managerVerbsEN and managerTargetsEN combine into phrases such as
	// "speak to a manager" and "escalate to senior management".
	managerVerbsEN = []string{
		"speak to", "speak with", "talk to", "talk with", "escalate to", "escalate this to",
		"escalate it to", "connect me with", "connect me to", "connect us with", "connect us to",
		"put me through to", "transfer me to", "get me", "i demand", "we demand", "involve",
		"hear from", "call from", "call with", "meeting with",
	}
	managerTargetsEN = []string{
		"a manager", "the manager", "manager", "a supervisor", "the supervisor", "supervisor",
		"a director", "the director", "a superior", "a boss", "the boss", "a team lead",
		"the team lead", "management", "senior management", "a senior manager", "an executive",
		"someone in charge", "the person in charge",
	}
	// managerPhrasesEN count on their own. "your manager" is a request;
	// "my manager" and "our manager" are statements and are in no list.
	managerPhrasesEN = []string{
		"your manager", "your managers", "your supervisor", "your director", "your superior",
		"your superiors", "your boss", "your team lead", "your management", "someone senior",
		"somebody senior", "someone more senior", "manager escalation", "management escalation",
	}
	// managerVerbsRU and managerTargetsRU combine into phrases such as
	// "соедините с руководител*" and "передайте руководств*". "менеджер" is a
	// target only after a request verb: alone it is often the account manager.
	managerVerbsRU = []string{
		"позовите", "пригласите", "вызовите", "подключите", "привлеките", "соедините с",
		"соедините меня с", "свяжите меня с", "свяжите нас с", "поговорить с", "переговорить с",
		"связаться с", "переключите на", "переведите на", "обратиться к", "передайте",
		"сообщите", "доложите", "доведите до", "эскалируйте", "эскалировать", "требую", "нужен",
	}
	managerTargetsRU = []string{
		"руководител*", "руководств*", "начальник*", "начальств*", "директор*", "менеджер*",
		"старш* менеджер*",
	}
	managerPhrasesRU = []string{
		"ваш* руководител*", "ваш* руководств*", "ваш* начальник*", "ваш* начальств*",
		"ваш* директор*", "кого-нибудь старше", "кого-то старше", "кого-нибудь из руководства",
		"кого-то из руководства",
	}

	// builtinVendorRequest are the request phrases of a vendor escalation.
	// One counts only with a vendor name inside it or after it, with at most
	// four filler words between ("open a case with AWS", "engage our AWS
	// TAM"): see vendorFillers. Past tenses ("we contacted AWS") are
	// statements and are not listed.
	builtinVendorRequest = []string{
		"open a case", "open a support case", "open a ticket", "open a support ticket",
		"open a service request", "open an sr", "raise a case", "raise a ticket",
		"raise a support case", "raise a support ticket", "file a case", "file a ticket",
		"file a support case", "log a case", "log a ticket", "create a case", "create a ticket",
		"submit a case", "submit a ticket", "vendor escalation", "escalate to", "escalate this to", "escalate it to",
		"escalate the issue to", "escalate the case to", "engage", "involve", "contact",
		"reach out to", "loop in", "bring in",
		"откройте кейс", "открыть кейс", "откройте тикет", "открыть тикет", "откройте обращение",
		"открыть обращение", "создайте кейс", "создать кейс", "создайте тикет", "создайте обращение",
		"заведите кейс", "завести кейс", "заведите тикет", "заведите обращение", "эскалир*",
		"эскалаци*", "обратитесь", "обратиться", "подключите", "привлеките", "свяжитесь",
		"напишите",
	}

	// builtinVendorRoles name what is asked of a vendor; the vendor name may
	// also stand right before them: "AWS TAM", "GCP DSE/CE", "AWS support
	// case". A configured vendor_request list replaces these too, and its
	// phrases work both ways.
	builtinVendorRoles = []string{
		"tam", "technical account manager", "dse", "ce", "customer engineer", "support case",
		"support ticket", "vendor case",
	}

	// builtinEscalationRequest is "customer requests escalation".
	builtinEscalationRequest = []string{
		"please escalate", "pls escalate", "plz escalate", "kindly escalate", "escalate this",
		"escalate it", "escalate the issue", "escalate my issue", "escalate the ticket",
		"escalate my ticket", "escalate the case", "escalate my case", "escalate asap",
		"escalate immediately", "escalate urgently", "need this escalated", "needs to be escalated",
		"need to be escalated", "want this escalated", "like this escalated", "get this escalated",
		"have this escalated", "want to escalate", "like to escalate", "request escalation",
		"request an escalation", "requesting escalation", "requesting an escalation",
		"escalation request", "escalation requested", "escalation needed", "escalation required",
		"urgent escalation",
		"прошу эскалир*", "просим эскалир*", "просьба эскалир*", "прошу эскалаци*",
		"просим эскалаци*", "эскалируйте", "эскалируй", "нужно эскалир*", "надо эскалир*",
		"необходимо эскалир*", "требуется эскалаци*", "нужна эскалаци*",
	}

	// builtinBeyondExpertise is "beyond expertise".
	builtinBeyondExpertise = []string{
		"beyond our expertise", "beyond my expertise", "beyond your expertise",
		"outside our expertise", "outside my expertise", "outside our area of expertise",
		"outside my area of expertise", "beyond our capabilities", "beyond our knowledge",
		"beyond our skills", "out of our depth", "out of my depth", "we can't solve this",
		"we cannot solve this", "we can't fix this", "we cannot fix this", "we can't resolve this",
		"we cannot resolve this", "we are unable to resolve", "we're unable to resolve",
		"need deeper expertise", "requires deeper expertise", "need a specialist",
		"requires a specialist",
		"вне нашей компетенции", "вне моей компетенции", "вне вашей компетенции",
		"за пределами нашей компетенции", "выходит за рамки нашей компетенции",
		"за рамками нашей компетенции", "не в нашей компетенции", "не в моей компетенции",
		"вне нашей экспертизы", "за пределами нашей экспертизы", "не хватает компетенции",
		"не хватает экспертизы", "не хватает знаний", "не можем решить", "не можем это решить",
		"не в состоянии решить", "не можем справиться", "не справляемся",
	}

	// builtinSLARisk is "SLA at risk".
	builtinSLARisk = []string{
		"sla at risk", "sla is at risk", "sla risk", "sla breach", "sla breached", "sla violation",
		"sla violated", "sla will be breached", "sla will be missed", "breach the sla",
		"breach our sla", "breach of sla", "breach of the sla", "breaching the sla", "breaching sla",
		"breached the sla", "violate the sla", "violating the sla", "miss the sla", "missing the sla",
		"missed the sla", "sla deadline", "sla is about to expire", "sla expires",
		"наруш* sla", "sla наруш*", "наруш* сла", "наруш* срок* sla", "под угрозой sla",
		"sla под угрозой", "угроза sla", "срыв* sla", "sla сорван*", "истекает sla", "sla истекает",
	}
)

// builtinManagerRequest returns the built-in "asks for a manager" phrases.
func builtinManagerRequest() []string {
	var out []string
	for _, v := range managerVerbsEN {
		for _, t := range managerTargetsEN {
			out = append(out, v+" "+t)
		}
	}
	for _, v := range managerVerbsRU {
		for _, t := range managerTargetsRU {
			out = append(out, v+" "+t)
		}
	}
	out = append(out, managerPhrasesEN...)
	return append(out, managerPhrasesRU...)
}

// vendorNameList names the cloud vendors. These stay built in whatever
// classification.keywords.vendor_request says. A weak name ("Microsoft",
// "Google", "Amazon") names the vendor only inside a request ("involve
// Microsoft support" is Azure); a strong one also counts as a mention for
// Decision.Vendor.
var vendorNameList = []struct {
	vendor, name string
	strong       bool
}{
	{"AWS", "amazon web services", true}, {"AWS", "aws", true},
	{"AWS", "amazon", false}, {"AWS", "амазон*", false},
	{"Azure", "microsoft azure", true}, {"Azure", "azure", true},
	{"Azure", "microsoft", false}, {"Azure", "msft", false}, {"Azure", "майкрософт*", false},
	{"GCP", "google cloud platform", true}, {"GCP", "google cloud", true}, {"GCP", "gcp", true},
	{"GCP", "google", false}, {"GCP", "гугл*", false},
	{"Oracle", "oracle cloud infrastructure", true}, {"Oracle", "oracle cloud", true},
	{"Oracle", "oracle", true}, {"Oracle", "oci", true}, {"Oracle", "оракл*", false},
}

// vendorFillers may stand between a request phrase and the vendor name:
// "open a case with the AWS team", "откройте кейс в AWS".
var vendorFillers = wordSet("with to the our your a an in on at for into please support team " +
	"через в во с со к ко на у пожалуйста поддержку поддержке наш нашего нашему нашим нашей наших " +
	"ваш вашего вашему вашим вашей ваших")

// negations make the phrase after them not count; negationBridges may stand
// between ("no need to escalate this", "не нужно эскалировать"). "t" is what
// is left of "n't" ("don't" splits into "don" and "t").
var (
	negations       = wordSet("not no never t dont cannot without не нет ни без")
	negationBridges = wordSet("need needs needed to be have want please yet do does will would should really " +
		"нужно надо стоит необходимо необходимости требуется нам вам пока еще")
)

// firstPerson possessives before a manager phrase make it a statement ("our
// manager said …", "наш руководитель …"), not a request.
var firstPerson = wordSet("my our мой моя мое моего моему моим моей моем мои моих моими " +
	"наш наша наше нашего нашему нашим нашей нашем наши наших нашими")

func wordSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

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
	switch {
	case cfg.RevenueThresholdUSD < 0 || math.IsNaN(cfg.RevenueThresholdUSD):
		return nil, fmt.Errorf("classification.revenue_threshold_usd: must be 0 or more, got %v", cfg.RevenueThresholdUSD)
	case cfg.CSATBelow < 0:
		return nil, fmt.Errorf("classification.csat_below: must be 0 or more, got %d", cfg.CSATBelow)
	case cfg.RepeatCount < 0:
		return nil, fmt.Errorf("classification.repeat_count: must be 0 or more, got %d", cfg.RepeatCount)
	}
	c := &Classifier{
		revenueThreshold: cfg.RevenueThresholdUSD,
		csatBelow:        cfg.CSATBelow,
		repeatCount:      cfg.RepeatCount,
		repeatWindow:     cfg.RepeatWindow,
	}
	kw := cfg.Keywords
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
			return nil, fmt.Errorf("classification.keywords.%s: %w", l.key, err)
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
		return nil, fmt.Errorf("classification.keywords.vendor_request: %w", err)
	}
	for _, n := range vendorNameList {
		p, err := compileKwPhrase(n.name)
		if err != nil {
			return nil, fmt.Errorf("vendor name %q: %w", n.name, err) // a bug in vendorNameList
		}
		c.vendorNames = append(c.vendorNames, kwVendorName{vendor: n.vendor, strong: n.strong, kwPhrase: p})
	}
	// Longest first, so "google cloud" wins over "google".
	slices.SortStableFunc(c.vendorNames, func(a, b kwVendorName) int { return len(b.words) - len(a.words) })
	return c, nil
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
	who := customerLabel(cust)

	var exec, vend, tech []string
	if r, ok := c.csatReason(tx.low); ok {
		exec = append(exec, r)
	}
	if m, ok := c.manager.first(tx, guardManager); ok {
		if strings.EqualFold(strings.TrimSpace(cust.Tier), "enterprise") {
			exec = append(exec, fmt.Sprintf("enterprise customer %s asks for a manager (%q)", who, tx.quote(m.from, m.to)))
		} else {
			tech = append(tech, fmt.Sprintf("manager requested by a non-enterprise customer (%q)", tx.quote(m.from, m.to)))
		}
	}
	if c.repeatCount > 0 && recent >= c.repeatCount {
		exec = append(exec, fmt.Sprintf("%s from %s in %s (this one counted) ≥ %d",
			plural(recent, "escalation"), who, windowWords(c.repeatWindow), c.repeatCount))
	}
	if amount, ok := maxUSD(tx.low); ok && amount > c.revenueThreshold {
		exec = append(exec, fmt.Sprintf("revenue impact %s > %s", formatUSD(amount), formatUSD(c.revenueThreshold)))
	}
	requests := c.vendorRequests(tx)
	for _, r := range requests {
		vend = append(vend, fmt.Sprintf("explicit request to escalate to %s (%q)", r.vendor, tx.quote(r.from, r.to)))
	}
	for _, l := range []struct {
		set  *kwSet
		what string
	}{{c.beyond, "beyond expertise"}, {c.slaRisk, "SLA at risk"}, {c.escalation, "customer requests escalation"}} {
		if m, ok := l.set.first(tx, nil); ok {
			tech = append(tech, fmt.Sprintf("%s (%q)", l.what, tx.quote(m.from, m.to)))
		}
	}

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

// ---- text and keyword matching ----

// kwToken is one word of the text.
type kwToken struct {
	norm       string // lower-cased, NFC, "ё" read as "е"
	start, end int    // byte offsets in kwText.src
	clause     int    // tokens of one clause share it
}

// kwText is the text the rules read.
type kwText struct {
	src  string    // subject, blank line, body without quoted lines (NFC, original case)
	toks []kwToken // words of src
	low  string    // src folded (see foldWord), whitespace runs as one space
}

func newKwText(subject, body string) *kwText {
	var b strings.Builder
	b.WriteString(subject)
	b.WriteString("\n\n")
	for line := range strings.Lines(body) {
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), ">") {
			continue // quoted reply text
		}
		b.WriteString(line)
	}
	src := b.String()
	if len(src) > maxClassifyBytes {
		src = strings.ToValidUTF8(src[:maxClassifyBytes], "")
	}
	src = norm.NFC.String(src)
	return &kwText{src: src, toks: tokenizeKw(src), low: strings.Join(strings.Fields(foldWord(src)), " ")}
}

// foldWord lower-cases s and reads "ё" as "е".
func foldWord(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "ё", "е")
}

func isKwRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r)
}

// tokenizeKw splits s into words: runs of letters, digits and combining
// marks. Everything else separates words; ",", ";", "!", "?", "…", a "."
// before a space or the end, and a blank line also end the clause. A comma
// between digits ("25,000") does not.
func tokenizeKw(s string) []kwToken {
	var toks []kwToken
	clause, start, newlines := 0, -1, 0
	prev := rune(0)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isKwRune(r) {
			if start < 0 {
				start = i
			}
			newlines = 0
			prev = r
			i += size
			continue
		}
		if start >= 0 {
			toks = append(toks, kwToken{norm: foldWord(s[start:i]), start: start, end: i, clause: clause})
			start = -1
		}
		next, _ := utf8.DecodeRuneInString(s[i+size:])
		switch {
		case r == '\n':
			if newlines++; newlines == 2 {
				clause++
			}
		case unicode.IsSpace(r):
		default:
			newlines = 0
			switch r {
			case ';', '!', '?', '…':
				clause++
			case ',':
				if !unicode.IsDigit(prev) || !unicode.IsDigit(next) {
					clause++
				}
			case '.':
				if i+size == len(s) || unicode.IsSpace(next) {
					clause++
				}
			}
		}
		prev = r
		i += size
	}
	if start >= 0 {
		toks = append(toks, kwToken{norm: foldWord(s[start:]), start: start, end: len(s), clause: clause})
	}
	return toks
}

// quote returns the clause of the words from..to-1: whole when it has at
// most 12 words, else the words with up to four more on each side and "…"
// where it was cut. Whitespace is collapsed; at most 100 runes.
func (t *kwText) quote(from, to int) string {
	const whole, ctx = 12, 4
	c := t.toks[from].clause
	cs, ce := from, to // the clause
	for cs > 0 && t.toks[cs-1].clause == c {
		cs--
	}
	for ce < len(t.toks) && t.toks[ce].clause == c {
		ce++
	}
	a, b := cs, ce
	if ce-cs > whole {
		a, b = max(cs, from-ctx), min(ce, to+ctx)
	}
	q := strings.Join(strings.Fields(t.src[t.toks[a].start:t.toks[b-1].end]), " ")
	if a > cs {
		q = "…" + q
	}
	if b < ce {
		q += "…"
	}
	if r := []rune(q); len(r) > 100 {
		q = string(r[:99]) + "…"
	}
	return q
}

// kwWord is one word of a phrase; stem means "any word beginning with text".
type kwWord struct {
	text string
	stem bool
}

type kwPhrase struct{ words []kwWord }

// compileKwPhrase splits a configured or built-in phrase into words, the way
// tokenizeKw splits the text.
func compileKwPhrase(p string) (kwPhrase, error) {
	s := norm.NFC.String(p)
	var ph kwPhrase
	for _, t := range tokenizeKw(s) {
		stem := t.end < len(s) && s[t.end] == '*'
		ph.words = append(ph.words, kwWord{text: t.norm, stem: stem})
	}
	if len(ph.words) == 0 {
		return ph, fmt.Errorf("phrase %q has no words", p)
	}
	for i, r := range s {
		if r != '*' {
			continue
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+1:])
		if !isKwRune(before) || isKwRune(after) {
			return ph, fmt.Errorf("phrase %q: \"*\" may only end a word", p)
		}
	}
	return ph, nil
}

// matchAt reports whether the phrase matches the tokens from i on, all in
// one clause.
func (ph kwPhrase) matchAt(toks []kwToken, i int) bool {
	if i < 0 || i+len(ph.words) > len(toks) {
		return false
	}
	c := toks[i].clause
	for k, w := range ph.words {
		t := toks[i+k]
		if t.clause != c {
			return false
		}
		if w.stem && !strings.HasPrefix(t.norm, w.text) || !w.stem && t.norm != w.text {
			return false
		}
	}
	return true
}

// kwSet is a compiled keyword list, indexed by first word.
type kwSet struct {
	byFirst map[string][]kwPhrase // phrases whose first word is literal
	stemmed []kwPhrase            // phrases whose first word is a stem
}

func compileKwSet(phrases []string) (*kwSet, error) {
	s := &kwSet{byFirst: map[string][]kwPhrase{}}
	var errs []error
	for _, p := range phrases {
		ph, err := compileKwPhrase(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ph.words[0].stem {
			s.stemmed = append(s.stemmed, ph)
		} else {
			s.byFirst[ph.words[0].text] = append(s.byFirst[ph.words[0].text], ph)
		}
	}
	return s, errors.Join(errs...)
}

// kwMatch is a match over tokens from..to-1.
type kwMatch struct{ from, to int }

// kwGuard rejects a match by what stands before it.
type kwGuard func(toks []kwToken, from int) bool

// all returns every match that is not negated and that guard (if not nil)
// accepts, in text order, the longest at each position.
func (s *kwSet) all(t *kwText, guard kwGuard) []kwMatch {
	var out []kwMatch
	for i := range t.toks {
		best := 0
		try := func(ph kwPhrase) {
			if len(ph.words) > best && ph.matchAt(t.toks, i) {
				best = len(ph.words)
			}
		}
		for _, ph := range s.byFirst[t.toks[i].norm] {
			try(ph)
		}
		for _, ph := range s.stemmed {
			try(ph)
		}
		if best == 0 || negated(t.toks, i) || guard != nil && !guard(t.toks, i) {
			continue
		}
		out = append(out, kwMatch{i, i + best})
	}
	return out
}

// first returns the first match in text order.
func (s *kwSet) first(t *kwText, guard kwGuard) (kwMatch, bool) {
	if ms := s.all(t, guard); len(ms) > 0 {
		return ms[0], true
	}
	return kwMatch{}, false
}

// negated reports whether a negation stands before token from in its clause,
// with only bridge words between ("don't escalate", "no need to escalate").
func negated(toks []kwToken, from int) bool {
	c := toks[from].clause
	for j := from - 1; j >= 0 && j >= from-3 && toks[j].clause == c; j-- {
		if negations[toks[j].norm] {
			return true
		}
		if !negationBridges[toks[j].norm] {
			return false
		}
	}
	return false
}

// guardManager rejects "my manager", "our supervisor", "наш руководитель":
// a first-person possessive right before the phrase makes it a statement.
func guardManager(toks []kwToken, from int) bool {
	return from == 0 || toks[from-1].clause != toks[from].clause || !firstPerson[toks[from-1].norm]
}

// ---- vendors ----

type kwVendorName struct {
	vendor string
	strong bool
	kwPhrase
}

// vendorAt returns the vendor name that starts at token i, the longest.
func (c *Classifier) vendorAt(toks []kwToken, i int) (kwVendorName, bool) {
	for _, n := range c.vendorNames {
		if n.matchAt(toks, i) {
			return n, true
		}
	}
	return kwVendorName{}, false
}

// kwVendorRequest is a request phrase with the vendor it names, over tokens
// from..to-1 (phrase and name together).
type kwVendorRequest struct {
	vendor   string
	from, to int
}

// vendorRequests returns the vendor requests of the text, one per vendor, in
// text order.
func (c *Classifier) vendorRequests(t *kwText) []kwVendorRequest {
	type cand struct {
		m      kwMatch
		either bool
	}
	var cands []cand
	for _, m := range c.vendorAfter.all(t, nil) {
		cands = append(cands, cand{m, false})
	}
	for _, m := range c.vendorEither.all(t, nil) {
		cands = append(cands, cand{m, true})
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.m.from - b.m.from })
	var out []kwVendorRequest
	seen := map[string]bool{}
	for _, cd := range cands {
		r, ok := c.vendorOf(t.toks, cd.m, cd.either)
		if !ok || seen[r.vendor] {
			continue
		}
		seen[r.vendor] = true
		out = append(out, r)
	}
	return out
}

// vendorOf finds the vendor a request phrase names: inside it, after it with
// at most four filler words between, or (either) right before it, all in
// one clause.
func (c *Classifier) vendorOf(toks []kwToken, m kwMatch, either bool) (kwVendorRequest, bool) {
	for i := m.from; i < m.to; i++ {
		if n, ok := c.vendorAt(toks, i); ok {
			return kwVendorRequest{n.vendor, m.from, max(m.to, i+len(n.words))}, true
		}
	}
	clause := toks[m.from].clause
	for j, fillers := m.to, 0; j < len(toks) && toks[j].clause == clause; j++ {
		if n, ok := c.vendorAt(toks, j); ok {
			return kwVendorRequest{n.vendor, m.from, j + len(n.words)}, true
		}
		if fillers++; fillers > 4 || !vendorFillers[toks[j].norm] {
			break
		}
	}
	if !either {
		return kwVendorRequest{}, false
	}
	for _, n := range c.vendorNames {
		if i := m.from - len(n.words); n.matchAt(toks, i) && toks[i].clause == clause {
			return kwVendorRequest{n.vendor, i, m.to}, true
		}
	}
	return kwVendorRequest{}, false
}

// soleMention returns the one vendor the text names by a strong name, "" when
// it names none or several.
func (c *Classifier) soleMention(t *kwText) string {
	found := ""
	for i := range t.toks {
		n, ok := c.vendorAt(t.toks, i)
		switch {
		case !ok || !n.strong:
		case found == "":
			found = n.vendor
		case found != n.vendor:
			return ""
		}
	}
	return found
}

// ---- CSAT ----

// CSAT readings. A strong keyword ("CSAT", "satisfaction",
// "удовлетворённость") may be followed by a bare number, read on the 1–5
// scale ("CSAT: 2", "CSAT=1", "satisfaction score: 2"); a bare number above 5
// is not a CSAT reading. A weak keyword ("оценка", "rated us", "gave us")
// counts only with an explicit scale ("оценка 2 из 5"). A reading on another
// scale ("4/10", "40%") is scaled to 5 before it is compared.
var (
	csatStrong = `csat(?: score| rating)?|customer satisfaction(?: score| rating)?|satisfaction(?: score| rating| level)?|` +
		`удовлетворенност[ьи](?: клиента| клиентов)?`
	csatWeak   = `оценк[аиуео]|rated us|gave us|оценил[аи]? нас(?: на)?|поставил[аи]? нам`
	csatFiller = `(?:\s*(?:[:=—–-]|is|was|of|at|score|rating|dropped to|fell to|down to|only|just|` +
		`составляет|составила|была|было|равна|на|упала до|снизилась до|опустилась до|всего|лишь|только)\s*)*?`
	csatRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}])(` + csatStrong + `|` + csatWeak + `)` + csatFiller +
		`\s*(\d+(?:[.,]\d+)?)(?:\s*(?:/|out of|of|из)\s*(\d+)|\s*(%))?(?:[^\p{N}]|$)`)
	csatStrongRe = regexp.MustCompile(`^(?:` + csatStrong + `)$`)
)

// csatReading is one CSAT value found in the text.
type csatReading struct {
	value, scale float64 // scale 0: none given (1–5)
	percent      bool
}

// scaled returns the reading on the 1–5 scale.
func (r csatReading) scaled() float64 {
	if r.scale == 0 {
		return r.value
	}
	return r.value * 5 / r.scale
}

func (r csatReading) String() string {
	v := formatNumber(r.value)
	switch {
	case r.percent:
		return fmt.Sprintf("%s%% (%s of 5)", v, formatNumber(r.scaled()))
	case r.scale == 0 || r.scale == 5:
		return v
	}
	return fmt.Sprintf("%s/%s (%s of 5)", v, formatNumber(r.scale), formatNumber(r.scaled()))
}

// csatReadings returns every CSAT reading of low (folded text).
func csatReadings(text string) []csatReading {
	var out []csatReading
	for _, low := range markedWindows(text, csatMarkers, 16, 96) {
		out = append(out, csatReadingsIn(low)...)
	}
	return out
}

// csatMarkers start every csatRe match; see markedWindows.
var csatMarkers = []string{"csat", "satisfaction", "удовлетвор", "оцен", "rated us", "gave us", "поставил"}

func csatReadingsIn(low string) []csatReading {
	var out []csatReading
	for pos := 0; pos < len(low); {
		m := csatRe.FindStringSubmatchIndex(low[pos:])
		if m == nil {
			break
		}
		g := func(k int) string {
			if m[2*k] < 0 {
				return ""
			}
			return low[pos+m[2*k] : pos+m[2*k+1]]
		}
		kw, num, scale, pct := g(1), g(2), g(3), g(4)
		next := pos + m[5] // go on after the number, or its scale
		if m[7] > 0 {
			next = pos + m[7]
		}
		pos = max(next, pos+1)
		v, err := strconv.ParseFloat(strings.Replace(num, ",", ".", 1), 64)
		if err != nil {
			continue
		}
		r := csatReading{value: v}
		switch {
		case pct != "":
			r.scale, r.percent = 100, true
		case scale != "":
			r.scale, _ = strconv.ParseFloat(scale, 64)
		}
		switch {
		case r.scale == 0 && (!csatStrongRe.MatchString(kw) || v > 5):
			continue
		case r.scale != 0 && (r.scale < 3 || r.scale > 100 || v > r.scale):
			continue
		}
		out = append(out, r)
	}
	return out
}

// csatReason returns "CSAT 2 < 3" for the lowest reading when it is below
// the threshold.
func (c *Classifier) csatReason(low string) (string, bool) {
	rs := csatReadings(low)
	if len(rs) == 0 {
		return "", false
	}
	lowest := rs[0]
	for _, r := range rs[1:] {
		if r.scaled() < lowest.scaled() {
			lowest = r
		}
	}
	if lowest.scaled() >= float64(c.csatBelow) {
		return "", false
	}
	return fmt.Sprintf("CSAT %s < %d", lowest, c.csatBelow), true
}

// ---- amounts ----

// USD amounts. Only amounts in US dollars count ("$25,000", "US$15,000",
// "USD 12000", "25k USD", "$12.5k", "$1.2M", "1.2 million dollars",
// "12 000 USD", "30 тыс. долларов"); roubles, euros and other currencies
// are not converted and never trigger. Any USD amount counts as revenue
// impact, whatever the words around it. A comma followed by three digits
// groups thousands, any other comma is a decimal point; a space may group
// thousands too.
var (
	usdNumber = `(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?: \d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?)`
	usdMult   = `(?:\s?(k|thousand|тыс\.?|тысяч[аи]?|m|mm|mn|mln|million|millions|млн\.?|миллион(?:а|ов)?|` +
		`b|bn|billion|млрд\.?|миллиард(?:а|ов)?))?`
	usdPrefixRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}$])(?:us\$|usd\s?\$|usd|\$)\s?` + usdNumber + usdMult + `(?:[^\p{L}\p{N}]|$)`)
	usdSuffixRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}$.,])` + usdNumber + usdMult +
		`\s?(?:usd|us dollars?|dollars?|долларов|доллара|доллар|долл\.?|\$|bucks)(?:[^\p{L}\p{N}]|$)`)
	usdThousands = regexp.MustCompile(`^\d{1,3}(?:,\d{3})+(?:\.\d+)?$`)
)

// maxUSD returns the largest USD amount in low (folded text).
func maxUSD(text string) (float64, bool) {
	best, found := 0.0, false
	for _, low := range markedWindows(text, usdMarkers, 64, 64) {
		if v, ok := maxUSDIn(low); ok && (!found || v > best) {
			best, found = v, true
		}
	}
	return best, found
}

// usdMarkers are in every usdPrefixRe and usdSuffixRe match.
var usdMarkers = []string{"$", "usd", "dollar", "доллар", "долл", "bucks"}

func maxUSDIn(low string) (float64, bool) {
	best, found := 0.0, false
	for _, re := range []*regexp.Regexp{usdPrefixRe, usdSuffixRe} {
		for pos := 0; pos < len(low); {
			m := re.FindStringSubmatchIndex(low[pos:])
			if m == nil {
				break
			}
			num := low[pos+m[2] : pos+m[3]]
			mult := ""
			if m[4] >= 0 {
				mult = low[pos+m[4] : pos+m[5]]
			}
			pos += m[3] // go on after the number: the next amount may share a character
			if v, ok := parseUSD(num, mult); ok && (!found || v > best) {
				best, found = v, true
			}
		}
	}
	return best, found
}

// markedWindows returns the parts of text around each marker, from before
// bytes ahead of it to after bytes past it, overlapping parts merged and cut
// on rune boundaries. The CSAT and amount expressions run on these only: a
// plain scan of a long message with them is slow, and none can match away
// from its marker.
func markedWindows(text string, markers []string, before, after int) []string {
	type span struct{ from, to int }
	var spans []span
	for _, m := range markers {
		for off := 0; ; {
			i := strings.Index(text[off:], m)
			if i < 0 {
				break
			}
			i += off
			spans = append(spans, span{max(0, i-before), min(len(text), i+len(m)+after)})
			off = i + len(m)
		}
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var out []string
	for k := 0; k < len(spans); {
		cur := spans[k]
		for k++; k < len(spans) && spans[k].from <= cur.to; k++ {
			cur.to = max(cur.to, spans[k].to)
		}
		for cur.from > 0 && !utf8.RuneStart(text[cur.from]) {
			cur.from--
		}
		for cur.to < len(text) && !utf8.RuneStart(text[cur.to]) {
			cur.to++
		}
		out = append(out, text[cur.from:cur.to])
	}
	return out
}

// parseUSD reads a number as matched by usdNumber with its multiplier.
func parseUSD(num, mult string) (float64, bool) {
	if usdThousands.MatchString(num) {
		num = strings.ReplaceAll(num, ",", "")
	} else {
		num = strings.ReplaceAll(strings.ReplaceAll(num, " ", ""), ",", ".")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	switch strings.TrimSuffix(mult, ".") {
	case "k", "thousand", "тыс", "тысяч", "тысяча", "тысячи":
		v *= 1e3
	case "m", "mm", "mn", "mln", "million", "millions", "млн", "миллион", "миллиона", "миллионов":
		v *= 1e6
	case "b", "bn", "billion", "млрд", "миллиард", "миллиарда", "миллиардов":
		v *= 1e9
	}
	return v, !math.IsInf(v, 0)
}

// formatUSD writes "$25,000", with cents only when there are some
// ("$10,000.50").
func formatUSD(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	whole, cents, _ := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteByte('$')
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if cents != "00" {
		b.WriteString("." + cents)
	}
	return b.String()
}

// formatNumber writes v with at most two decimals, trailing zeros dropped.
func formatNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
