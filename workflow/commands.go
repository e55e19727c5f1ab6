package workflow

import (
	"regexp"
	"strings"
	"unicode"
)

// Command is one staff command line of a reply (§6).
type Command struct {
	Name string // without the slash, lower-case: "escalate", "update-every"
	Arg  string // the rest of the line, trimmed
	Line string // the line as written, for logs and the error mail
}

// quoteStart matches the first line of the quoted part of a reply: a quote
// marker, or the attribution and header blocks that mail clients put above
// the quoted message (Gmail, Apple Mail, Outlook, Thunderbird, Russian
// clients).
var quoteStart = regexp.MustCompile(`(?i)^(>|on .+ wrote:?$|.+ wrote:$|-{2,}\s*original message\s*-{2,}|-{2,}\s*forwarded message\s*-{2,}|from: .+|von: .+|de : .+|.+ пишет:$|.+ написал\(а\):$|________________________________$)`)

// ParseCommands returns the command lines of a reply's text, in order: every
// line that starts with "/" above the quoted part. Lines after the quoted
// part begins, or after a "-- " signature delimiter, are not commands.
func ParseCommands(text string) []Command {
	var out []Command
	for _, raw := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line := strings.TrimSpace(raw)
		if raw == "-- " || raw == "--" || quoteStart.MatchString(line) {
			break
		}
		if !strings.HasPrefix(line, "/") || len(line) < 2 {
			continue
		}
		name, arg := line[1:], ""
		if i := strings.IndexFunc(name, unicode.IsSpace); i >= 0 { // "/assign\t@bob", "/assign\u00a0@bob" too
			name, arg = name[:i], name[i:] // arg is trimmed below
		}
		if strings.Contains(name, "/") {
			continue // "/var/log/syslog …", "//": a path or prose, not a command
		}
		out = append(out, Command{Name: strings.ToLower(name), Arg: strings.TrimSpace(arg), Line: line})
	}
	return out
}
