package mailin

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/escalationd/escalationd/internal/authres"
	"github.com/escalationd/escalationd/workflow"
)

type wantAttachment struct {
	name, contentType, content string
}

type parseCase struct {
	subject   string
	from      workflow.Address
	text      string   // exact, unless contains is set
	contains  []string // substrings of the text, checked instead of text
	fromHTML  bool
	atts      []wantAttachment
	notes     []string
	malformed bool // Parse must fail with ErrMalformed
	check     func(t *testing.T, in *workflow.Inbound)
}

var pdf = "%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"

// parseCases has one entry per file in testdata/; TestParseTestdata fails
// when a file has none.
var parseCases = map[string]parseCase{
	"plain-utf8.eml": {
		subject: "Datenbank ausgefallen in eu-west — dringend",
		from:    workflow.Address{Name: "Jürgen Müller", Email: "juergen@acme.test"},
		text:    "Hallo,\nunsere Datenbank ist seit 13:40 ausgefallen. Umsatzverlust: 25.000 €.\n\nGrüße\nJürgen",
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "MessageID", in.MessageID, "plain-1@acme.test")
			expect(t, "To", in.To, []workflow.Address{
				{Name: "Escalations", Email: "escalations@example.com"},
				{Name: "Support Team", Email: "support@example.com"},
			})
			expect(t, "Cc", in.Cc, []workflow.Address{{Name: "Doe, Jane", Email: "jane@acme.test"}})
			expect(t, "ReplyTo", in.ReplyTo, []workflow.Address{{Email: "juergen.private@acme.test"}})
			expect(t, "DeliveredTo", in.DeliveredTo, []string{"escalations@example.com"})
			expect(t, "Date", in.Date.UTC(), time.Date(2026, 11, 28, 13, 5, 0, 0, time.UTC))
			expect(t, "Header X-Custom", in.Header["X-Custom"], []string{"grüße"})
			expect(t, "Header Message-Id", in.Header["Message-Id"], []string{"<plain-1@acme.test>"})
			expect(t, "Header Subject", in.Header["Subject"], []string{"Datenbank ausgefallen in eu-west — dringend"})
			for k := range in.Header {
				if k != textproto.CanonicalMIMEHeaderKey(k) {
					t.Errorf("header key %q is not canonical", k)
				}
			}
		},
	},
	"koi8r.eml": {
		subject: "Срочно: база данных недоступна",
		from:    workflow.Address{Name: "Иван Петров", Email: "ivan@example.ru"},
		text:    "Здравствуйте!\n\nБаза данных в eu-west недоступна с 08:40.\nУщерб: около 25 000 $ в час.\n\n-- \nИван",
	},
	"cp1251.eml": {
		// The Subject is raw windows-1251, against RFC 5322: read in the
		// charset of the body, as mail readers do.
		subject: "Re: [ESC-00042] Не работает VPN",
		from:    workflow.Address{Name: "Ольга Смирнова", Email: "olga@example.ru"},
		text:    "VPN по-прежнему не работает.\nЖдём ответа.\n\n> Мы получили ваш запрос.",
		notes:   []string{`8-bit text in Subject without RFC 2047 encoding: read as "windows-1251"`},
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "InReplyTo", in.InReplyTo, []string{"ack-42@escalationd.example.com"})
		},
	},
	"iso2022jp.eml": {
		subject: "サーバー障害のお知らせ",
		from:    workflow.Address{Name: "山田太郎", Email: "yamada@example.jp"},
		text:    "お世話になっております。\n本日10時よりサーバーに接続できません。",
	},
	"shiftjis.eml": {
		subject: "至急：ログインできません",
		from:    workflow.Address{Name: "佐藤花子", Email: "sato@example.jp"},
		text:    "管理画面にログインできません。\n確認をお願いします。",
	},
	"gb2312.eml": {
		subject: "紧急：支付系统故障",
		from:    workflow.Address{Name: "王伟", Email: "wang@example.cn"},
		text:    "支付系统从上午九点起无法使用。",
	},
	"unknown-charset.eml": {
		subject: "Café machine down",
		from:    workflow.Address{Name: "Pierre", Email: "pierre@example.fr"},
		text:    "La machine à café est en panne.",
		notes: []string{
			`unknown charset "x-unknown-foo" in text/plain: shown as received (read as Latin-1)`,
			`unknown charset "x-unknown-foo" in Subject: shown as received`,
		},
	},
	"quoted-printable.eml": {
		subject: "Quoted-printable body",
		from:    workflow.Address{Name: "Ana Souza", Email: "ana@example.pt"},
		text:    "Olá, o servidor caiu — custo estimado 1=2 milhões. Esta linha continua depois de uma quebra suave.\nFim.",
	},
	"html-attachment.eml": {
		subject:  "Payment service down",
		from:     workflow.Address{Name: "Acme Ops", Email: "ops@acme.test"},
		fromHTML: true,
		text: "Outage report\n\n" +
			"Dear team,\nour payment service is down & customers can't pay <since 09:00>.\n\n" +
			"- Region: eu-west\n- Impact: €25,000 per hour\n  - nested detail\n\n" +
			"See the status page (https://status.acme.test/incidents/42), mail ops@acme.test or visit acme.test.\n\n" +
			"Line one\n\nLine two after a newline\n\n" +
			"Ticket 42\nStatus open",
		atts: []wantAttachment{
			{"logo.png", "image/png", "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"},
			{"report.pdf", "application/pdf", pdf},
		},
	},
	"html-meta-charset.eml": {
		subject:  "HTML with a meta charset",
		from:     workflow.Address{Name: "Olga", Email: "olga@example.ru"},
		fromHTML: true,
		text:     "Сервер недоступен",
	},
	"alternative.eml": {
		subject: "Both plain and HTML",
		from:    workflow.Address{Name: "Jane Doe", Email: "jane@acme.test"},
		text:    "The plain version wins.\nSecond line.",
	},
	"nested.eml": {
		subject: "Nested parts",
		from:    workflow.Address{Name: "Jane Doe", Email: "jane@acme.test"},
		text:    "Intro: please see the details below and the two files.\n\nDetails in plain text.",
		atts: []wantAttachment{
			// RFC 2231 in ISO-8859-1, which mime.ParseMediaType drops.
			{"métriques (2026).csv", "text/csv", "time,errors\n09:00,12\n09:05,340\n"},
			{"", "message/rfc822", "From: monitor@acme.test\r\nSubject: original alert\r\n\r\nCPU at 100%"},
		},
	},
	"split-text.eml": {
		subject: "Text around an image",
		from:    workflow.Address{Name: "Jane Doe", Email: "jane@acme.test"},
		text:    "Part one, before the screenshot.\n\nPart two, after it.",
		atts:    []wantAttachment{{"", "image/jpeg", "\xff\xd8\xff\xe0\x00\x10JFIF\x00fake-jpeg\xff\xd9"}},
	},
	"no-message-id.eml": {
		subject: "No id, no date",
		from:    workflow.Address{Name: "Carl", Email: "carl@example.com"},
		text:    "Hello without a Message-ID.",
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "MessageID", in.MessageID, "")
			expect(t, "Date zero", in.Date.IsZero(), true)
		},
	},
	"no-body.eml": {
		subject: "Header only",
		from:    workflow.Address{Name: "Dana", Email: "dana@example.com"},
		text:    "",
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "MessageID", in.MessageID, "hdr-only@example.com")
		},
	},
	"references.eml": {
		subject: "Re: [ESC-00042] Database outage",
		from:    workflow.Address{Name: "Bob", Email: "bob@example.com"},
		text:    "Still broken.",
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "MessageID", in.MessageID, "reply-7@example.com")
			expect(t, "InReplyTo", in.InReplyTo, []string{"ack-42@escalationd.example.com"})
			expect(t, "References", in.References, []string{
				"req-1@acme.test",
				"ack-42@escalationd.example.com",
				"notify-3@escalationd.example.com",
				"folded-id@example.com",
			})
		},
	},
	"subject-crlf.eml": {
		subject: "a Bcc: x",
		from:    workflow.Address{Name: "Eve Bcc: evil", Email: "eve@example.com"},
		text:    "Injected?",
		check: func(t *testing.T, in *workflow.Inbound) {
			for k, vs := range in.Header {
				for _, v := range vs {
					if strings.ContainsAny(v, "\r\n") {
						t.Errorf("Header[%q] = %q holds a line break", k, v)
					}
				}
			}
		},
	},
	"auth-results.eml": {
		// The trusted field hides a "; dkim=pass" in an RFC 2047 encoded
		// word inside a comment, and raw Latin-1 in another: both must
		// reach the trust check as received, unfolded only.
		subject: "Re: [ESC-00042] Database outage",
		from:    workflow.Address{Name: "Team Lead", Email: "lead@example.com"},
		text:    "/resolve done",
		check: func(t *testing.T, in *workflow.Inbound) {
			trusted := "mx.example.com; dkim=fail (=?us-ascii?Q?=29=3B_dkim=3Dpass_header.d=3Dexample.com_=28?=) header.d=example.com (caf\xe9)"
			expect(t, "AuthResults", in.AuthResults, []string{
				"relay.example.net; dkim=pass header.d=example.com",
				trusted,
				"mx.example.com; dkim=pass header.d=example.com",
			})
			if h := in.Header["Authentication-Results"]; len(h) != 3 || !strings.Contains(h[1], "=?us-ascii?Q?=29=3B_dkim") {
				t.Errorf("Header Authentication-Results = %q, want the encoded word kept", h)
			}
			if v := authres.Evaluate(in.AuthResults, "mx.example.com", "example.com"); v.Pass() {
				t.Errorf("the encoded word authenticated the sender: %s", v.Reason)
			}
			// Decoded, the same field would have said dkim=pass: the test
			// would catch a decoder put back in the way.
			dec, err := new(mime.WordDecoder).DecodeHeader(trusted)
			if err != nil || !strings.Contains(dec, "; dkim=pass header.d=example.com") {
				t.Errorf("decoded field %q (%v) hides no dkim=pass: the test proves nothing", dec, err)
			}
		},
	},
	"broken-headers.eml": {
		// From lacks its ">" and has raw Latin-1; To has an empty element.
		subject: "Impresora rota en la oficina",
		from:    workflow.Address{Name: "José García", Email: "jose@example.es"},
		text:    "La impresora no funciona. Señal de error E-42.",
		notes: []string{
			`8-bit text in From without RFC 2047 encoding: read as "iso-8859-1"`,
			`unreadable Date "yesterday, around noon": left empty`,
		},
		check: func(t *testing.T, in *workflow.Inbound) {
			expect(t, "To", in.To, []workflow.Address{
				{Name: "Mr. Smith", Email: "smith@example.com"},
				{Name: "Doe, Jane", Email: "jane@example.com"},
			})
			expect(t, "Cc", len(in.Cc), 0)
			expect(t, "MessageID", in.MessageID, "")
			expect(t, "Date zero", in.Date.IsZero(), true)
			expect(t, "DeliveredTo", in.DeliveredTo, []string{"escalations@example.com"})
		},
	},
	"truncated.eml": {
		// The closing boundary is missing and the attachment is cut: what
		// arrived is kept and the notes say what is missing.
		subject: "Cut off in transit",
		from:    workflow.Address{Name: "Jane Doe", Email: "jane@acme.test"},
		text:    "The text arrived whole.",
		atts:    []wantAttachment{{"cut.pdf", "application/pdf", pdf[:57]}},
		notes: []string{
			`attachment "cut.pdf" (application/pdf) is damaged: unexpected EOF: kept the 57 bytes read`,
			`malformed MIME in multipart/mixed: multipart: NextPart: EOF: rest of it skipped`,
		},
	},
	// A multipart without a boundary parameter: no part can be found, and
	// mail clients show the body as it stands; so does the parser.
	"malformed-boundary.eml": {
		subject:  "Multipart without a boundary",
		from:     workflow.Address{Name: "Mallory", Email: "mallory@example.com"},
		contains: []string{"text that cannot be found"},
		notes:    []string{"multipart/mixed without a boundary: its body read as plain text"},
	},
	// An mbox export's envelope line before the header (mboxo and
	// mboxrd): skipped, as every mail client does.
	"mbox-from-line.eml": {
		subject:  "Build farm offline",
		from:     workflow.Address{Name: "Grace Hopper", Email: "grace@umbrella.test"},
		contains: []string{"Our build farm has been offline since noon."},
		notes:    []string{`leading mbox "From " line skipped`},
	},
	"mbox-quoted-from-line.eml": {
		subject:  "Login page times out",
		from:     workflow.Address{Name: "Heidi Klum", Email: "heidi@umbrella.test"},
		contains: []string{"The login page times out for all our users."},
		notes:    []string{`leading mbox "From " line skipped`},
	},
	// A header line without a colon: mail clients skip it, and so does
	// the parser (go-message alone would stop there).
	"malformed-header.eml": {
		subject: "Broken header",
		from:    workflow.Address{Name: "Mallory", Email: "mallory@example.com"},
		text:    "body",
		notes:   []string{"1 line(s) in the header that are no header field skipped"},
	},
}

