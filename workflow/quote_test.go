package workflow

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestStripQuotedCorpus runs StripQuoted over workflow/testdata/quotes: each
// NAME.txt is a reply body (its first line, a comment, names the client it
// imitates) and NAME.want the text expected in the Communication Log.
func TestStripQuotedCorpus(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "quotes", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("corpus has %d cases, want at least 20", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			comment, body, ok := strings.Cut(string(b), "\n")
			if !ok || !strings.HasPrefix(comment, "# ") {
				t.Fatalf("first line %q: want a \"# client\" comment", comment)
			}
			w, err := os.ReadFile(strings.TrimSuffix(f, ".txt") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimRight(string(w), "\n")
			got, stripped := StripQuoted(body)
			if strings.TrimRight(got, "\n") != want {
				t.Errorf("%s\ngot:\n%s\nwant:\n%s", comment, got, want)
			}
			if wantStripped := want != strings.TrimRight(body, "\n"); stripped != wantStripped {
				t.Errorf("stripped = %v, want %v", stripped, wantStripped)
			}
			if !stripped && got != body {
				t.Errorf("nothing stripped but text changed:\n%q\nwant\n%q", got, body)
			}
		})
	}
}

// TestStripQuotedKeepsCommands: commands above the quote survive stripping;
// a quoted command does not (nor is it parsed from the full text).
func TestStripQuotedKeepsCommands(t *testing.T) {
	text := "/escalate now\n\nOn Fri, Nov 27, 2026 at 9:14 AM Jane Doe <jane@example.com> wrote:\n> /resolve\n"
	fresh, stripped := StripQuoted(text)
	if !stripped || fresh != "/escalate now" {
		t.Fatalf("StripQuoted = %q, %v; want \"/escalate now\", true", fresh, stripped)
	}
	want := []Command{{Name: "escalate", Arg: "now", Line: "/escalate now"}}
	if got := ParseCommands(fresh); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCommands(fresh) = %+v, want %+v", got, want)
	}
	if got := ParseCommands(text); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseCommands(text) = %+v, want %+v", got, want)
	}
}

func TestStripQuotedEdges(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"\n\n", "\n\n"},
		{"> only a quote\n> nothing new\n", "> only a quote\n> nothing new\n"}, // nothing left: keep it all
		{"ok\r\n\r\nOn Fri, Nov 27, 2026 at 9:14 AM Jane <j@x.example> wrote:\r\n> q\r\n", "ok"},
		{"Deployed 4.2\nJane Doe wrote:\n> q\n", "Deployed 4.2"},
	} {
		if got, _ := StripQuoted(tc.in); got != tc.want {
			t.Errorf("StripQuoted(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripQuotedLarge(t *testing.T) {
	big := "new text\n" + strings.Repeat("On 27.11.2026 09:14, x wrote:\n\n\n", 20000) + strings.Repeat("> q\n", 50000) + strings.Repeat("text\n", 50000)
	if _, stripped := StripQuoted(big); !stripped {
		t.Error("not stripped")
	}
}
