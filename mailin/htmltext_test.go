package mailin

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ name, html, want string }{
		{"head, script and style dropped",
			`<html><head><title>T</title><style>b{}</style><meta charset=utf-8></head><body><script>var x = "<p>no</p>";</script>Hi</body></html>`,
			"Hi"},
		{"unclosed head ends at text", `<html><head><title>T</title>Hello <b>there</b>`, "Hello there"},
		{"entities", `<p>&lt;b&gt; &amp; &quot;q&quot; &#8364;&euro; caf&eacute; a&nbsp;&nbsp;b</p>`, `<b> & "q" €€ café a b`},
		{"whitespace collapsed", "<p>  one\n\t two   </p>\n\n<p>three</p>", "one two\n\nthree"},
		{"one blank line at most", "a<br><br><br><br>b<p></p><p></p><div></div><div>c</div>", "a\n\nb\n\nc"},
		{"br is a line break", "a<br>b<br/>c", "a\nb\nc"},
		{"gmail blank line", "<div>a</div><div><br></div><div>b</div>", "a\n\nb"},
		{"lists", "<ol><li>one</li><li>two<ul><li>deep</li></ul></li></ol><p>after</p>", "- one\n- two\n  - deep\n\nafter"},
		{"headings", "<h1>Title</h1>text<h2>Sub</h2>more", "Title\n\ntext\n\nSub\n\nmore"},
		{"table rows", "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>", "k v\na 1"},
		{"link with other text", `see <a href="https://x.test/a?b=1&amp;c=2">here</a>.`, "see here (https://x.test/a?b=1&c=2)."},
		{"link showing its url", `<a href="https://x.test/">https://x.test</a> <a href="mailto:a@x.test">a@x.test</a>`, "https://x.test a@x.test"},
		{"link without text", `go <a href="https://x.test/y"></a> now`, "go https://x.test/y now"},
		{"image link uses alt", `<a href="https://x.test/"><img src="logo.png" alt="Acme"></a>`, "Acme (https://x.test/)"},
		{"image outside a link dropped", `a <img src="x.png" alt="x"> b`, "a b"},
		{"script and anchor links keep no url", `<a href="javascript:alert(1)">click</a> <a href="#top">top</a> <a href="cid:x">img</a>`, "click top img"},
		{"unclosed links", `<a href="https://a.test">a<a href="https://b.test">b`, "a (https://a.test)b (https://b.test)"},
		{"pre keeps spacing", "<p>x</p><pre>  a   b\n    c</pre><p>y</p>", "x\n\n  a   b\n    c\n\ny"},
		{"comments dropped", "a<!-- <p>hidden</p> -->b<!--[if mso]>x<![endif]-->", "ab"},
		{"outlook empty paragraphs", `<p class=MsoNormal>Hi<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p><p class=MsoNormal>Bye<o:p></o:p></p>`, "Hi\n\nBye"},
		{"no html at all", "just text", "just text"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, cut, err := htmlToText(strings.NewReader(tc.html), 1<<20)
			if err != nil || cut {
				t.Fatalf("cut=%v err=%v", cut, err)
			}
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestHTMLToTextLimit(t *testing.T) {
	got, cut, err := htmlToText(strings.NewReader("<p>"+strings.Repeat("ü", 100)+"</p>"), 11)
	if err != nil || !cut {
		t.Fatalf("cut=%v err=%v", cut, err)
	}
	if got != strings.Repeat("ü", 5) {
		t.Errorf("got %q", got)
	}
}

// A big inline image in an attribute does not stop the text after it.
func TestHTMLToTextBigDataURI(t *testing.T) {
	html := `<p>before</p><img src="data:image/png;base64,` + strings.Repeat("A", 2<<20) + `"><p>after</p>`
	got, cut, err := htmlToText(strings.NewReader(html), 1<<20)
	if err != nil || cut || got != "before\n\nafter" {
		t.Errorf("got %q cut=%v err=%v", got, cut, err)
	}
}

func TestHTMLToTextReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(strings.NewReader("<p>kept</p><p>par"), &failingReader{err: boom})
	got, _, err := htmlToText(r, 1<<20)
	if !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if !strings.HasPrefix(got, "kept") {
		t.Errorf("got %q", got)
	}
}