func TestParseTestdata(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := parseCases[filepath.Base(f)]; !ok {
			t.Errorf("%s has no case in parseCases", f)
		}
	}
	for name, tc := range parseCases {
		t.Run(name, func(t *testing.T) {
			spool := t.TempDir()
			in, err := parseFile(t, filepath.Join("testdata", name), spool)
			if tc.malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				if in != nil {
					t.Errorf("got an Inbound with the error")
				}
				assertEmptyDir(t, spool)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "Subject", in.Subject, tc.subject)
			expect(t, "From", in.From, tc.from)
			if tc.contains != nil {
				for _, s := range tc.contains {
					if !strings.Contains(in.Text, s) {
						t.Errorf("Text %q lacks %q", in.Text, s)
					}
				}
			} else {
				expect(t, "Text", in.Text, tc.text)
			}
			if in.TextFromHTML && strings.ContainsAny(in.Text, "<>") && !strings.Contains(in.Text, "<since") {
				t.Errorf("HTML text keeps markup: %q", in.Text)
			}
			expect(t, "TextFromHTML", in.TextFromHTML, tc.fromHTML)
			expect(t, "Notes", fmt.Sprint(in.Notes), fmt.Sprint(tc.notes))
			checkAttachments(t, in.Attachments, tc.atts, spool)
			checkInvariants(t, in)
			if tc.check != nil {
				tc.check(t, in)
			}
		})
	}
}

