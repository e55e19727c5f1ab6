package workflow

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Keyword phrases matched word by word against a kwText (see classify.go).

// kwWord is one word of a phrase; stem means "any word beginning with text".
type kwWord struct {
	text string
	stem bool
}

type kwPhrase struct{ words []kwWord }

// compileKwPhrase splits a configured or built-in phrase into words, the way
// tokenizeKw splits the text.
func compileKwPhrase(p string) (kwPhrase, error) {
	s := norm.NFC.String(p)
	var ph kwPhrase
	for _, t := range tokenizeKw(s) {
		stem := t.end < len(s) && s[t.end] == '*'
		ph.words = append(ph.words, kwWord{text: t.norm, stem: stem})
	}
	if len(ph.words) == 0 {
		return ph, fmt.Errorf("phrase %q has no words", p)
	}
	for i, r := range s {
		if r != '*' {
			continue
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+1:])
		if !isKwRune(before) || isKwRune(after) {
			return ph, fmt.Errorf("phrase %q: \"*\" may only end a word", p)
		}
	}
	return ph, nil
}

// matchAt reports whether the phrase matches the tokens from i on, all in
// one clause.
func (ph kwPhrase) matchAt(toks []kwToken, i int) bool {
	if i < 0 || i+len(ph.words) > len(toks) {
		return false
	}
	c := toks[i].clause
	for k, w := range ph.words {
		t := toks[i+k]
		if t.clause != c {
			return false
		}
		if w.stem && !strings.HasPrefix(t.norm, w.text) || !w.stem && t.norm != w.text {
			return false
		}
	}
	return true
}

// kwSet is a compiled keyword list, indexed by first word.
type kwSet struct {
	byFirst map[string][]kwPhrase // phrases whose first word is literal
	stemmed []kwPhrase            // phrases whose first word is a stem
}

func compileKwSet(phrases []string) (*kwSet, error) {
	s := &kwSet{byFirst: map[string][]kwPhrase{}}
	var errs []error
	for _, p := range phrases {
		ph, err := compileKwPhrase(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ph.words[0].stem {
			s.stemmed = append(s.stemmed, ph)
		} else {
			s.byFirst[ph.words[0].text] = append(s.byFirst[ph.words[0].text], ph)
		}
	}
	return s, errors.Join(errs...)
}

// kwMatch is a match over tokens from..to-1.
type kwMatch struct{ from, to int }

// kwGuard rejects a match by what stands before it.
type kwGuard func(toks []kwToken, from int) bool

// all returns every match that is not negated and that guard (if not nil)
// accepts, in text order, the longest at each position.
func (s *kwSet) all(t *kwText, guard kwGuard) []kwMatch {
	var out []kwMatch
	for i := range t.toks {
		best := 0
		try := func(ph kwPhrase) {
			if len(ph.words) > best && ph.matchAt(t.toks, i) {
				best = len(ph.words)
			}
		}
		for _, ph := range s.byFirst[t.toks[i].norm] {
			try(ph)
		}
		for _, ph := range s.stemmed {
			try(ph)
		}
		if best == 0 || negated(t.toks, i) || guard != nil && !guard(t.toks, i) {
			continue
		}
		out = append(out, kwMatch{i, i + best})
	}
	return out
}

// first returns the first match in text order.
func (s *kwSet) first(t *kwText, guard kwGuard) (kwMatch, bool) {
	if ms := s.all(t, guard); len(ms) > 0 {
		return ms[0], true
	}
	return kwMatch{}, false
}

// negated reports whether a negation stands before token from in its clause,
// with only bridge words between ("don't escalate", "no need to escalate").
func negated(toks []kwToken, from int) bool {
	c := toks[from].clause
	for j := from - 1; j >= 0 && j >= from-3 && toks[j].clause == c; j-- {
		if negations[toks[j].norm] {
			return true
		}
		if !negationBridges[toks[j].norm] {
			return false
		}
	}
	return false
}

// guardManager rejects "my manager", "our supervisor", "наш руководитель":
// a first-person possessive right before the phrase makes it a statement.
func guardManager(toks []kwToken, from int) bool {
	return from == 0 || toks[from-1].clause != toks[from].clause || !firstPerson[toks[from-1].norm]
}
