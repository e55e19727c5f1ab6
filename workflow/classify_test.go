package workflow

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/escalationd/escalationd/internal/config"
)

// classifyCase is one opening message and the decision it must get.
type classifyCase struct {
	name    string
	subject string // "Help needed" when empty
	text    string
	tier    string // customer tier; "" is a standard customer
	recent  int    // escalations in the window, this one counted; 0 means 1
	cfg     func(*config.Classification)
	typ     Type
	vendor  string
	reasons []string
}

const noTrigger = "no executive or vendor trigger: technical request"

var classifyCases = []classifyCase{
	// --- revenue impact ---
	{name: "revenue $25,000", text: "We are losing $25,000 per hour.", typ: Executive,
		reasons: []string{"revenue impact $25,000 > $10,000"}},
	{name: "revenue $25k", text: "Impact is about $25k so far", typ: Executive,
		reasons: []string{"revenue impact $25,000 > $10,000"}},
	{name: "revenue 25k USD", text: "roughly 25k USD lost", typ: Executive,
		reasons: []string{"revenue impact $25,000 > $10,000"}},
	{name: "revenue USD 12000", text: "USD 12000 of orders failed", typ: Executive,
		reasons: []string{"revenue impact $12,000 > $10,000"}},
	{name: "revenue $12.5k", text: "We lost $12.5k yesterday", typ: Executive,
		reasons: []string{"revenue impact $12,500 > $10,000"}},
	{name: "revenue $1.2M", text: "A $1.2M deal depends on this", typ: Executive,
		reasons: []string{"revenue impact $1,200,000 > $10,000"}},
	{name: "revenue million dollars", text: "1.2 million dollars at stake", typ: Executive,
		reasons: []string{"revenue impact $1,200,000 > $10,000"}},
	{name: "revenue space-grouped", text: "12 000 USD per day", typ: Executive,
		reasons: []string{"revenue impact $12,000 > $10,000"}},
	{name: "revenue US$", text: "US$15,000 in refunds", typ: Executive,
		reasons: []string{"revenue impact $15,000 > $10,000"}},
	{name: "revenue cents kept", text: "exactly $10,000.50 lost", typ: Executive,
		reasons: []string{"revenue impact $10,000.50 > $10,000"}},
	{name: "revenue largest quoted", text: "First $11,000, then $40k, then $20,000.", typ: Executive,
		reasons: []string{"revenue impact $40,000 > $10,000"}},
	{name: "revenue in subject", subject: "$50,000/day outage", text: "see subject", typ: Executive,
		reasons: []string{"revenue impact $50,000 > $10,000"}},
	{name: "revenue RU dollars sign", text: "Убытки $30 000 в день", typ: Executive,
		reasons: []string{"revenue impact $30,000 > $10,000"}},
	{name: "revenue RU долларов", text: "Выручка падает: убытки 30 000 долларов", typ: Executive,
		reasons: []string{"revenue impact $30,000 > $10,000"}},
	{name: "revenue RU тыс. долларов", text: "потеряли 45 тыс. долларов", typ: Executive,
		reasons: []string{"revenue impact $45,000 > $10,000"}},
	{name: "revenue RU млн долларов", text: "под угрозой контракт на 1,5 млн долларов", typ: Executive,
		reasons: []string{"revenue impact $1,500,000 > $10,000"}},
	{name: "revenue exactly threshold", text: "We lost $10,000 today", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "revenue under threshold", text: "about $9,999.99 and 5k USD", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "revenue roubles ignored", text: "выручка 500 000 руб в час", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "revenue euros ignored", text: "losing €50,000 and 60 000 EUR", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "revenue other dollar ignored", text: "C$50,000 and HK$90,000", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "plain numbers ignored", text: "25000 requests on 12 000 hosts, ticket 123456", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "revenue threshold raised", text: "We are losing $25,000 per hour.", typ: Technical,
		cfg:     func(c *config.Classification) { c.RevenueThresholdUSD = 30000 },
		reasons: []string{noTrigger}},
	{name: "revenue threshold lowered", text: "About $5,000 lost.", typ: Executive,
		cfg:     func(c *config.Classification) { c.RevenueThresholdUSD = 2500.5 },
		reasons: []string{"revenue impact $5,000 > $2,500.50"}},

	// --- CSAT ---
	{name: "CSAT colon", text: "CSAT: 2", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "CSAT slash 5", text: "Our CSAT 2/5 after the outage", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "CSAT equals", text: "CSAT=1", typ: Executive, reasons: []string{"CSAT 1 < 3"}},
	{name: "satisfaction out of", text: "customer satisfaction 2 out of 5", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "satisfaction score", text: "Satisfaction score: 2", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "CSAT decimal", text: "CSAT is 2.5", typ: Executive, reasons: []string{"CSAT 2.5 < 3"}},
	{name: "CSAT out of 10 scaled", text: "CSAT 4/10", typ: Executive, reasons: []string{"CSAT 4/10 (2 of 5) < 3"}},
	{name: "CSAT percent scaled", text: "CSAT 40%", typ: Executive, reasons: []string{"CSAT 40% (2 of 5) < 3"}},
	{name: "CSAT out of 10 high", text: "CSAT 6/10", typ: Technical, reasons: []string{noTrigger}},
	{name: "CSAT lowest reading", text: "CSAT 4/5 last month, CSAT dropped to 1 now", typ: Executive,
		reasons: []string{"CSAT 1 < 3"}},
	{name: "CSAT RU оценка", text: "Клиент поставил оценка 2 из 5", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "CSAT RU удовлетворённость", text: "удовлетворённость 2", typ: Executive, reasons: []string{"CSAT 2 < 3"}},
	{name: "CSAT RU удовлетворенность составляет", text: "Удовлетворенность клиента составляет 1,5", typ: Executive,
		reasons: []string{"CSAT 1.5 < 3"}},
	{name: "CSAT 3 not below 3", text: "CSAT: 3", typ: Technical, reasons: []string{noTrigger}},
	{name: "CSAT survey without number", text: "Please send the CSAT survey to 2 users", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "unrelated small numbers", text: "2 servers down, 1 of 5 nodes, priority 1", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "CSAT bare number above 5", text: "CSAT 2025 report", typ: Technical, reasons: []string{noTrigger}},
	{name: "оценка without scale", text: "оценка 2 дня на исправление", typ: Technical, reasons: []string{noTrigger}},
	{name: "CSAT threshold raised", text: "CSAT: 3", typ: Executive,
		cfg:     func(c *config.Classification) { c.CSATBelow = 4 },
		reasons: []string{"CSAT 3 < 4"}},
	{name: "CSAT rule off", text: "CSAT: 0", typ: Technical,
		cfg:     func(c *config.Classification) { c.CSATBelow = 0 },
		reasons: []string{noTrigger}},

	// --- manager requests ---
	{name: "manager enterprise your manager", tier: "enterprise", text: "Hi, let me speak to your manager now.",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("let me speak to your manager now")`}},
	{name: "manager enterprise tier any case", tier: " Enterprise ", text: "I want to talk to a supervisor",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("I want to talk to a supervisor")`}},
	{name: "manager enterprise director", tier: "enterprise", text: "Connect me with the director please",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Connect me with the director please")`}},
	{name: "manager enterprise someone senior", tier: "enterprise", text: "We need someone senior on this",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("We need someone senior on this")`}},
	{name: "manager enterprise escalate to management", tier: "enterprise", text: "Escalate to management.",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Escalate to management")`}},
	{name: "manager enterprise wrapped line", tier: "enterprise", text: "I would like to speak to a\nmanager about this",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("I would like to speak to a manager about this")`}},
	{name: "manager RU руководитель", tier: "enterprise", text: "Соедините меня с руководителем.",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Соедините меня с руководителем")`}},
	{name: "manager RU руководству", tier: "enterprise", text: "Передайте руководству, что это неприемлемо",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Передайте руководству")`}},
	{name: "manager RU начальник", tier: "enterprise", text: "Позовите вашего начальника",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Позовите вашего начальника")`}},
	{name: "manager RU директор", tier: "enterprise", text: "Хочу поговорить с директором",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("Хочу поговорить с директором")`}},
	{name: "manager RU менеджер after verb", tier: "enterprise", text: "позовите старшего менеджера",
		typ: Executive, reasons: []string{`enterprise customer Acme Corp asks for a manager ("позовите старшего менеджера")`}},
	{name: "manager RU менеджер alone", tier: "enterprise", text: "Менеджер Иван прислал логи", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "manager my manager", tier: "enterprise", text: "My manager said it's fine to wait", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "manager our manager", tier: "enterprise", text: "Our manager approved the change; our supervisor agrees", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "manager RU наш руководитель", tier: "enterprise", text: "Наш руководитель в курсе, мой начальник тоже",
		typ: Technical, reasons: []string{noTrigger}},
	{name: "manager negated", tier: "enterprise", text: "No need to speak to a manager, just fix it", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "manager non-enterprise", text: "Let me speak to your manager", typ: Technical,
		reasons: []string{`manager requested by a non-enterprise customer ("Let me speak to your manager")`}},

	// --- repeated issues ---
	{name: "repeat at count", recent: 3, text: "Same problem again", typ: Executive,
		reasons: []string{"3 escalations from Acme Corp in 30 days (this one counted) ≥ 3"}},
	{name: "repeat above count", recent: 7, text: "Same problem again", typ: Executive,
		reasons: []string{"7 escalations from Acme Corp in 30 days (this one counted) ≥ 3"}},
	{name: "repeat below count", recent: 2, text: "Same problem again", typ: Technical, reasons: []string{noTrigger}},
	{name: "repeat count raised", recent: 3, text: "Same problem again", typ: Technical,
		cfg: func(c *config.Classification) { c.RepeatCount = 5 }, reasons: []string{noTrigger}},
	{name: "repeat count raised reached", recent: 5, text: "Same problem again", typ: Executive,
		cfg:     func(c *config.Classification) { c.RepeatCount = 5; c.RepeatWindow = 36 * time.Hour },
		reasons: []string{"5 escalations from Acme Corp in 36 hours (this one counted) ≥ 5"}},

	// --- vendor requests ---
	{name: "vendor open a case with AWS", text: "Please open a case with AWS.", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("Please open a case with AWS")`}},
	{name: "vendor escalate to Azure support", text: "Can you escalate to Azure support?", typ: Vendor, vendor: "Azure",
		reasons: []string{`explicit request to escalate to Azure ("Can you escalate to Azure support")`}},
	{name: "vendor engage our AWS TAM", text: "Engage our AWS TAM", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("Engage our AWS TAM")`}},
	{name: "vendor GCP DSE/CE", text: "Get the GCP DSE/CE involved", typ: Vendor, vendor: "GCP",
		reasons: []string{`explicit request to escalate to GCP ("Get the GCP DSE/CE involved")`}},
	{name: "vendor Google Cloud", text: "Open a ticket with Google Cloud today", typ: Vendor, vendor: "GCP",
		reasons: []string{`explicit request to escalate to GCP ("Open a ticket with Google Cloud today")`}},
	{name: "vendor raise a ticket with Oracle", text: "raise a ticket with Oracle", typ: Vendor, vendor: "Oracle",
		reasons: []string{`explicit request to escalate to Oracle ("raise a ticket with Oracle")`}},
	{name: "vendor OCI", text: "open a support case with OCI", typ: Vendor, vendor: "Oracle",
		reasons: []string{`explicit request to escalate to Oracle ("open a support case with OCI")`}},
	{name: "vendor Microsoft support is Azure", text: "please involve Microsoft support", typ: Vendor, vendor: "Azure",
		reasons: []string{`explicit request to escalate to Azure ("please involve Microsoft support")`}},
	{name: "vendor AWS support case before", text: "We need an AWS support case for this", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("We need an AWS support case for this")`}},
	{name: "vendor RU откройте кейс", text: "Откройте кейс в AWS", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("Откройте кейс в AWS")`}},
	{name: "vendor RU эскалируйте", text: "Эскалируйте в Azure", typ: Vendor, vendor: "Azure",
		reasons: []string{`explicit request to escalate to Azure ("Эскалируйте в Azure")`,
			`customer requests escalation ("Эскалируйте в Azure")`}},
	{name: "vendor two vendors", text: "Open a case with AWS. Also contact Oracle support.", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("Open a case with AWS")`,
			`explicit request to escalate to Oracle ("Also contact Oracle support")`}},
	{name: "vendor mere mention AWS", text: "We run on AWS and the API is down", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor mere mention Azure", text: "Our Azure VMs are slow", typ: Technical, vendor: "Azure",
		reasons: []string{noTrigger}},
	{name: "vendor mention of two clouds", text: "Migrating from AWS to GCP next week", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "vendor weak name is no mention", text: "Our Microsoft Teams links are broken", typ: Technical,
		reasons: []string{noTrigger}},
	{name: "vendor statement not request", text: "We contacted AWS yesterday and opened a case", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor after a non-filler", text: "Please contact me about AWS billing", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor too far", text: "Please contact me about the outage on AWS", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor other clause", text: "Please open a ticket. We run on AWS.", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor name before a verb", text: "Our AWS contact said a fix is coming", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},
	{name: "vendor after too many fillers", text: "Please engage with the support team in our AWS account", typ: Technical,
		vendor: "AWS", reasons: []string{noTrigger}},
	{name: "vendor after four fillers", text: "Open a case with the team at AWS", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("Open a case with the team at AWS")`}},
	{name: "vendor negated", text: "Don't open a case with AWS yet", typ: Technical, vendor: "AWS",
		reasons: []string{noTrigger}},

	// --- technical reasons ---
	{name: "beyond our expertise", text: "Tier 1 says this is beyond our expertise.", typ: Technical,
		reasons: []string{`beyond expertise ("Tier 1 says this is beyond our expertise")`}},
	{name: "out of our depth", text: "Honestly we're out of our depth here", typ: Technical,
		reasons: []string{`beyond expertise ("Honestly we're out of our depth here")`}},
	{name: "we can't solve this", text: "We can’t solve this without help", typ: Technical,
		reasons: []string{`beyond expertise ("We can’t solve this without help")`}},
	{name: "RU вне компетенции", text: "Это вне нашей компетенции", typ: Technical,
		reasons: []string{`beyond expertise ("Это вне нашей компетенции")`}},
	{name: "SLA at risk", text: "SLA at risk!", typ: Technical, reasons: []string{`SLA at risk ("SLA at risk")`}},
	{name: "about to breach the SLA", text: "We are about to breach the SLA", typ: Technical,
		reasons: []string{`SLA at risk ("We are about to breach the SLA")`}},
	{name: "SLA breach", text: "Possible SLA breach in 2h", typ: Technical,
		reasons: []string{`SLA at risk ("Possible SLA breach in 2h")`}},
	{name: "RU нарушение SLA", text: "Есть риск нарушения SLA", typ: Technical,
		reasons: []string{`SLA at risk ("Есть риск нарушения SLA")`}},
	{name: "RU под угрозой SLA", text: "под угрозой SLA по инциденту", typ: Technical,
		reasons: []string{`SLA at risk ("под угрозой SLA по инциденту")`}},
	{name: "no SLA breach", text: "No SLA breach expected", typ: Technical, reasons: []string{noTrigger}},
	{name: "please escalate", text: "Please escalate.", typ: Technical,
		reasons: []string{`customer requests escalation ("Please escalate")`}},
	{name: "escalate this", text: "Escalate this to tier 3", typ: Technical,
		reasons: []string{`customer requests escalation ("Escalate this to tier 3")`}},
	{name: "need this escalated", text: "We need this escalated today", typ: Technical,
		reasons: []string{`customer requests escalation ("We need this escalated today")`}},
	{name: "RU прошу эскалировать", text: "Прошу эскалировать обращение", typ: Technical,
		reasons: []string{`customer requests escalation ("Прошу эскалировать обращение")`}},
	{name: "RU эскалируйте", text: "Срочно эскалируйте!", typ: Technical,
		reasons: []string{`customer requests escalation ("Срочно эскалируйте")`}},
	{name: "negated escalation", text: "Please don't escalate this yet", typ: Technical, reasons: []string{noTrigger}},
	{name: "RU negated escalation", text: "Не нужно эскалировать", typ: Technical, reasons: []string{noTrigger}},
	{name: "all technical reasons in order", subject: "Please escalate",
		text: "SLA at risk. This is beyond our expertise.", typ: Technical,
		reasons: []string{`beyond expertise ("This is beyond our expertise")`, `SLA at risk ("SLA at risk")`,
			`customer requests escalation ("Please escalate")`}},
	{name: "no trigger", text: "The export button does nothing.", typ: Technical, reasons: []string{noTrigger}},
	{name: "empty message", subject: " ", text: "", typ: Technical, reasons: []string{noTrigger}},

	// --- precedence: Executive, then Vendor, then Technical; all reasons listed ---
	{name: "revenue and vendor", text: "We lose $25,000 per hour. Open a case with AWS.", typ: Executive, vendor: "AWS",
		reasons: []string{"revenue impact $25,000 > $10,000", `explicit request to escalate to AWS ("Open a case with AWS")`}},
	{name: "every executive trigger", tier: "enterprise", recent: 4,
		text: "CSAT 1/5. Please escalate to your manager. We lose $80k a day.", typ: Executive,
		reasons: []string{"CSAT 1 < 3",
			`enterprise customer Acme Corp asks for a manager ("Please escalate to your manager")`,
			"4 escalations from Acme Corp in 30 days (this one counted) ≥ 3",
			"revenue impact $80,000 > $10,000",
			`customer requests escalation ("Please escalate to your manager")`}},
	{name: "vendor with technical reasons", text: "SLA at risk, please escalate to AWS support", typ: Vendor, vendor: "AWS",
		reasons: []string{`explicit request to escalate to AWS ("please escalate to AWS support")`,
			`SLA at risk ("SLA at risk")`, `customer requests escalation ("please escalate to AWS support")`}},

	// --- what the rules read ---
	{name: "quoted reply ignored",
		text: "Thanks for the update.\n\nOn Monday Bob wrote:\n> We lose $50,000 per hour\n  > CSAT 1/5\n>please escalate",
		typ:  Technical, reasons: []string{noTrigger}},
	{name: "blank line breaks a phrase", tier: "enterprise", text: "I want to speak to your\n\nmanager",
		typ: Technical, reasons: []string{noTrigger}},
	{name: "comma breaks a phrase", text: "Please, escalate", typ: Technical, reasons: []string{noTrigger}},
	{name: "no match inside words", text: "The cesla task at risky times", typ: Technical, reasons: []string{noTrigger}},
}

// acme is the customer of the cases; tier comes from the case.
func acme(tier string) config.Customer {
	return config.Customer{Domain: "acme.test", Name: "Acme Corp", Tier: tier}
}

func TestDecideClassification(t *testing.T) {
	def := config.Default().Classification
	for _, tc := range classifyCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := def
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			c, err := NewClassifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			subject := tc.subject
			if subject == "" {
				subject = "Help needed"
			}
			recent := tc.recent
			if recent == 0 {
				recent = 1
			}
			got := c.Decide(&Inbound{Subject: subject, Text: tc.text}, acme(tc.tier), recent)
			want := Decision{Type: tc.typ, Level: startLevel(tc.typ), Status: StatusEscalated,
				Reasons: tc.reasons, Vendor: tc.vendor}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("text %q:\n got %#v\nwant %#v", tc.text, got, want)
			}
		})
	}
}

// startLevel is §4's starting level of each type, written out independently
// of classify.go.
func startLevel(typ Type) string {
	return map[Type]string{Technical: "Tier 2", Executive: "Team Lead", Vendor: "Case opened"}[typ]
}

func TestDecideCustomKeywords(t *testing.T) {
	tests := []struct {
		name     string
		keywords config.Keywords
		tier     string
		builtin  string // matched by the built-in list, not by the custom one
		custom   string // matched by the custom list
		typ      Type   // of custom
		reason   string // of custom
	}{
		{name: "manager_request", tier: "enterprise",
			keywords: config.Keywords{ManagerRequest: []string{"bring the boss*", "шеф*"}},
			builtin:  "let me speak to your manager", custom: "Bring the bosses in", typ: Executive,
			reason: `enterprise customer Acme Corp asks for a manager ("Bring the bosses in")`},
		{name: "manager_request RU stem", tier: "enterprise",
			keywords: config.Keywords{ManagerRequest: []string{"шеф*"}},
			builtin:  "позовите руководителя", custom: "Позовите шефа", typ: Executive,
			reason: `enterprise customer Acme Corp asks for a manager ("Позовите шефа")`},
		{name: "vendor_request",
			keywords: config.Keywords{VendorRequest: []string{"hand over to"}},
			builtin:  "open a case with AWS", custom: "Hand over to GCP", typ: Vendor,
			reason: `explicit request to escalate to GCP ("Hand over to GCP")`},
		{name: "vendor_request works both ways",
			keywords: config.Keywords{VendorRequest: []string{"premier case"}},
			builtin:  "engage our AWS TAM", custom: "file an Azure premier case", typ: Vendor,
			reason: `explicit request to escalate to Azure ("file an Azure premier case")`},
		{name: "escalation_request",
			keywords: config.Keywords{EscalationRequest: []string{"bump this up"}},
			builtin:  "please escalate", custom: "Kindly bump this up", typ: Technical,
			reason: `customer requests escalation ("Kindly bump this up")`},
		{name: "beyond_expertise",
			keywords: config.Keywords{BeyondExpertise: []string{"no idea"}},
			builtin:  "beyond our expertise", custom: "We have no idea", typ: Technical,
			reason: `beyond expertise ("We have no idea")`},
		{name: "sla_risk",
			keywords: config.Keywords{SLARisk: []string{"breach"}},
			builtin:  "SLA at risk", custom: "Breach in one hour", typ: Technical,
			reason: `SLA at risk ("Breach in one hour")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default().Classification
			cfg.Keywords = tc.keywords
			c, err := NewClassifier(cfg)
			if err != nil {
				t.Fatal(err)
			}
			def, err := NewClassifier(config.Default().Classification)
			if err != nil {
				t.Fatal(err)
			}
			if d := def.Decide(&Inbound{Text: tc.builtin}, acme(tc.tier), 1); d.Reasons[0] == noTrigger {
				t.Fatalf("built-in list does not match %q: the case proves nothing", tc.builtin)
			}
			if d := c.Decide(&Inbound{Text: tc.builtin}, acme(tc.tier), 1); d.Type != Technical || !slicesEqual(d.Reasons, []string{noTrigger}) {
				t.Errorf("custom list still matches built-in %q: %+v", tc.builtin, d)
			}
			d := c.Decide(&Inbound{Text: tc.custom}, acme(tc.tier), 1)
			if d.Type != tc.typ || !slicesEqual(d.Reasons, []string{tc.reason}) {
				t.Errorf("custom %q: got %s %q, want %s %q", tc.custom, d.Type, d.Reasons, tc.typ, tc.reason)
			}
		})
	}
}