func parseFile(t *testing.T, path, spool string) (*workflow.Inbound, error) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return Parse(f, ParseOptions{SpoolDir: spool})
}

func checkAttachments(t *testing.T, got []workflow.Attachment, want []wantAttachment, spool string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d attachments, want %d: %+v", len(got), len(want), got)
		return
	}
	for i, a := range got {
		w := want[i]
		expect(t, fmt.Sprintf("attachment %d Name", i), a.Name, w.name)
		expect(t, fmt.Sprintf("attachment %d ContentType", i), a.ContentType, w.contentType)
		expect(t, fmt.Sprintf("attachment %d Size", i), a.Size, int64(len(w.content)))
		if filepath.Dir(a.Path) != spool || !strings.HasPrefix(filepath.Base(a.Path), "att-") {
			t.Errorf("attachment %d Path %q is not an att-* file in %s", i, a.Path, spool)
		}
		b, err := os.ReadFile(a.Path)
		if err != nil {
			t.Error(err)
			continue
		}
		if string(b) != w.content {
			t.Errorf("attachment %d content = %q, want %q", i, b, w.content)
		}
	}
}

// checkInvariants holds for every parsed message.
func checkInvariants(t *testing.T, in *workflow.Inbound) {
	t.Helper()
	if !utf8.ValidString(in.Text) || !utf8.ValidString(in.Subject) || !utf8.ValidString(in.From.Name) {
		t.Errorf("invalid UTF-8 in Text, Subject or From")
	}
	if strings.ContainsAny(in.Subject, "\r\n") || strings.ContainsAny(in.From.Name, "\r\n") {
		t.Errorf("line break in Subject %q or From name %q", in.Subject, in.From.Name)
	}
	if strings.Contains(in.Text, "\r") {
		t.Errorf("CR in Text")
	}
	for _, l := range strings.Split(in.Text, "\n") {
		if l != "-- " && strings.TrimRight(l, " \t") != l {
			t.Errorf("trailing blanks on line %q", l)
		}
	}
	for _, id := range append(append([]string{in.MessageID}, in.InReplyTo...), in.References...) {
		if strings.ContainsAny(id, "<> \t") {
			t.Errorf("message id %q keeps brackets or blanks", id)
		}
	}
}

