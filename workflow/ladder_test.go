package workflow

import (
	"reflect"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
)

// The ladders of §4 as the engine knows them, against the table in the spec.
func TestLaddersAreTheSpecTable(t *testing.T) {
	if !reflect.DeepEqual(Ladders, specLadders) {
		t.Errorf("Ladders = %q\nwant      %q", Ladders, specLadders)
	}
	for typ, want := range specStart {
		if got := StartLevel(typ); got != want {
			t.Errorf("StartLevel(%s) = %q, want %q", typ, got, want)
		}
	}
	// The classifier (a new escalation) and /type start a type at the same
	// level.
	class, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	for typ, text := range openingText {
		d := class.Decide(&Inbound{Subject: "Orders fail", Text: text}, config.Customer{Domain: "x.test"}, 1)
		if d.Type != typ || d.Level != StartLevel(typ) {
			t.Errorf("classifier opens %q as %s at %q; /type %s starts at %q", text, d.Type, d.Level, typ, StartLevel(typ))
		}
	}
	if got := StartLevel("Sales"); got != "" {
		t.Errorf("StartLevel of an unknown type = %q", got)
	}
}

func TestLevelIndexAndNextLevel(t *testing.T) {
	for typ, lad := range specLadders {
		for i, level := range lad {
			for _, spelled := range []string{level, "  " + level + " ", strings.ToUpper(level), strings.ToLower(level)} {
				if got := LevelIndex(typ, spelled); got != i {
					t.Errorf("LevelIndex(%s, %q) = %d, want %d", typ, spelled, got, i)
				}
			}
			next, ok := NextLevel(typ, strings.ToLower(level))
			if i+1 < len(lad) {
				if !ok || next != lad[i+1] {
					t.Errorf("NextLevel(%s, %q) = %q %v, want %q", typ, level, next, ok, lad[i+1])
				}
			} else if ok || next != "" {
				t.Errorf("NextLevel(%s, %q) at the top = %q %v, want none", typ, level, next, ok)
			}
		}
	}
	for _, c := range []struct {
		typ   Type
		level string
	}{{Technical, "VP"}, {Executive, "Vendor"}, {Vendor, "Tier 2"}, {Technical, ""}, {Technical, "Tier"}, {"Sales", "Tier 2"}} {
		if i := LevelIndex(c.typ, c.level); i != -1 {
			t.Errorf("LevelIndex(%s, %q) = %d, want -1", c.typ, c.level, i)
		}
		if _, ok := NextLevel(c.typ, c.level); ok {
			t.Errorf("NextLevel(%s, %q) found a level above an unknown one", c.typ, c.level)
		}
	}
}

func TestParseType(t *testing.T) {
	for in, want := range map[string]Type{
		"technical": Technical, "Executive": Executive, " VENDOR ": Vendor,
		"": "", "tech": "", "sales": "", "executive vendor": "",
	} {
		got, ok := ParseType(in)
		if got != want || ok != (want != "") {
			t.Errorf("ParseType(%q) = %q %v, want %q", in, got, ok, want)
		}
	}
}

func TestLevelNamesForPeople(t *testing.T) {
	if got, want := levelNames(Vendor), "(Case opened → TAM/DSE/CE engaged → Vendor investigating → Resolved by vendor)"; got != want {
		t.Errorf("levelNames = %q, want %q", got, want)
	}
}
