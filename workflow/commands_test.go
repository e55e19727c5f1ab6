package workflow

import (
	"reflect"
	"testing"
)

// TestParseCommands: every line that starts with "/" above the quoted part
// of a reply is a command, in order (§6).
func TestParseCommands(t *testing.T) {
	cmd := func(name, arg, line string) Command { return Command{Name: name, Arg: arg, Line: line} }
	for _, tc := range []struct {
		name string
		text string
		want []Command
	}{
		{"none", "Thanks, looking into it.\nSam", nil},
		{"one with prose around it", "Taking it.\n/ack\nSam", []Command{cmd("ack", "", "/ack")}},
		{"in order, names lower-cased, arguments trimmed", "/ESCALATE   customer is furious  \n/level  tier 3\n/update-every 2h",
			[]Command{cmd("escalate", "customer is furious", "/ESCALATE   customer is furious"), cmd("level", "tier 3", "/level  tier 3"), cmd("update-every", "2h", "/update-every 2h")}},
		{"indented", "   /assign @bob", []Command{cmd("assign", "@bob", "/assign @bob")}},
		{"tab after the name", "/assign\t@bob", []Command{cmd("assign", "@bob", "/assign\t@bob")}},
		{"CRLF", "/ack\r\n/note hi\r\n", []Command{cmd("ack", "", "/ack"), cmd("note", "hi", "/note hi")}},
		{"a slash alone is text", "/\n/ack", []Command{cmd("ack", "", "/ack")}},
		{"a slash and a space is an unknown command", "/ ack", []Command{cmd("", "ack", "/ ack")}},
		{"a slash in the middle is text", "see a/b and http://x/y\n/ack", []Command{cmd("ack", "", "/ack")}},
		{"gmail attribution", "/ack\n\nOn Sat, Nov 28, 2026 at 14:05 Escalations <escalations@example.com> wrote:\n> /resolve\n/resolve",
			[]Command{cmd("ack", "", "/ack")}},
		{"apple mail attribution", "/ack\nOn 28 Nov 2026, at 14:05, Escalations wrote:\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"quote marker", "/ack\n> /resolve\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"outlook original message", "/ack\n-----Original Message-----\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"outlook header block", "/ack\n\nFrom: Escalations <escalations@example.com>\nSent: Saturday\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"outlook rule", "/ack\n________________________________\nFrom: x\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"forwarded", "/ack\n---------- Forwarded message ---------\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"signature delimiter", "/ack\n-- \nSam Ortiz\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"russian attribution", "/ack\n28.11.2026 14:05, Escalations пишет:\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"german attribution", "/ack\nVon: Escalations\n/resolve", []Command{cmd("ack", "", "/ack")}},
		{"quote first: nothing", "> /resolve\n/ack", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParseCommands(tc.text); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseCommands(%q)\n = %+v\nwant %+v", tc.text, got, tc.want)
			}
		})
	}
}
