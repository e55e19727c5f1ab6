package backoff

import (
	"testing"
	"time"
)

// within reports whether d is the full wait want less at most a fifth.
func within(d, want time.Duration) bool { return d <= want && d >= want-want/5 }

func TestDelayDoublesToTheCap(t *testing.T) {
	lo, hi := 30*time.Second, 30*time.Minute
	wants := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 30 * time.Minute, 30 * time.Minute}
	for i, want := range wants {
		for range 200 {
			if d := Delay(lo, hi, i+1); !within(d, want) {
				t.Fatalf("Delay(%s, %s, %d) = %s, want %s less at most 20%%", lo, hi, i+1, d, want)
			}
		}
	}
	// Far beyond the cap: no overflow, and the cap holds.
	for _, n := range []int{64, 1000, 1 << 30} {
		if d := Delay(lo, hi, n); !within(d, hi) {
			t.Errorf("Delay(n=%d) = %s, want %s less at most 20%%", n, d, hi)
		}
	}
}

func TestDelayJitterSpreads(t *testing.T) {
	seen := map[time.Duration]bool{}
	lowest, highest := time.Hour, time.Duration(0)
	for range 2000 {
		d := Delay(time.Second, time.Minute, 1)
		seen[d] = true
		lowest, highest = min(lowest, d), max(highest, d)
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays in 2000: no jitter", len(seen))
	}
	if lowest < 800*time.Millisecond || highest > time.Second {
		t.Errorf("delays span [%s, %s], want within [800ms, 1s]", lowest, highest)
	}
	if lowest > 820*time.Millisecond || highest < 980*time.Millisecond {
		t.Errorf("delays span [%s, %s], want close to the whole of [800ms, 1s]", lowest, highest)
	}
}

func TestDelayEdges(t *testing.T) {
	if d := Delay(time.Second, 500*time.Millisecond, 1); !within(d, 500*time.Millisecond) {
		t.Errorf("hi below lo: Delay = %s, want 500ms less at most 20%%", d)
	}
	if d := Delay(0, time.Minute, 5); d != 0 {
		t.Errorf("lo 0: Delay = %s, want 0", d)
	}
	if d := Delay(-time.Second, time.Minute, 5); d != 0 {
		t.Errorf("lo negative: Delay = %s, want 0", d)
	}
}

func TestBackoffNextAndReset(t *testing.T) {
	b := Backoff{Min: time.Second, Max: 5 * time.Second}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		if d := b.Next(); !within(d, want) {
			t.Fatalf("Next = %s, want %s less at most 20%%", d, want)
		}
	}
	b.Reset()
	if d := b.Next(); !within(d, time.Second) {
		t.Errorf("Next after Reset = %s, want 1s less at most 20%%", d)
	}
}
