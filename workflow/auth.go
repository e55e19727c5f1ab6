package workflow

import (
	"github.com/escalationd/escalationd/internal/authres"
)

// authenticatedSender reports whether in's From domain is vouched for, for
// staff commands (§11.2), by the Authentication-Results of the trusted
// server authservID (§3 staff): dmarc=pass with header.from the From domain,
// or dkim=pass with header.d aligned with it. Only the topmost field of that
// server counts (the one it added last, above anything the sender wrote),
// parsed from its raw bytes (in.AuthResults); text in the body never counts.
// An aligned SPF pass alone is not enough. The reason says what was found.
func authenticatedSender(in *Inbound, authservID string) (bool, string) {
	if authservID == "" {
		return false, "staff.authserv_id is not set: no Authentication-Results is trusted"
	}
	v := authres.Evaluate(in.AuthResults, authservID, domainOf(in.From.Email))
	switch {
	case v.DMARC || v.DKIM:
		return true, v.Reason
	case v.SPF:
		return false, "only " + v.Reason + "; commands need aligned dkim or dmarc pass"
	}
	return false, v.Reason
}

// senderPasses reports whether in passes aligned SPF, aligned DKIM or DMARC
// in the trusted Authentication-Results field of authservID: what
// limits.ack_requires_authenticated_sender asks of a message before it is
// acknowledged (§11 Backscatter). The reason says what was found.
func senderPasses(in *Inbound, authservID string) (bool, string) {
	if authservID == "" {
		return false, "staff.authserv_id is not set: no Authentication-Results is trusted"
	}
	v := authres.Evaluate(in.AuthResults, authservID, domainOf(in.From.Email))
	return v.Pass(), v.Reason
}
