// Package backoff gives the waits between retries: exponential, capped, and
// jittered so that many clients that failed together do not retry together.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is the wait before retry number n (1 is the first): lo doubled n-1
// times and at most hi, less up to a fifth of it at random. The jitter only
// shortens, so hi holds. When hi is below lo, hi wins. A lo of 0 or less
// gives 0.
func Delay(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	if d <= 0 {
		return 0
	}
	return d - time.Duration(rand.Int64N(int64(d/5)+1))
}

// Backoff counts failures in a row and gives the Delay before the next try.
// The zero count is the start: the first Next is about Min.
type Backoff struct {
	Min, Max time.Duration
	n        int
}

// Next counts one more failure and returns how long to wait before retrying.
func (b *Backoff) Next() time.Duration {
	b.n++
	return Delay(b.Min, b.Max, b.n)
}

// Reset starts again from Min, after a success.
func (b *Backoff) Reset() { b.n = 0 }
