package config

import (
	"reflect"
	"testing"
)

func TestLadder(t *testing.T) {
	for _, typ := range []string{"technical", "Technical", " VENDOR ", "executive"} {
		if len(Ladder(typ)) == 0 {
			t.Errorf("Ladder(%q) is empty", typ)
		}
	}
	if got, want := Ladder("Technical"), []string{"Tier 1", "Tier 2", "Tier 3", "Vendor"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Ladder(Technical) = %q, want %q", got, want)
	}
	if got := Ladder("sales"); got != nil {
		t.Errorf("Ladder of an unknown type = %q, want nil", got)
	}
	l := Ladder("vendor")
	l[0] = "changed"
	if Ladder("vendor")[0] != "Case opened" {
		t.Error("changing the slice Ladder returned changed the ladder")
	}
}