// A configured manager phrase keeps the possessive guard: "наш руководитель"
// is a statement, "мнение руководителя" is not.
func TestDecideCustomManagerPossessive(t *testing.T) {
	cfg := config.Default().Classification
	cfg.Keywords.ManagerRequest = []string{"руководител*"}
	c, err := NewClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]string{
		"Наш руководитель в курсе":  {noTrigger},
		"Нашему руководителю плохо": {noTrigger},
		"Нужно мнение руководителя": {`enterprise customer Acme Corp asks for a manager ("Нужно мнение руководителя")`},
	} {
		if d := c.Decide(&Inbound{Text: text}, acme("enterprise"), 1); !slicesEqual(d.Reasons, want) {
			t.Errorf("%q: got %q, want %q", text, d.Reasons, want)
		}
	}
}

func slicesEqual(a, b []string) bool { return reflect.DeepEqual(a, b) }

// Each list that is empty keeps its built-in phrases while another is
// replaced.
func TestDecideCustomKeywordsOnlyReplaceTheirList(t *testing.T) {
	cfg := config.Default().Classification
	cfg.Keywords.SLARisk = []string{"breach"}
	c, err := NewClassifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := c.Decide(&Inbound{Text: "Please escalate. Open a case with AWS."}, acme(""), 1)
	want := []string{`explicit request to escalate to AWS ("Open a case with AWS")`, `customer requests escalation ("Please escalate")`}
	if d.Type != Vendor || !slicesEqual(d.Reasons, want) {
		t.Errorf("got %s %q, want Vendor %q", d.Type, d.Reasons, want)
	}
}

func TestNewClassifierErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.Classification)
		want string // in the error
	}{
		{"negative revenue", func(c *config.Classification) { c.RevenueThresholdUSD = -1 }, "revenue_threshold_usd"},
		{"negative csat", func(c *config.Classification) { c.CSATBelow = -1 }, "csat_below"},
		{"negative repeat", func(c *config.Classification) { c.RepeatCount = -2 }, "repeat_count"},
		{"phrase without words", func(c *config.Classification) { c.Keywords.SLARisk = []string{"ok", " -- "} }, "keywords.sla_risk"},
		{"lone star", func(c *config.Classification) { c.Keywords.ManagerRequest = []string{"*"} }, "keywords.manager_request"},
		{"star inside a word", func(c *config.Classification) { c.Keywords.VendorRequest = []string{"op*en"} }, "keywords.vendor_request"},
		{"empty phrase", func(c *config.Classification) { c.Keywords.EscalationRequest = []string{""} }, "keywords.escalation_request"},
		{"star before a word", func(c *config.Classification) { c.Keywords.BeyondExpertise = []string{"*expert"} }, "keywords.beyond_expertise"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default().Classification
			tc.edit(&cfg)
			_, err := NewClassifier(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s", err, tc.want)
			}
		})
	}
	// Zero thresholds are allowed: revenue 0 makes any USD amount count,
	// csat_below and repeat_count 0 turn their rules off.
	c, err := NewClassifier(config.Classification{})
	if err != nil {
		t.Fatal(err)
	}
	d := c.Decide(&Inbound{Text: "CSAT 0/5 on a $1 plan"}, acme(""), 99)
	if want := []string{"revenue impact $1 > $0"}; d.Type != Executive || !slicesEqual(d.Reasons, want) {
		t.Errorf("zero config: got %s %q, want Executive %q", d.Type, d.Reasons, want)
	}
}

