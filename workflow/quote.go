package workflow

import (
	"regexp"
	"strings"
)

// Quote stripping for the Communication Log (SPEC §9): the log shows what a
// message says that is new. The raw message stays in the archive.
//
// StripQuoted is a small line classifier. A line is one of:
//
//   - a quote line ("> …", ">> …", a bare ">"): dropped wherever it is, so
//     top-posted, bottom-posted and interleaved replies all keep only their
//     own lines;
//   - an attribution ("On … wrote:", "Am … schrieb …:", "Le … a écrit :",
//     "… пишет:", "… написал(а):", "…, Name <addr>:"), possibly wrapped over
//     two lines: dropped when a quote follows it; when none follows (an HTML
//     reply turned into text has no ">" marks), everything from it on is the
//     quoted message, provided the line holds a digit (a date), so that "On
//     Monday the customer wrote:" above pasted text is kept;
//   - the start of an Outlook-style quoted message: "-----Original
//     Message-----" (and its translations), a header block ("From:" followed
//     directly by at least two more header lines: Sent/Date/To/Cc/Subject, in
//     English, German, French or Russian), optionally under a
//     "________________________________" separator: everything from it on is
//     dropped;
//   - the "-- " signature delimiter (or a bare "--", as ParseCommands): it
//     and everything after it are dropped;
//   - a forwarded-message marker: the forwarded message is what the sender
//     wants us to read, so it and everything after it are kept as they are.
//
// Lines starting with ">" but not followed by a space or another ">"
// (">50% of requests fail") are text, not quotes.

// quoteLine matches a line of quoted text.
var quoteLine = regexp.MustCompile(`^[ \t]*>(?:[ \t>]|$)`)

// attribution matches the line a mail client puts above the quoted message.
var attribution = regexp.MustCompile(`(?i)^(?:` +
	`on\s.+\s(?:wrote|writes|said)\s?:?` + // Gmail, Apple Mail, Thunderbird, mutt (English)
	`|.+\swrote\s?:` + // "Jane Doe wrote:"
	`|am\s.+\sschrieb.*:` + `|.+\sschrieb\s?:` + // German
	`|le\s.+\sa\s+écrit\s?:` + `|.+\sa\s+écrit\s?:` + // French
	`|.+\sпишет\s?:` + `|.+\sнаписала?(?:\(а\))?\s?:` + // Russian
	`|.*\d.*<[^<>\s]+@[^<>\s]+>\s?:` + // Gmail ru, Mail.ru, Yandex: "date, Name <addr>:"
	`)$`)

// originalMessage matches Outlook's separator above the quoted message.
var originalMessage = regexp.MustCompile(`(?i)^-{2,}\s*(?:original message|исходное сообщение|ursprüngliche nachricht|message d'origine)\s*-{2,}$`)

// forwardMarker matches the line above a forwarded message.
var forwardMarker = regexp.MustCompile(`(?i)^(?:-{2,}\s*(?:forwarded message|пересылаемое сообщение|weitergeleitete nachricht|message transféré)\s*-{2,}|begin forwarded message:|anfang der weitergeleiteten nachricht:|début du message réexpédié\s?:|начало переадресованного сообщения:)$`)

// separatorLine matches Outlook's underscore rule above a header block.
var separatorLine = regexp.MustCompile(`^_{10,}$`)

// fromHeader and otherHeader match the lines of a quoted header block.
var (
	fromHeader  = regexp.MustCompile(`(?i)^\*?(?:from|von|de|от)\s?:\*?\s*\S`)
	otherHeader = regexp.MustCompile(`(?i)^\*?(?:sent|date|to|cc|subject|gesendet|datum|an|betreff|envoyé|à|objet|отправлено|дата|кому|копия|тема)\s?:\*?(?:\s|$)`)
)

// StripQuoted returns the new text of a message: its text without quoted
// replies, attribution lines, quoted header blocks and signature. stripped
// reports whether anything was removed; when nothing was, or when nothing
// would be left, fresh is text unchanged.
func StripQuoted(text string) (fresh string, stripped bool) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []string
	gap := false // lines were dropped since the last kept line
	drop := func() {
		for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
			out = out[:len(out)-1]
		}
		gap, stripped = true, true
	}
	keep := func(l string) {
		if gap {
			if strings.TrimSpace(l) == "" {
				return
			}
			if len(out) > 0 {
				out = append(out, "")
			}
			gap = false
		}
		out = append(out, l)
	}
scan:
	for i := 0; i < len(lines); i++ {
		raw := lines[i]
		line := strings.TrimSpace(raw)
		switch {
		case forwardMarker.MatchString(line):
			for _, l := range lines[i:] {
				keep(l)
			}
			break scan
		case raw == "-- " || raw == "--":
			drop()
			break scan
		case quoteLine.MatchString(raw):
			drop()
		case originalMessage.MatchString(line):
			drop()
			break scan
		case separatorLine.MatchString(line) && headerBlock(lines, nextNonBlank(lines, i+1)):
			drop()
			break scan
		case headerBlock(lines, i):
			drop()
			break scan
		default:
			n := attributionLines(lines, i)
			if n == 0 {
				keep(raw)
				continue
			}
			if j := nextNonBlank(lines, i+n); j < len(lines) && quoteLine.MatchString(lines[j]) {
				drop()
				i += n - 1
				continue
			}
			if strings.ContainsAny(strings.Join(lines[i:i+n], " "), "0123456789") {
				drop()
				break scan
			}
			keep(raw)
		}
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1]
	}
	for len(out) > 0 && strings.TrimSpace(out[0]) == "" {
		out = out[1:]
	}
	if !stripped || len(out) == 0 {
		return text, false
	}
	return strings.Join(out, "\n"), true
}

// attributionLines reports how many lines, from lines[i], form an
// attribution: 1, 2 when a client wrapped a long one, or 0.
func attributionLines(lines []string, i int) int {
	line := strings.TrimSpace(lines[i])
	if line == "" || len(line) > 400 {
		return 0
	}
	if attribution.MatchString(line) {
		return 1
	}
	if i+1 < len(lines) {
		next := strings.TrimSpace(lines[i+1])
		wrapped := wrapOpener.MatchString(line) || strings.HasSuffix(line, "<") || addressTail.MatchString(next)
		if wrapped && next != "" && len(next) <= 400 && !strings.HasSuffix(line, ":") && attribution.MatchString(line+" "+next) && strings.ContainsAny(line, "0123456789") {
			return 2
		}
	}
	return 0
}

// wrapOpener and addressTail recognise the two halves of an attribution a
// client wrapped: a line that opens one ("On …", "Am …", "Le …"), or a next
// line that finishes a bracketed address ("jane@example.com> wrote:").
var (
	wrapOpener  = regexp.MustCompile(`(?i)^(?:on|am|le)\s`)
	addressTail = regexp.MustCompile(`^<?[^\s<>]+@[^\s<>]+>`)
)

// headerBlock reports whether lines[i] starts a quoted header block: a
// "From:" line followed directly by at least two more header lines.
func headerBlock(lines []string, i int) bool {
	if i >= len(lines) || !fromHeader.MatchString(strings.TrimSpace(lines[i])) {
		return false
	}
	n := 0
	for j := i + 1; j < len(lines) && j <= i+8; j++ {
		if !otherHeader.MatchString(strings.TrimSpace(lines[j])) {
			break
		}
		n++
	}
	return n >= 2
}

// nextNonBlank returns the index of the first non-blank line at or after i,
// or len(lines).
func nextNonBlank(lines []string, i int) int {
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	return i
}
