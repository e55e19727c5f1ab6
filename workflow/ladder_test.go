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

// There is one ladder table, config's: the engine's Ladders are read from
// it, and config accepts roster contacts at exactly the levels the engine can
// reach. Were a second table to appear on either side and drift, this fails.
func TestLaddersAreConfigs(t *testing.T) {
	types := []Type{Technical, Executive, Vendor}
	if len(Ladders) != len(types) {
		t.Errorf("Ladders has %d types, want %d", len(Ladders), len(types))
	}
	for _, typ := range types {
		if got, want := Ladders[typ], config.Ladder(string(typ)); len(got) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("Ladders[%s] = %q, config.Ladder = %q", typ, got, want)
		}
		for _, level := range Ladders[typ] {
			cfg := config.Default()
			cfg.Roster = rosterAt(typ, level)
			if err := cfg.Validate(); err != nil {
				t.Errorf("roster contact at %s level %q: %v", typ, level, err)
			}
		}
		cfg := config.Default()
		cfg.Roster = rosterAt(typ, "Tier 9")
		if cfg.Validate() == nil {
			t.Errorf("config accepts %s level \"Tier 9\", which the engine never reaches", typ)
		}
	}
}

// rosterAt is a roster with one contact, at level of typ's ladder.
func rosterAt(typ Type, level string) config.Roster {
	m := map[string][]config.Contact{level: {{Email: "contact@example.com"}}}
	switch typ {
	case Technical:
		return config.Roster{Technical: m}
	case Executive:
		return config.Roster{Executive: m}
	}
	return config.Roster{Vendor: m}
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