func TestParseEmptyInput(t *testing.T) {
	spool := t.TempDir()
	_, err := Parse(strings.NewReader(""), ParseOptions{SpoolDir: spool})
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestParseDefaultsAndSpoolDir(t *testing.T) {
	spool := filepath.Join(t.TempDir(), "a", "b")
	in, err := parseFile(t, "testdata/html-attachment.eml", spool)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Attachments) != 2 {
		t.Fatalf("%d attachments", len(in.Attachments))
	}
	if _, err := os.Stat(in.Attachments[0].Path); err != nil {
		t.Error(err)
	}

	// A spool "dir" that is a file: an error, but not a malformed message.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = parseFile(t, "testdata/html-attachment.eml", file)
	if err == nil || errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want a spool error", err)
	}
}

var errReset = errors.New("connection reset by peer")

// failingReader gives data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(b, f.data)
	f.data = f.data[n:]
	return n, nil
}

// A read error of the source is returned as such (not as ErrMalformed: the
// fetch may be retried), and no spool file is left behind.
func TestParseReadErrorCleansUp(t *testing.T) {
	raw, err := os.ReadFile("testdata/html-attachment.eml")
	if err != nil {
		t.Fatal(err)
	}
	cut := bytes.Index(raw, []byte("cgo8PCAvUm9vdC")) // inside the second attachment
	for _, n := range []int{cut, 40, len(raw) - 5} {
		spool := t.TempDir()
		_, err := Parse(&failingReader{data: raw[:n], err: errReset}, ParseOptions{SpoolDir: spool})
		if !errors.Is(err, errReset) || errors.Is(err, ErrMalformed) {
			t.Errorf("cut at %d: err = %v, want the read error", n, err)
		}
		assertEmptyDir(t, spool)
	}
}

