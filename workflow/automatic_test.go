package workflow

import "testing"

func TestAutomatic(t *testing.T) {
	own := func(id string) bool { return id == "esc-00001.ack.1@example.com" }
	for _, tc := range []struct {
		name   string
		in     Inbound
		want   bool
		reason string
	}{
		{"a person", Inbound{From: Address{Email: "jane@acme.test"}, Subject: "Database down"}, false, ""},
		{"auto-submitted no", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Auto-Submitted": {"no"}}}, false, ""},
		{"auto-replied", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Auto-Submitted": {"auto-replied"}}}, true, "Auto-Submitted: auto-replied"},
		{"precedence bulk", Inbound{From: Address{Email: "news@acme.test"}, Header: map[string][]string{"Precedence": {"Bulk"}}}, true, "Precedence: bulk"},
		{"precedence first-class", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Precedence": {"first-class"}}}, false, ""},
		{"x-loop", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"X-Loop": {"x"}}}, true, "X-Loop header"},
		{"list-id", Inbound{From: Address{Email: "list@acme.test"}, Header: map[string][]string{"List-Id": {"<x.acme.test>"}}}, true, "List-Id header"},
		{"our loop header", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"X-Escalationd-Loop": {"escalations@example.com"}}}, true, "X-Escalationd-Loop header"},
		{"empty return path", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Return-Path": {"<>"}}}, true, "empty Return-Path (a delivery report)"},
		{"return path present", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Return-Path": {"<jane@acme.test>"}}}, false, ""},
		{"dsn", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"Content-Type": {"multipart/report; report-type=delivery-status"}}}, true, "delivery report (multipart/report)"},
		{"mailer-daemon", Inbound{From: Address{Email: "MAILER-DAEMON@mx.acme.test"}}, true, "sender mailer-daemon@mx.acme.test does not read replies"},
		{"noreply", Inbound{From: Address{Email: "no-reply@acme.test"}}, true, "sender no-reply@acme.test does not read replies"},
		{"our own address", Inbound{From: Address{Email: "Escalations@Example.com"}}, true, "sent from our own address"},
		{"our plus address", Inbound{From: Address{Email: "escalations+ESC-00001@example.com"}}, true, "sent from our own address"},
		{"our message id", Inbound{From: Address{Email: "jane@acme.test"}, MessageID: "esc-00001.ack.1@example.com"}, true, "a Message-ID the daemon generated"},
		{"outlook suppress", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"X-Auto-Response-Suppress": {"DR, OOF, AutoReply"}}}, true, "X-Auto-Response-Suppress: DR, OOF, AutoReply"},
		{"outlook suppress DR only", Inbound{From: Address{Email: "jane@acme.test"}, Header: map[string][]string{"X-Auto-Response-Suppress": {"DR"}}}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := Automatic(&tc.in, "escalations@example.com", own)
			if got != tc.want || reason != tc.reason {
				t.Errorf("Automatic = %v %q, want %v %q", got, reason, tc.want, tc.reason)
			}
		})
	}
	for subject, want := range map[string]bool{
		"Out of Office: back Monday":                true,
		"Re: Automatic reply: Database down":        true,
		"AW: Abwesenheitsnotiz":                     true,
		"Automatische Antwort: Ihre Anfrage":        true,
		"Réponse automatique : absent":              true,
		"Respuesta automática: fuera de la oficina": true,
		"Автоответ: в отпуске":                      true,
		"Office hours changed":                      false,
		"Our automatic replication is broken":       false,
	} {
		got, _ := Automatic(&Inbound{From: Address{Email: "jane@acme.test"}, Subject: subject}, "escalations@example.com", nil)
		if got != want {
			t.Errorf("subject %q: automatic = %v, want %v", subject, got, want)
		}
	}
}
