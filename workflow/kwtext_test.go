package workflow

import (
	"reflect"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
)

func TestClassifyQuote(t *testing.T) {
	c, err := NewClassifier(config.Default().Classification)
	if err != nil {
		t.Fatal(err)
	}
	long := "Yesterday afternoon around four the whole billing pipeline stopped and honestly this is beyond our expertise " +
		"so we would like the next tier to look at the traces and the database logs as soon as possible"
	d := c.Decide(&Inbound{Text: long}, acme(""), 1)
	want := `beyond expertise ("…and honestly this is beyond our expertise so we would like…")`
	if len(d.Reasons) != 1 || d.Reasons[0] != want {
		t.Errorf("got %q, want %q", d.Reasons, want)
	}
}

func TestClassifyTokenize(t *testing.T) {
	type tok struct {
		word   string
		clause int
	}
	var got []tok
	for _, k := range tokenizeKw("Don’t ÉSCALATE: 25,000 users, node.js; ok!\nnext line\n \nnew para… end") {
		got = append(got, tok{k.norm, k.clause})
	}
	want := []tok{
		{"don", 0}, {"t", 0}, {"éscalate", 0}, {"25", 0}, {"000", 0}, {"users", 0},
		{"node", 1}, {"js", 1}, {"ok", 2}, {"next", 3}, {"line", 3}, {"new", 4}, {"para", 4}, {"end", 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}

func TestClassifyMarkedWindows(t *testing.T) {
	text := strings.Repeat("ж", 50) + "$1 ab $2" + strings.Repeat("я", 50) + "usd"
	got := markedWindows(text, []string{"$", "usd"}, 5, 3)
	// Cut on rune boundaries (2-byte letters), the two "$" windows merged.
	want := []string{"жжж$1 ab $2я", "яяяusd"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	// Amounts and CSAT far into a long text are found, with their words.
	long := strings.Repeat("Всё работает как обычно. ", 200) +
		"Убытки 1 234 567,89 миллионов долларов, customer satisfaction score: 1 из 5."
	if v, ok := maxUSD(newKwText("", long).low); !ok || v != 1234567.89e6 {
		t.Errorf("maxUSD = %v, %v", v, ok)
	}
	if r := csatReadings(newKwText("", long).low); len(r) != 1 || r[0].String() != "1" {
		t.Errorf("csatReadings = %v", r)
	}
}
