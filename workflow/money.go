package workflow

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// USD amounts. Only amounts in US dollars count ("$25,000", "US$15,000",
// "USD 12000", "25k USD", "$12.5k", "$1.2M", "1.2 million dollars",
// "12 000 USD", "30 тыс. долларов"); roubles, euros and other currencies
// are not converted and never trigger. Any USD amount counts as revenue
// impact, whatever the words around it. A comma followed by three digits
// groups thousands, any other comma is a decimal point; a space may group
// thousands too.
var (
	usdNumber = `(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d{1,3}(?: \d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?)`
	usdMult   = `(?:\s?(k|thousand|тыс\.?|тысяч[аи]?|m|mm|mn|mln|million|millions|млн\.?|миллион(?:а|ов)?|` +
		`b|bn|billion|млрд\.?|миллиард(?:а|ов)?))?`
	usdPrefixRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}$])(?:us\$|usd\s?\$|usd|\$)\s?` + usdNumber + usdMult + `(?:[^\p{L}\p{N}]|$)`)
	usdSuffixRe = regexp.MustCompile(`(?:^|[^\p{L}\p{N}$.,])` + usdNumber + usdMult +
		`\s?(?:usd|us dollars?|dollars?|долларов|доллара|доллар|долл\.?|\$|bucks)(?:[^\p{L}\p{N}]|$)`)
	usdThousands = regexp.MustCompile(`^\d{1,3}(?:,\d{3})+(?:\.\d+)?$`)
)

// maxUSD returns the largest USD amount in low (folded text).
func maxUSD(text string) (float64, bool) {
	best, found := 0.0, false
	for _, low := range markedWindows(text, usdMarkers, 64, 64) {
		if v, ok := maxUSDIn(low); ok && (!found || v > best) {
			best, found = v, true
		}
	}
	return best, found
}

// usdMarkers are in every usdPrefixRe and usdSuffixRe match.
var usdMarkers = []string{"$", "usd", "dollar", "доллар", "долл", "bucks"}

func maxUSDIn(low string) (float64, bool) {
	best, found := 0.0, false
	for _, re := range []*regexp.Regexp{usdPrefixRe, usdSuffixRe} {
		for pos := 0; pos < len(low); {
			m := re.FindStringSubmatchIndex(low[pos:])
			if m == nil {
				break
			}
			num := low[pos+m[2] : pos+m[3]]
			mult := ""
			if m[4] >= 0 {
				mult = low[pos+m[4] : pos+m[5]]
			}
			pos += m[3] // go on after the number: the next amount may share a character
			if v, ok := parseUSD(num, mult); ok && (!found || v > best) {
				best, found = v, true
			}
		}
	}
	return best, found
}

// parseUSD reads a number as matched by usdNumber with its multiplier.
func parseUSD(num, mult string) (float64, bool) {
	if usdThousands.MatchString(num) {
		num = strings.ReplaceAll(num, ",", "")
	} else {
		num = strings.ReplaceAll(strings.ReplaceAll(num, " ", ""), ",", ".")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, false
	}
	switch strings.TrimSuffix(mult, ".") {
	case "k", "thousand", "тыс", "тысяч", "тысяча", "тысячи":
		v *= 1e3
	case "m", "mm", "mn", "mln", "million", "millions", "млн", "миллион", "миллиона", "миллионов":
		v *= 1e6
	case "b", "bn", "billion", "млрд", "миллиард", "миллиарда", "миллиардов":
		v *= 1e9
	}
	return v, !math.IsInf(v, 0)
}

// formatUSD writes "$25,000", with cents only when there are some
// ("$10,000.50").
func formatUSD(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	whole, cents, _ := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteByte('$')
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	if cents != "00" {
		b.WriteString("." + cents)
	}
	return b.String()
}