func TestParseUnknownTransferEncoding(t *testing.T) {
	msg := "From: a@example.com\r\nSubject: uu\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-weird\r\n\r\nplain words\r\n" +
		"--b\r\nContent-Type: application/octet-stream; name=a.bin\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a.bin\r\n" +
		"--b--\r\n"
	in, err := Parse(strings.NewReader(msg), ParseOptions{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "Text", in.Text, "plain words")
	expect(t, "Notes", in.Notes, []string{
		`unknown transfer encoding "x-weird" in text/plain: shown as received`,
		`unknown transfer encoding "x-uuencode" in attachment "a.bin" (application/octet-stream): saved as received`,
	})
	checkAttachments(t, in.Attachments, []wantAttachment{{"a.bin", "application/octet-stream", "begin 644 a.bin"}}, filepath.Dir(in.Attachments[0].Path))
}

// go-message finds no boundary when the Content-Type has a duplicate or
// broken parameter; the lenient parse does.
func TestParseBoundaryGoMessageMisses(t *testing.T) {
	for _, ct := range []string{
		`multipart/mixed; boundary="b1"; boundary="b1"`,
		`multipart/mixed; boundary=b1; format=a b`,
	} {
		msg := "From: a@example.com\r\nSubject: x\r\nContent-Type: " + ct + "\r\n\r\n" +
			"--b1\r\nContent-Type: text/plain\r\n\r\nfound\r\n--b1--\r\n"
		in, err := Parse(strings.NewReader(msg), ParseOptions{SpoolDir: t.TempDir()})
		if err != nil {
			t.Errorf("%s: %v", ct, err)
			continue
		}
		expect(t, ct, in.Text, "found")
	}
}

func TestParseTextCap(t *testing.T) {
	body := strings.Repeat("é", 600) // 1200 bytes
	msg := "From: a@example.com\r\nSubject: long\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
	in, err := Parse(strings.NewReader(msg), ParseOptions{SpoolDir: t.TempDir(), MaxTextBytes: 101})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "Text", in.Text, strings.Repeat("é", 50)+"\n\n[… text cut: longer than 101 bytes]")
	expect(t, "Notes", in.Notes, []string{"body text longer than 101 bytes: cut"})

	html := "From: a@example.com\r\nSubject: long\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>" +
		strings.Repeat("word ", 1000) + "</p>\r\n"
	in, err = Parse(strings.NewReader(html), ParseOptions{SpoolDir: t.TempDir(), MaxTextBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !in.TextFromHTML || !strings.HasPrefix(in.Text, "word word") || !strings.HasSuffix(in.Text, "[… text cut: longer than 100 bytes]") {
		t.Errorf("Text = %q", in.Text)
	}
	expect(t, "Notes", in.Notes, []string{"body text longer than 100 bytes: cut"})
}

func TestParseCharsetEdgeCases(t *testing.T) {
	for _, tc := range []struct {
		name, ct, body, text string
		notes                []string
	}{
		{"no charset, 8-bit", "text/plain", "caf\xe9 \x93ok\x94", "café “ok”",
			[]string{"8-bit text in text/plain without a charset: read as windows-1252"}},
		{"utf-8 with a bad byte", "text/plain; charset=utf-8", "ok \xff end", "ok \uFFFD end",
			[]string{`invalid UTF-8 in text/plain (charset "utf-8"): replaced with U+FFFD`}},
		{"unknown charset, valid UTF-8", "text/plain; charset=x-unknown-foo", "Grüße", "Grüße",
			[]string{`unknown charset "x-unknown-foo" in text/plain: shown as received`}},
		{"charset in a Content-Type go-message rejects", `text/plain; charset=koi8-r; charset=koi8-r`, "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет", nil},
		{"control characters", "text/plain", "a\x00b\x1b[31mc\fd", "ab[31mc\nd", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := "From: a@example.com\r\nSubject: x\r\nContent-Type: " + tc.ct + "\r\n\r\n" + tc.body
			in, err := Parse(strings.NewReader(msg), ParseOptions{SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			expect(t, "Text", in.Text, tc.text)
			expect(t, "Notes", fmt.Sprint(in.Notes), fmt.Sprint(tc.notes))
		})
	}
}

func TestMsgIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"<a@b>", []string{"a@b"}},
		{"  <a@b> (comment <x@y>) <c@d>", []string{"a@b", "c@d"}},
		{`"quoted <q@r>" junk <a@b>,<c@d> <a@b>`, []string{"a@b", "c@d"}},
		{"a@b c@d", []string{"a@b", "c@d"}},
		{"bare-id-without-at", []string{"bare-id-without-at"}},
		{"<unterminated@x", []string{"unterminated@x"}},
		{"<a@b <c@d>", []string{"a@b", "c@d"}},
		{"", nil},
	} {
		expect(t, tc.in, msgIDs(tc.in), tc.want)
	}
}

