package workflow

import (
	"strings"

	"github.com/escalationd/escalationd/internal/config"
)

// Starting levels of §4: one above the sender's side.
const (
	technicalStartLevel = "Tier 2"
	executiveStartLevel = "Team Lead"
	vendorStartLevel    = "Case opened"
)

// Ladders are the levels of each type, lowest first (§4). They are read
// from config, which owns the one table and checks the roster's level names
// against it, so a level the engine climbs to is always one the roster may
// name.
var Ladders = map[Type][]string{
	Technical: config.Ladder(string(Technical)),
	Executive: config.Ladder(string(Executive)),
	Vendor:    config.Ladder(string(Vendor)),
}

// StartLevel is where a new escalation of type t starts (§4): Technical at
// Tier 2 and Executive at Team Lead, one above the sender's side; Vendor at
// Case opened, the first level of its ladder. "" for an unknown type.
func StartLevel(t Type) string {
	switch t {
	case Technical:
		return technicalStartLevel
	case Executive:
		return executiveStartLevel
	case Vendor:
		return vendorStartLevel
	}
	return ""
}

// ParseType reads a type name in any case.
func ParseType(s string) (Type, bool) {
	for _, t := range []Type{Technical, Executive, Vendor} {
		if strings.EqualFold(strings.TrimSpace(s), string(t)) {
			return t, true
		}
	}
	return "", false
}

// LevelIndex is the position of level on t's ladder, matched without regard
// to case, or -1.
func LevelIndex(t Type, level string) int {
	for i, l := range Ladders[t] {
		if strings.EqualFold(l, strings.TrimSpace(level)) {
			return i
		}
	}
	return -1
}

// NextLevel is the level above level on t's ladder; ok is false at the top.
func NextLevel(t Type, level string) (string, bool) {
	i := LevelIndex(t, level)
	if i < 0 || i+1 >= len(Ladders[t]) {
		return "", false
	}
	return Ladders[t][i+1], true
}

// levelNames lists t's ladder for error messages, as §4 writes it:
// "(Tier 1 → Tier 2 → Tier 3 → Vendor)".
func levelNames(t Type) string {
	return "(" + strings.Join(Ladders[t], " → ") + ")"
}
