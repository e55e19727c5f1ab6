package workflow

import "strings"

// Word lists of the classification rules (SPEC §4): the built-in keywords,
// the vendor names and the small words around a match.

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
