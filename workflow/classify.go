package workflow

import "github.com/escalationd/escalationd/internal/config"

// Decision is how a new escalation starts: its type, level, status and the
// reasons, in words, shown in the tracking file's Classification section.
type Decision struct {
	Type    Type
	Level   string
	Status  Status
	Reasons []string
}

// decide classifies the opening message of a new escalation. This is the one
// place that decides it: the workflow engine's rules (§4) replace the body.
// For now every request is Technical, one level above the sender's side.
func decide(in *Inbound, cust config.Customer) Decision {
	return Decision{
		Type:    Technical,
		Level:   "Tier 2",
		Status:  StatusEscalated,
		Reasons: []string{"no executive or vendor trigger: technical request, opened at Tier 2"},
	}
}
