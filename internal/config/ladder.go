package config

import (
	"slices"
	"strings"
)

// ladders are the levels of each escalation type, lowest first (SPEC §4).
// This is the only copy of the table: the roster's level names are checked
// against it here, and the workflow package climbs it through Ladder.
var ladders = map[string][]string{
	"technical": {"Tier 1", "Tier 2", "Tier 3", "Vendor"},
	"executive": {"Customer", "Team Lead", "Manager", "Director", "VP"},
	"vendor":    {"Case opened", "TAM/DSE/CE engaged", "Vendor investigating", "Resolved by vendor"},
}

// Ladder returns the levels of an escalation type, lowest first (SPEC §4).
// typ is "technical", "executive" or "vendor", in any case. It returns nil
// for an unknown type. The slice is a copy: changing it changes no ladder.
func Ladder(typ string) []string {
	return slices.Clone(ladders[strings.ToLower(strings.TrimSpace(typ))])
}
