package mailin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/workflow"
)

// TestParseDSN reads delivery reports as Postfix sends them: the recipient,
// status and diagnostic from the message/delivery-status part, the returned
// Message-ID from the message/rfc822 or text/rfc822-headers part. The parts
// stay attachments.
func TestParseDSN(t *testing.T) {
	for _, tc := range []struct {
		file string
		want workflow.DeliveryReport
		atts []string // content types
	}{
		{
			// Fetched from the e2e stack: mail to ghost@acme.test (Postfix
			// accepts it, Dovecot's LMTP refuses it) from escalations@example.com.
			file: "postfix-user-unknown.eml",
			want: workflow.DeliveryReport{
				Recipient: "ghost@acme.test", Action: "failed", Status: "5.1.1",
				Diagnostic:        "550 5.1.1 <ghost@acme.test> User doesn't exist: ghost@acme.test",
				OriginalMessageID: "esc-00042.ack.0123456789abcdef@example.com",
			},
			atts: []string{"message/delivery-status", "message/rfc822"},
		},
		{
			// The same with only the returned header, a delayed recipient
			// before the failed one and a folded Message-ID.
			file: "postfix-headers-only.eml",
			want: workflow.DeliveryReport{
				Recipient: "ghost@acme.test", Action: "failed", Status: "5.1.1",
				Diagnostic:        "550 5.1.1 <ghost@acme.test> User doesn't exist: ghost@acme.test",
				OriginalMessageID: "esc-00042.notify.fedcba9876543210@example.com",
			},
			atts: []string{"message/delivery-status", "text/rfc822-headers"},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			spool := t.TempDir()
			in, err := parseFile(t, filepath.Join("testdata", "dsn", tc.file), spool)
			if err != nil {
				t.Fatal(err)
			}
			if in.DeliveryReport == nil {
				t.Fatal("no DeliveryReport")
			}
			if got := *in.DeliveryReport; got != tc.want {
				t.Errorf("DeliveryReport =\n %+v\nwant\n %+v", got, tc.want)
			}
			if !in.DeliveryReport.Failed() {
				t.Error("Failed() = false")
			}
			if !strings.Contains(in.Text, "could not\nbe delivered") {
				t.Errorf("Text = %q: the notification is the body", in.Text)
			}
			var types []string
			for _, a := range in.Attachments {
				types = append(types, a.ContentType)
				if _, err := os.Stat(a.Path); err != nil {
					t.Errorf("attachment %s: %v", a.ContentType, err)
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.atts, ",") {
				t.Errorf("attachments %v, want %v", types, tc.atts)
			}
			if auto, why := workflow.Automatic(in, "escalations@example.com", nil); !auto {
				t.Error("a DSN is not automatic mail")
			} else {
				t.Logf("automatic: %s", why)
			}
		})
	}
}

// TestParseNotDSN: a message/delivery-status part outside a delivery report,
// and a multipart/report of another type, give no DeliveryReport.
func TestParseNotDSN(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "dsn", "postfix-user-unknown.eml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(string) string{
		"multipart/mixed": func(s string) string {
			return strings.Replace(s, "multipart/report; report-type=delivery-status;", "multipart/mixed;", 1)
		},
		"disposition report": func(s string) string {
			return strings.Replace(s, "report-type=delivery-status", "report-type=disposition-notification", 1)
		},
	} {
		t.Run(name, func(t *testing.T) {
			in, err := Parse(strings.NewReader(edit(string(raw))), ParseOptions{SpoolDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			if in.DeliveryReport != nil {
				t.Errorf("DeliveryReport = %+v, want nil", *in.DeliveryReport)
			}
		})
	}
}

func TestDeliveryReportFields(t *testing.T) {
	status := "Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; <a@b.test>\r\nStatus: 5.2.2\r\n"
	r := deliveryReport([]byte(status), nil)
	if r == nil || r.Recipient != "a@b.test" || r.Status != "5.2.2" || r.Action != "" || !r.Failed() || r.Reason() != "status 5.2.2" || r.OriginalMessageID != "" {
		t.Errorf("got %+v", r)
	}
	if r := deliveryReport([]byte("Reporting-MTA: dns; mx\n"), nil); r != nil {
		t.Errorf("no recipient: got %+v", r)
	}
}