// Every built-in phrase, written as a message, is found by its own list:
// none is shadowed by the tokenizer or the guards.
func TestClassifyBuiltinLists(t *testing.T) {
	c, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	sets := []struct {
		name    string
		phrases []string
		set     *kwSet
	}{
		{"manager", builtinManagerRequest(), c.manager},
		{"vendor", builtinVendorRequest, c.vendorAfter},
		{"vendor roles", builtinVendorRoles, c.vendorEither},
		{"escalation", builtinEscalationRequest, c.escalation},
		{"beyond", builtinBeyondExpertise, c.beyond},
		{"sla", builtinSLARisk, c.slaRisk},
	}
	for _, s := range sets {
		if len(s.phrases) == 0 {
			t.Errorf("%s: empty built-in list", s.name)
		}
		for _, p := range s.phrases {
			text := strings.ReplaceAll(p, "*", "")
			if _, ok := s.set.first(newKwText("", text), guardManager); !ok {
				t.Errorf("%s: phrase %q does not match itself", s.name, p)
			}
		}
	}
	for _, p := range builtinVendorRequest {
		text := strings.ReplaceAll(p, "*", "") + " the AWS team"
		if r := c.vendorRequests(newKwText("", text)); len(r) != 1 || r[0].vendor != "AWS" {
			t.Errorf("vendor request %q: got %+v", text, r)
		}
	}
	for _, p := range builtinVendorRoles {
		text := "Oracle " + p
		if r := c.vendorRequests(newKwText("", text)); len(r) != 1 || r[0].vendor != "Oracle" {
			t.Errorf("vendor role %q: got %+v", text, r)
		}
	}
}

