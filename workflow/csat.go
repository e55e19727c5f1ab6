package workflow

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// CSAT readings. A strong keyword ("CSAT", "satisfaction",
// "удовлетворённость") may be followed by a bare number, read on the 1–5
// scale ("CSAT: 2", "CSAT=1", "satisfaction score: 2"); a bare number above 5
// is not a CSAT reading. A weak keyword ("оценка", "rated us", "gave us")
// counts only with an explicit scale ("оценка 2 из 5"). A reading on another
// scale ("4/10", "40%") is scaled to 5 before it is compared.
var (
	csatStrong = `csat(?: score| rating)?|customer satisfaction(?: score| rating)?|satisfaction(?: score| rating| level)?|` +
		`удовлетворенност[ьи](?: клиента| клиентов)?`
	csatWeak   = `оценк[аиуео]|rated us|gave us|оценил[аи]? нас(?: на)?|поставил[аи]? нам`
	csatFiller = `(?:\s*(?:[:=—–-]|is|was|of|at|score|rating|dropped to|fell to|down to|only|just|` +
		`составляет|составила|была|было|равна|на|упала до|снизилась до|опустилась до|всего|лишь|только)\s*)*?`
	csatRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}])(` + csatStrong + `|` + csatWeak + `)` + csatFiller +
		`\s*(\d+(?:[.,]\d+)?)(?:\s*(?:/|out of|of|из)\s*(\d+)|\s*(%))?(?:[^\p{N}]|$)`)
	csatStrongRe = regexp.MustCompile(`^(?:` + csatStrong + `)$`)
)

// csatReading is one CSAT value found in the text.
type csatReading struct {
	value, scale float64 // scale 0: none given (1–5)
	percent      bool
}

// scaled returns the reading on the 1–5 scale.
func (r csatReading) scaled() float64 {
	if r.scale == 0 {
		return r.value
	}
	return r.value * 5 / r.scale
}

func (r csatReading) String() string {
	v := formatNumber(r.value)
	switch {
	case r.percent:
		return fmt.Sprintf("%s%% (%s of 5)", v, formatNumber(r.scaled()))
	case r.scale == 0 || r.scale == 5:
		return v
	}
	return fmt.Sprintf("%s/%s (%s of 5)", v, formatNumber(r.scale), formatNumber(r.scaled()))
}

// csatReadings returns every CSAT reading of low (folded text).
func csatReadings(text string) []csatReading {
	var out []csatReading
	for _, low := range markedWindows(text, csatMarkers, 16, 96) {
		out = append(out, csatReadingsIn(low)...)
	}
	return out
}

// csatMarkers start every csatRe match; see markedWindows.
var csatMarkers = []string{"csat", "satisfaction", "удовлетвор", "оцен", "rated us", "gave us", "поставил"}

func csatReadingsIn(low string) []csatReading {
	var out []csatReading
	for pos := 0; pos < len(low); {
		m := csatRe.FindStringSubmatchIndex(low[pos:])
		if m == nil {
			break
		}
		g := func(k int) string {
			if m[2*k] < 0 {
				return ""
			}
			return low[pos+m[2*k] : pos+m[2*k+1]]
		}
		kw, num, scale, pct := g(1), g(2), g(3), g(4)
		next := pos + m[5] // go on after the number, or its scale
		if m[7] > 0 {
			next = pos + m[7]
		}
		pos = max(next, pos+1)
		if r, ok := parseCSAT(kw, num, scale, pct); ok {
			out = append(out, r)
		}
	}
	return out
}

// parseCSAT reads one csatRe match: the keyword kw, the number num, and
// scale or pct ("%") when the match has one. ok is false when the match is
// not a CSAT reading: a bare number after a weak keyword or above 5, a scale
// below 3 or above 100, or a value above its scale.
func parseCSAT(kw, num, scale, pct string) (csatReading, bool) {
	v, err := strconv.ParseFloat(strings.Replace(num, ",", ".", 1), 64)
	if err != nil {
		return csatReading{}, false
	}
	r := csatReading{value: v}
	switch {
	case pct != "":
		r.scale, r.percent = 100, true
	case scale != "":
		r.scale, _ = strconv.ParseFloat(scale, 64)
	}
	switch {
	case r.scale == 0 && (!csatStrongRe.MatchString(kw) || v > 5):
		return csatReading{}, false
	case r.scale != 0 && (r.scale < 3 || r.scale > 100 || v > r.scale):
		return csatReading{}, false
	}
	return r, true
}

// csatReason returns "CSAT 2 < 3" for the lowest reading when it is below
// the threshold.
func (c *Classifier) csatReason(low string) (string, bool) {
	rs := csatReadings(low)
	if len(rs) == 0 {
		return "", false
	}
	lowest := rs[0]
	for _, r := range rs[1:] {
		if r.scaled() < lowest.scaled() {
			lowest = r
		}
	}
	if lowest.scaled() >= float64(c.csatBelow) {
		return "", false
	}
	return fmt.Sprintf("CSAT %s < %d", lowest, c.csatBelow), true
}

// formatNumber writes v with at most two decimals, trailing zeros dropped.
func formatNumber(v float64) string {
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}
