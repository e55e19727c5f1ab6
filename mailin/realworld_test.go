package mailin

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// Mail that mainstream clients show without complaint must not be rejected
// or misread: each case was met in other mail libraries' test suites or in
// real mailboxes.
func TestRealWorldMail(t *testing.T) {
	crlf := func(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }
	for _, tc := range []struct {
		name  string
		raw   string
		check func(t *testing.T, in *workflow.Inbound)
	}{
		{"leading mbox From line", crlf("From jdoe@example.com Thu Oct 12 10:21:00 2023\nFrom: John Doe <jdoe@example.com>\nTo: escalations@example.com\nSubject: Server down\nMessage-ID: <mbox1@example.com>\n\nOur server is down.\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jdoe@example.com" || in.Subject != "Server down" || !strings.Contains(in.Text, "Our server is down.") {
					t.Errorf("From %q, Subject %q, Text %q", in.From.Email, in.Subject, in.Text)
				}
			}},
		{"leading >From line", crlf(">From jdoe@example.com Thu Oct 12 10:21:00 2023\nFrom: jdoe@example.com\nSubject: Quoted envelope\n\nBody.\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jdoe@example.com" || in.Subject != "Quoted envelope" {
					t.Errorf("From %q, Subject %q", in.From.Email, in.Subject)
				}
			}},
		{"leading From line with bare LF", "From MAILER-DAEMON Fri Jul  8 12:08:34 2011\nFrom: Jane <jane@acme.test>\nSubject: LF only\n\nText\n",
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jane@acme.test" || in.Subject != "LF only" {
					t.Errorf("From %q, Subject %q", in.From.Email, in.Subject)
				}
			}},
		{"multipart with no parts", crlf("From: jane@acme.test\nSubject: Empty multipart\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"xyz\"\n\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jane@acme.test" || strings.TrimSpace(in.Text) != "" {
					t.Errorf("From %q, Text %q", in.From.Email, in.Text)
				}
			}},
		{"multipart with only a preamble", crlf("From: jane@acme.test\nSubject: Preamble only\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"xyz\"\n\nThis is a multi-part message in MIME format.\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jane@acme.test" {
					t.Errorf("From %q", in.From.Email)
				}
			}},
		{"comments in the address", crlf("From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\nSubject: Comments\n\nHi\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "pete@silly.test" {
					t.Errorf("From %q, want pete@silly.test", in.From.Email)
				}
			}},
		{"comments in a bare address", crlf("From: pete(his account)@silly.test(his host)\nSubject: Comments\n\nHi\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "pete@silly.test" {
					t.Errorf("From %q, want pete@silly.test", in.From.Email)
				}
			}},
		{"unquoted comma in the display name", crlf("From: Doe, Jane <jane@acme.test>\nSubject: Comma\n\nHi\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jane@acme.test" {
					t.Errorf("From %+v, want jane@acme.test", in.From)
				}
			}},
		{"header line without a colon", crlf("From: jane@acme.test\nSubject: Broken header\nX-Mailer junk without colon\nTo: escalations@example.com\n\nHello there\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Email != "jane@acme.test" || len(in.To) != 1 || !strings.Contains(in.Text, "Hello there") {
					t.Errorf("From %q, To %v, Text %q", in.From.Email, in.To, in.Text)
				}
			}},
		{"bare LF line ends", "From: jane@acme.test\nSubject: LF\nContent-Type: text/plain; charset=utf-8\n\nLine one\nLine two\n",
			func(t *testing.T, in *workflow.Inbound) {
				if !strings.Contains(in.Text, "Line one\nLine two") {
					t.Errorf("Text %q", in.Text)
				}
			}},
		{"raw UTF-8 in headers", crlf("From: Jürgen Müller <jm@acme.test>\nSubject: Überweisung fehlgeschlagen\nContent-Type: text/plain; charset=utf-8\n\nGrüße\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.From.Name != "Jürgen Müller" || in.Subject != "Überweisung fehlgeschlagen" {
					t.Errorf("From %+v, Subject %q", in.From, in.Subject)
				}
			}},
		{"charset utf8 and BASE64 in capitals", crlf("From: jane@acme.test\nSubject: =?utf8?B?SGVsbG8gd29ybGQ=?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf8\nContent-Transfer-Encoding: BASE64\n\nSGVsbG8gd29ybGQ=\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if in.Subject != "Hello world" || !strings.Contains(in.Text, "Hello world") {
					t.Errorf("Subject %q, Text %q", in.Subject, in.Text)
				}
			}},
		{"multipart without the closing boundary", crlf("From: jane@acme.test\nSubject: Truncated\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\nThe text part.\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if !strings.Contains(in.Text, "The text part.") {
					t.Errorf("Text %q", in.Text)
				}
			}},
		{"multipart without MIME-Version", crlf("From: jane@acme.test\nSubject: No version\nContent-Type: multipart/alternative; boundary=\"a\"\n\n--a\nContent-Type: text/plain\n\nPlain words\n--a\nContent-Type: text/html\n\n<p>Plain words</p>\n--a--\n"),
			func(t *testing.T, in *workflow.Inbound) {
				if !strings.Contains(in.Text, "Plain words") || strings.Contains(in.Text, "<p>") {
					t.Errorf("Text %q", in.Text)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Parse(strings.NewReader(tc.raw), ParseOptions{SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tc.check(t, in)
		})
	}
}

// TestMboxEnvelopeLineFiles: the same, from files as an mbox export leaves
// them (mboxo "From " and mboxrd ">From ").
func TestMboxEnvelopeLineFiles(t *testing.T) {
	for file, want := range map[string]string{"mbox-from-line.eml": "grace@umbrella.test", "mbox-quoted-from-line.eml": "heidi@umbrella.test"} {
		f, err := os.Open(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		in, err := Parse(f, ParseOptions{SpoolDir: t.TempDir()})
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		if in.From.Email != want || in.MessageID == "" || !slices.Contains(in.Notes, `leading mbox "From " line skipped`) {
			t.Errorf("%s: From %q, Message-ID %q, notes %q", file, in.From.Email, in.MessageID, in.Notes)
		}
	}
}