func TestDecideVendorNames(t *testing.T) {
	c, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, vendor string }{
		{"AWS", "AWS"}, {"Amazon Web Services", "AWS"}, {"Amazon", "AWS"}, {"Амазон", "AWS"},
		{"Azure", "Azure"}, {"Microsoft Azure", "Azure"}, {"Microsoft", "Azure"}, {"Майкрософт", "Azure"},
		{"GCP", "GCP"}, {"Google Cloud", "GCP"}, {"Google Cloud Platform", "GCP"}, {"Google", "GCP"}, {"Гугл", "GCP"},
		{"Oracle", "Oracle"}, {"OCI", "Oracle"}, {"Oracle Cloud Infrastructure", "Oracle"}, {"Оракл", "Oracle"},
	} {
		d := c.Decide(&Inbound{Text: "Please open a case with " + tc.name + " today"}, acme(""), 1)
		if d.Type != Vendor || d.Vendor != tc.vendor {
			t.Errorf("%s: got %s vendor %q, want Vendor %q", tc.name, d.Type, d.Vendor, tc.vendor)
		}
	}
}

func TestDecideUnicodeForms(t *testing.T) {
	c, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	// Decomposed "й" (и + U+0306) and "ё", upper case, non-breaking spaces.
	text := norm.NFD.String("ПРОШУ ЭСКАЛИРОВАТЬ. Удовлетворённость:\u00a02. Убытки 20\u00a0000\u00a0долларов")
	d := c.Decide(&Inbound{Text: text}, acme(""), 1)
	want := []string{"CSAT 2 < 3", "revenue impact $20,000 > $10,000", `customer requests escalation ("ПРОШУ ЭСКАЛИРОВАТЬ")`}
	if d.Type != Executive || !slicesEqual(d.Reasons, want) {
		t.Errorf("got %s %q, want Executive %q", d.Type, d.Reasons, want)
	}
}

