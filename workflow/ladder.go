package workflow

import (
	"fmt"
	"strings"
)

// Ladders are the levels of each type, lowest first (§4).
var Ladders = map[Type][]string{
	Technical: {"Tier 1", "Tier 2", "Tier 3", "Vendor"},
	Executive: {"Customer", "Team Lead", "Manager", "Director", "VP"},
	Vendor:    {"Case opened", "TAM/DSE/CE engaged", "Vendor investigating", "Resolved by vendor"},
}

// StartLevel is where a new escalation of type t starts: one above the
// sender's side (§4).
func StartLevel(t Type) string { return Ladders[t][1] }

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

// levelNames lists t's ladder for error messages.
func levelNames(t Type) string {
	return fmt.Sprintf("%q", Ladders[t])
}
