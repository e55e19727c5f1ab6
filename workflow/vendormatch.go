package workflow

import (
	"fmt"
	"slices"
)

// Finding the cloud vendor a message asks for or names.

type kwVendorName struct {
	vendor string
	strong bool
	kwPhrase
}

// vendorAt returns the vendor name that starts at token i, the longest.
func (c *Classifier) vendorAt(toks []kwToken, i int) (kwVendorName, bool) {
	for _, n := range c.vendorNames {
		if n.matchAt(toks, i) {
			return n, true
		}
	}
	return kwVendorName{}, false
}

// kwVendorRequest is a request phrase with the vendor it names, over tokens
// from..to-1 (phrase and name together).
type kwVendorRequest struct {
	vendor   string
	from, to int
}

// vendorRequests returns the vendor requests of the text, one per vendor, in
// text order.
func (c *Classifier) vendorRequests(t *kwText) []kwVendorRequest {
	type cand struct {
		m      kwMatch
		either bool
	}
	var cands []cand
	for _, m := range c.vendorAfter.all(t, nil) {
		cands = append(cands, cand{m, false})
	}
	for _, m := range c.vendorEither.all(t, nil) {
		cands = append(cands, cand{m, true})
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return a.m.from - b.m.from })
	var out []kwVendorRequest
	seen := map[string]bool{}
	for _, cd := range cands {
		r, ok := c.vendorOf(t.toks, cd.m, cd.either)
		if !ok || seen[r.vendor] {
			continue
		}
		seen[r.vendor] = true
		out = append(out, r)
	}
	return out
}

// vendorOf finds the vendor a request phrase names: inside it, after it with
// at most four filler words between, or (either) right before it, all in
// one clause.
func (c *Classifier) vendorOf(toks []kwToken, m kwMatch, either bool) (kwVendorRequest, bool) {
	for i := m.from; i < m.to; i++ {
		if n, ok := c.vendorAt(toks, i); ok {
			return kwVendorRequest{n.vendor, m.from, max(m.to, i+len(n.words))}, true
		}
	}
	clause := toks[m.from].clause
	for j, fillers := m.to, 0; j < len(toks) && toks[j].clause == clause; j++ {
		if n, ok := c.vendorAt(toks, j); ok {
			return kwVendorRequest{n.vendor, m.from, j + len(n.words)}, true
		}
		if fillers++; fillers > 4 || !vendorFillers[toks[j].norm] {
			break
		}
	}
	if !either {
		return kwVendorRequest{}, false
	}
	for _, n := range c.vendorNames {
		if i := m.from - len(n.words); n.matchAt(toks, i) && toks[i].clause == clause {
			return kwVendorRequest{n.vendor, i, m.to}, true
		}
	}
	return kwVendorRequest{}, false
}

// soleMention returns the one vendor the text names by a strong name, "" when
// it names none or several.
func (c *Classifier) soleMention(t *kwText) string {
	found := ""
	for i := range t.toks {
		n, ok := c.vendorAt(t.toks, i)
		switch {
		case !ok || !n.strong:
		case found == "":
			found = n.vendor
		case found != n.vendor:
			return ""
		}
	}
	return found
}

// compileVendorNames compiles vendorNameList, longest name first, so that
// "google cloud" wins over "google".
func compileVendorNames() ([]kwVendorName, error) {
	var names []kwVendorName
	for _, n := range vendorNameList {
		p, err := compileKwPhrase(n.name)
		if err != nil {
			return nil, fmt.Errorf("vendor name %q: %w", n.name, err) // a bug in vendorNameList
		}
		names = append(names, kwVendorName{vendor: n.vendor, strong: n.strong, kwPhrase: p})
	}
	slices.SortStableFunc(names, func(a, b kwVendorName) int { return len(b.words) - len(a.words) })
	return names, nil
}