func TestMediaTypeParams(t *testing.T) {
	p := &parser{in: &workflow.Inbound{}}
	for _, tc := range []struct {
		raw, mt, key, want string
	}{
		{`attachment; filename="a b.pdf"`, "attachment", "filename", "a b.pdf"},
		{`attachment; filename=a b.pdf`, "attachment", "filename", "a b.pdf"},
		{`attachment; filename*=utf-8''%E2%82%AC.txt`, "attachment", "filename", "€.txt"},
		{`attachment; filename*=windows-1251''%CF%F0%E8.txt`, "attachment", "filename", "При.txt"},
		{`attachment; filename*0*=iso-8859-1''r%E9; filename*1=sum; filename*2*=%E9.doc`, "attachment", "filename", "résumé.doc"},
		{`attachment; filename="=?utf-8?B?0L7RgtGH0ZHRgi5wZGY=?="`, "attachment", "filename", "отчёт.pdf"},
		{`application/pdf; name="=?x-nope?q?r=E9sum=E9.pdf?="`, "application/pdf", "name", "r\u00e9sum\u00e9.pdf"},
		{`Text/HTML; charset="UTF-8"`, "text/html", "charset", "UTF-8"},
		{`text/plain; charset=utf-8; charset=koi8-r`, "text/plain", "charset", "utf-8"},
	} {
		mt, params := p.mediaType("Content-Disposition", tc.raw)
		if mt != tc.mt || params[tc.key] != tc.want {
			t.Errorf("%s: got %q %q=%q, want %q %q", tc.raw, mt, tc.key, params[tc.key], tc.mt, tc.want)
		}
	}
}

func TestLenientAddresses(t *testing.T) {
	p := &parser{in: &workflow.Inbound{}}
	got := p.lenientAddresses("To", `Team: "Doe, J." <j@x.test>, bob@y.test (Bob B), =?x-nope?q?Z=C3=B6e?= <zoe@z.test;`)
	expect(t, "addresses", got, []workflow.Address{
		{Name: "Doe, J.", Email: "j@x.test"},
		{Name: "Bob B", Email: "bob@y.test"},
		{Name: "Zöe", Email: "zoe@z.test"},
	})
}

