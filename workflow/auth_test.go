package workflow

import (
	"context"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
)

func TestAuthenticatedSender(t *testing.T) {
	const id = "mx.example.com"
	for _, tc := range []struct {
		name    string
		from    string
		headers []string
		body    string
		want    bool
	}{
		{"dkim pass aligned", "lead@example.com", []string{"mx.example.com; dkim=pass header.d=example.com header.s=s1; spf=pass"}, "", true},
		{"dkim pass parent domain", "lead@mail.example.com", []string{"mx.example.com; dkim=pass (good signature) header.d=example.com"}, "", true},
		{"dmarc pass", "lead@example.com", []string{"mx.example.com 1; spf=fail; dmarc=pass header.from=example.com"}, "", true},
		{"foreign authserv-id", "lead@example.com", []string{"mx.evil.test; dkim=pass header.d=example.com"}, "", false},
		{"dkim pass for another domain", "lead@example.com", []string{"mx.example.com; dkim=pass header.d=evil.test"}, "", false},
		{"dkim pass for a lookalike", "lead@example.com", []string{"mx.example.com; dkim=pass header.d=notexample.com"}, "", false},
		{"dkim fail", "lead@example.com", []string{"mx.example.com; dkim=fail header.d=example.com; dmarc=fail header.from=example.com"}, "", false},
		{"only the topmost of our server counts", "lead@example.com", []string{"mx.example.com; dkim=none", "mx.example.com; dkim=pass header.d=example.com"}, "", false},
		{"forged in the body", "lead@example.com", nil, "Authentication-Results: mx.example.com; dkim=pass header.d=example.com", false},
		{"none", "lead@example.com", nil, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &Inbound{From: Address{Email: tc.from}, Text: tc.body, Header: map[string][]string{}}
			if tc.headers != nil {
				in.Header["Authentication-Results"] = tc.headers
			}
			if got, why := authenticatedSender(in, id); got != tc.want {
				t.Errorf("authenticatedSender = %v (%s), want %v", got, why, tc.want)
			}
		})
	}
}

func TestUnauthenticatedStaffCannotCommand(t *testing.T) {
	e, _ := newTestEngine(t, func(c *config.Config) { c.Staff.RequireAuthenticated = true })
	ingest(t, e, msg("jane@acme.test", "Outage", "u1@acme.test", nil))
	forged := msg("lead@example.com", "Re: [ESC-00001] Outage", "u2@evil.test", func(in *Inbound) {
		in.Text = "/resolve done\n"
		in.Header = map[string][]string{"Authentication-Results": {"mx.example.com; dkim=pass header.d=evil.test"}}
	})
	ingest(t, e, forged)
	v, _ := e.View(context.Background(), 1)
	if v.Status == StatusResolved {
		t.Fatal("a forged staff mail resolved the escalation")
	}
	signed := msg("lead@example.com", "Re: [ESC-00001] Outage", "u3@example.com", func(in *Inbound) {
		in.Text = "/resolve done\n"
		in.Header = map[string][]string{"Authentication-Results": {"mx.example.com; dkim=pass header.d=example.com"}}
	})
	ingest(t, e, signed)
	if v, _ = e.View(context.Background(), 1); v.Status != StatusResolved {
		t.Fatalf("an authenticated staff /resolve did not apply: %s", v.Status)
	}
}
