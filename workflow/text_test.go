package workflow

import (
	"testing"
	"time"
)

// TestFormatTime pins the one time format of the tracking file, mail and
// "escalationd inspect": minutes, and the zone's abbreviation.
func TestFormatTime(t *testing.T) {
	at := time.Date(2026, 11, 28, 18, 5, 59, 0, time.UTC)
	if got, want := FormatTime(at, time.UTC), "2026-11-28 18:05 UTC"; got != want {
		t.Errorf("FormatTime(UTC) = %q, want %q", got, want)
	}
	berlin := time.FixedZone("CET", 3600)
	if got, want := FormatTime(at, berlin), "2026-11-28 19:05 CET"; got != want {
		t.Errorf("FormatTime(CET) = %q, want %q", got, want)
	}
	e := &Engine{loc: berlin}
	if got, want := e.fieldTime(at), FormatTime(at, berlin); got != want {
		t.Errorf("fieldTime = %q, want %q", got, want)
	}
	r := &renderer{loc: berlin}
	if got, want := r.stamp(at), FormatTime(at, berlin); got != want {
		t.Errorf("stamp = %q, want %q", got, want)
	}
}