var crlfLine = []byte("\r\n")

// lineWriter inserts CRLF every 76 bytes, as a base64 body has it.
type lineWriter struct {
	w   io.Writer
	col int
}

func (l *lineWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		k := min(76-l.col, len(b))
		if _, err := l.w.Write(b[:k]); err != nil {
			return n, err
		}
		n += k
		b = b[k:]
		l.col += k
		if l.col == 76 {
			if _, err := l.w.Write(crlfLine); err != nil {
				return n, err
			}
			l.col = 0
		}
	}
	return n, nil
}

// A 20 MiB attachment goes to disk without passing through memory: the
// message is made on the fly, so the test holds none of it either.
func TestParseLargeAttachmentStreams(t *testing.T) {
	const size = 20 << 20
	pr, pw := io.Pipe()
	sum := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.WriteString(pw, "From: big@example.com\r\nSubject: big\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=BIG\r\n\r\n--BIG\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"+
			"--BIG\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=dump.bin\r\n"+
			"Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.NewEncoder(base64.StdEncoding, &lineWriter{w: pw})
		rng := rand.New(rand.NewPCG(1, 2))
		buf := make([]byte, 30<<10)
		for n := 0; n < size; n += len(buf) {
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			h.Write(buf[:min(len(buf), size-n)])
			enc.Write(buf[:min(len(buf), size-n)])
		}
		enc.Close()
		io.WriteString(pw, "\r\n--BIG--\r\n")
		var s [32]byte
		copy(s[:], h.Sum(nil))
		sum <- s
		pw.Close()
	}()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	peak := make(chan uint64, 1)
	go func() {
		var m runtime.MemStats
		var top uint64
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			top = max(top, m.HeapAlloc)
			select {
			case <-stop:
				peak <- top
				return
			case <-tick.C:
			}
		}
	}()

	spool := t.TempDir()
	in, err := Parse(pr, ParseOptions{SpoolDir: spool})
	close(stop)
	top := <-peak
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}

	if growth := int64(top) - int64(before.HeapAlloc); growth > 16<<20 {
		t.Errorf("peak heap grew by %d MiB while parsing a %d MiB attachment", growth>>20, size>>20)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
		t.Errorf("allocated %d MiB in total for a %d MiB attachment", alloc>>20, size>>20)
	}
	t.Logf("heap peak growth %d KiB, total allocated %d KiB", (int64(top)-int64(before.HeapAlloc))>>10, (after.TotalAlloc-before.TotalAlloc)>>10)

	expect(t, "Text", in.Text, "see attached")
	if len(in.Attachments) != 1 {
		t.Fatalf("%d attachments", len(in.Attachments))
	}
	a := in.Attachments[0]
	expect(t, "Name", a.Name, "dump.bin")
	expect(t, "Size", a.Size, int64(size))
	st, err := os.Stat(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	expect(t, "file size", st.Size(), int64(size))
	f, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	var got [32]byte
	copy(got[:], h.Sum(nil))
	if got != <-sum {
		t.Error("spooled attachment differs from what was sent")
	}
}

// FuzzParse checks that no input panics, that failures are ErrMalformed or
// ErrLimit and leave no spool files, and that what parses keeps the
// invariants. Its seeds (the testdata files) run with go test.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		spool := t.TempDir()
		in, err := Parse(bytes.NewReader(raw), ParseOptions{SpoolDir: spool, MaxTextBytes: 4096})
		checkParseContract(t, spool, in, err)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrLimit) || strings.Contains(err.Error(), "panic") {
				t.Fatalf("err = %v", err)
			}
			assertEmptyDir(t, spool)
			return
		}
		checkInvariants(t, in)
		for _, a := range in.Attachments {
			st, err := os.Stat(a.Path)
			if err != nil || st.Size() != a.Size {
				t.Errorf("attachment %+v: %v", a, err)
			}
		}
	})
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Errorf("%s still holds %d files", dir, len(entries))
	}
}

func expect[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !sameValue(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func sameValue(a, b any) bool {
	switch a := a.(type) {
	case []string:
		return slices.Equal(a, b.([]string))
	case []workflow.Address:
		return slices.Equal(a, b.([]workflow.Address))
	}
	return a == b
}
