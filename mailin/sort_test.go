package mailin

import (
	"math"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// UIDs go up to 2^32-1 (RFC 9051): the largest sort after the smallest on
// every platform (subtracting them as ints put them backwards on 386).
func TestSortHeadsByUID(t *testing.T) {
	heads := []head{{uid: math.MaxUint32}, {uid: 1}, {uid: 1 << 31}, {uid: 7}}
	sortHeads(heads)
	var got []imap.UID
	for _, h := range heads {
		got = append(got, h.uid)
	}
	if want := []imap.UID{1, 7, 1 << 31, math.MaxUint32}; !slices.Equal(got, want) {
		t.Errorf("sorted %v, want %v", got, want)
	}
}