func TestDecideNilAndHuge(t *testing.T) {
	c, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.Decide(nil, config.Customer{}, 0); d.Type != Technical || d.Level != "Tier 2" || !slicesEqual(d.Reasons, []string{noTrigger}) {
		t.Errorf("nil message: %+v", d)
	}
	// A trigger past the bound is not read; one before it is.
	pad := strings.Repeat("lorem ipsum dolor sit amet ", maxClassifyBytes/27+1)
	if d := c.Decide(&Inbound{Text: pad + "please escalate"}, acme(""), 1); d.Reasons[0] != noTrigger {
		t.Errorf("trigger past the bound read: %q", d.Reasons)
	}
	if d := c.Decide(&Inbound{Text: "please escalate " + pad}, acme(""), 1); len(d.Reasons) != 1 ||
		!strings.HasPrefix(d.Reasons[0], "customer requests escalation") {
		t.Errorf("trigger before the bound: %q", d.Reasons)
	}
	// The customer is named by its name, else its domain.
	d := c.Decide(&Inbound{}, config.Customer{Domain: "beta.test"}, 3)
	if want := "3 escalations from beta.test in 30 days (this one counted) ≥ 3"; len(d.Reasons) != 1 || d.Reasons[0] != want {
		t.Errorf("got %q, want %q", d.Reasons, want)
	}
}

func TestClassifyWindowWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		720 * time.Hour: "30 days", 24 * time.Hour: "1 day", 36 * time.Hour: "36 hours",
		time.Hour: "1 hour", 90 * time.Minute: "1h30m0s", 0: "the repeat window",
	} {
		if got := windowWords(d); got != want {
			t.Errorf("windowWords(%v) = %q, want %q", d, got, want)
		}
	}
}
