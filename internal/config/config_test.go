package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// minimal is the smallest valid file: the keys without defaults.
const minimal = `
imap: {host: imap.example.net, username: esc@example.net}
smtp: {host: smtp.example.net}
`

// load writes yaml to a temporary file and loads it with environ.
func load(t *testing.T, yaml string, environ []string) (Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "escalationd.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, environ)
}

// keysOf returns the keys of every KeyError in err, in order.
func keysOf(err error) []string {
	var keys []string
	for _, e := range flatten(err) {
		var ke *KeyError
		if errors.As(e, &ke) {
			keys = append(keys, ke.Key)
		} else {
			keys = append(keys, "?"+e.Error())
		}
	}
	return keys
}

func TestLoadExample(t *testing.T) {
	cfg, err := Load("../../config.example.yaml", nil)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	// The example is SPEC §3, which is also what Default() holds; empty
	// lists in the file decode as empty, not nil.
	want := Default()
	want.Staff.Addresses = []string{}
	want.Classification.Keywords = Keywords{
		ManagerRequest: []string{}, VendorRequest: []string{}, EscalationRequest: []string{},
		BeyondExpertise: []string{}, SLARisk: []string{},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config.example.yaml loads as\n%+v\nwant\n%+v", cfg, want)
	}
	if got := cfg.Roster.Contacts("Technical", "Tier 3"); len(got) != 1 || got[0].Name != "Dana Lee" || got[0].Phone != "+1 555 0100" {
		t.Errorf("Tier 3 contacts = %+v", got)
	}
}

func TestDefaultValidates(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.IMAP.Port != 993 || c.SMTP.Port != 587 || c.IMAP.PollInterval != time.Minute ||
		c.Escalation.SLA != (SLA{8 * time.Hour, 24 * time.Hour, 24 * time.Hour}) ||
		c.Limits != (Limits{MaxMessageBytes: 26214400, AckMaxAge: 24 * time.Hour, AcksPerSenderPerHour: 5, AcksPerDomainPerHour: 20, AcksPerHour: 200, NotificationsPerHour: 200, UpdatesPerEscalationPerHour: 6, MaxHeaderBytes: 262144, MaxHeaderFields: 2000}) ||
		!c.Staff.RequireAuthenticated || c.Classification.RepeatWindow != 720*time.Hour {
		t.Errorf("Default() = %+v", c)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "imap.pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		yaml  string
		env   []string
		check func(t *testing.T, c Config) // when the load succeeds
		keys  []string                     // keys of the expected errors, in order
		msg   string                       // whole message of the first error, if given
	}{
		{
			name: "defaults fill what the file omits",
			yaml: minimal,
			check: func(t *testing.T, c Config) {
				want := loadBase()
				want.IMAP.Host, want.IMAP.Username, want.SMTP.Host = "imap.example.net", "esc@example.net", "smtp.example.net"
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got\n%+v\nwant\n%+v", c, want)
				}
			},
		},
		{
			name: "env overrides keys absent from the file",
			yaml: minimal,
			env: []string{"ESCALATIOND_IMAP_PASSWORD=s3cret", "ESCALATIOND_LIMITS_ACK_MAX_AGE=2h", "PATH=/bin",
				"ESCALATIOND_LIMITS_MAX_HEADER_BYTES=65536", "ESCALATIOND_LIMITS_MAX_HEADER_FIELDS=300"},
			check: func(t *testing.T, c Config) {
				if c.IMAP.Password != "s3cret" || c.Limits.AckMaxAge != 2*time.Hour ||
					c.Limits.MaxHeaderBytes != 65536 || c.Limits.MaxHeaderFields != 300 {
					t.Errorf("password %q, limits %+v", c.IMAP.Password, c.Limits)
				}
			},
		},
		{
			name: "env beats the file; the last duplicate wins",
			yaml: minimal + "limits: {acks_per_sender_per_hour: 5}\n",
			env: []string{"ESCALATIOND_IMAP_PORT=1993", "ESCALATIOND_IMAP_HOST=first", "ESCALATIOND_IMAP_HOST=mail.test",
				"ESCALATIOND_LIMITS_ACKS_PER_SENDER_PER_HOUR=0", "ESCALATIOND_IMAP_IDLE=false",
				"ESCALATIOND_ESCALATION_SLA_TECHNICAL=90s", "ESCALATIOND_CLASSIFICATION_REVENUE_THRESHOLD_USD=2500.5"},
			check: func(t *testing.T, c Config) {
				if c.IMAP.Port != 1993 || c.IMAP.Host != "mail.test" || c.Limits.AcksPerSenderPerHour != 0 || c.IMAP.Idle ||
					c.Escalation.SLA.Technical != 90*time.Second || c.Classification.RevenueThresholdUSD != 2500.5 {
					t.Errorf("got %+v %+v %+v %+v", c.IMAP, c.Limits, c.Escalation.SLA, c.Classification)
				}
			},
		},
		{
			name: "env lists, customers and roster",
			yaml: minimal + "roster: {technical: {\"Tier 3\": [t3@example.com]}}\n",
			env: []string{
				"ESCALATIOND_STAFF_DOMAINS=a.test, b.test",
				"ESCALATIOND_STAFF_ADDRESSES=[boss@c.test]",
				"ESCALATIOND_CUSTOMERS=[{domain: acme.test, name: Acme Corp, tier: enterprise}]",
				`ESCALATIOND_ROSTER_TECHNICAL={"Tier 2": [t2@example.com]}`,
			},
			check: func(t *testing.T, c Config) {
				if !reflect.DeepEqual(c.Staff.Domains, []string{"a.test", "b.test"}) ||
					!reflect.DeepEqual(c.Staff.Addresses, []string{"boss@c.test"}) {
					t.Errorf("staff = %+v", c.Staff)
				}
				if want := []Customer{{"acme.test", "Acme Corp", "enterprise"}}; !reflect.DeepEqual(c.Customers, want) {
					t.Errorf("customers = %+v", c.Customers)
				}
				want := map[string][]Contact{"tier 2": {{Email: "t2@example.com"}}, "tier 3": {{Email: "t3@example.com"}}}
				if !reflect.DeepEqual(c.Roster.Technical, want) {
					t.Errorf("roster.technical = %+v", c.Roster.Technical)
				}
			},
		},
		{
			name: "empty and unrelated variables are ignored",
			yaml: minimal,
			env:  []string{"ESCALATIOND_IMAP_PORT=", "ESCALATIOND_CONFIG=/etc/x.yaml", "IMAP_PORT=1", "ESCALATIOND_E2E=1"},
			check: func(t *testing.T, c Config) {
				if c.IMAP.Port != 993 {
					t.Errorf("imap.port = %d", c.IMAP.Port)
				}
			},
		},
		{
			name: "partial sections keep the other defaults; [] clears a list, an empty value does not",
			yaml: minimal + "escalation: {sla: {technical: 1h}}\nstaff:\n  domains: []\n  require_authenticated:\nclassification: {keywords: {sla_risk: [breach]}}\n",
			check: func(t *testing.T, c Config) {
				if c.Escalation.SLA != (SLA{time.Hour, 24 * time.Hour, 24 * time.Hour}) {
					t.Errorf("sla = %+v", c.Escalation.SLA)
				}
				if c.Staff.Domains == nil || len(c.Staff.Domains) != 0 || c.Staff.Addresses != nil || !c.Staff.RequireAuthenticated || c.Staff.AuthservID != "" {
					t.Errorf("staff = %#v", c.Staff)
				}
				if want := (Keywords{SLARisk: []string{"breach"}}); !reflect.DeepEqual(c.Classification.Keywords, want) {
					t.Errorf("keywords = %#v", c.Classification.Keywords)
				}
			},
		},
		{name: "env variable naming no key", yaml: minimal, env: []string{"ESCALATIOND_IMAP_PASWORD=x"},
			keys: []string{"ESCALATIOND_IMAP_PASWORD"}},
		{name: "env value of the wrong type", yaml: minimal, env: []string{"ESCALATIOND_IMAP_PORT=abc", "ESCALATIOND_IMAP_POLL_INTERVAL=60"},
			keys: []string{"imap.port", "imap.poll_interval"},
			msg:  `imap.port: from ESCALATIOND_IMAP_PORT: "abc" is not a whole number`},
		{name: "unknown key", yaml: minimal + "staff: {domains: [example.com]}\n" + "limits: {bogus: 1}\n",
			keys: []string{"limits.bogus"},
			msg:  "limits.bogus: unknown key; check its spelling and section against config.example.yaml"},
		{name: "unknown key beside known ones", yaml: "imap: {host: h, username: u, bogus: 1}\nsmtp: {host: s}\n",
			keys: []string{"imap.bogus"}},
		{name: "unknown section", yaml: minimal + "imapp: {host: x}\n", keys: []string{"imapp"}},
		{name: "keys under a value", yaml: minimal + "limits: {ack_max_age: {hours: 2}}\n", keys: []string{"limits.ack_max_age.hours"}},
		{name: "unknown key in a customer", yaml: minimal + "customers: [{domain: a.test, name: A, tierr: gold}]\n",
			keys: []string{"customers[0].tierr"}},
		{name: "unknown key in a contact", yaml: minimal + "roster: {technical: {\"Tier 3\": [{email: a@b.test, nmae: Dana}]}}\n",
			keys: []string{"roster.technical[tier 3][0].nmae"}},
		{name: "section given a scalar", yaml: "imap: 5\nsmtp: {host: s}\n", keys: []string{"imap"}},
		{name: "bad port", yaml: "imap: {host: h, username: u, port: 0}\nsmtp: {host: s}\n",
			keys: []string{"imap.port"}, msg: "imap.port: must be 1-65535"},
		{name: "a decode error stops before validation", yaml: "imap: {host: h, username: u, port: 65536}\nsmtp: {host: s, port: x}\n",
			keys: []string{"smtp.port"}},
		{name: "every validation error at once", yaml: "imap: {host: h, username: u, port: 65536}\nsmtp: {host: s, port: 0, tls: ssl}\n",
			keys: []string{"imap.port", "smtp.port", "smtp.tls"}},
		{name: "duration without unit", yaml: minimal + "escalation: {timer_tick: 30}\n",
			keys: []string{"escalation.timer_tick"}, msg: "escalation.timer_tick: 30 has no unit; write it like 30s or 30m"},
		{name: "negative duration", yaml: minimal + "escalation: {sla: {vendor: -1h}}\n", keys: []string{"escalation.sla.vendor"}},
		{
			name: "go durations", yaml: minimal + "escalation: {update_interval: 90m, timer_tick: 1s}\n",
			check: func(t *testing.T, c Config) {
				if c.Escalation.UpdateInterval != 90*time.Minute || c.Escalation.TimerTick != time.Second {
					t.Errorf("update_interval %v, timer_tick %v", c.Escalation.UpdateInterval, c.Escalation.TimerTick)
				}
			},
		},
		{name: "required hosts", yaml: "imap: {username: u}\n", keys: []string{"imap.host", "smtp.host"}},
		{
			name: "password_file", yaml: "imap: {host: h, username: u, password_file: " + pwFile + "}\nsmtp: {host: s}\n",
			check: func(t *testing.T, c Config) {
				if c.IMAP.Password != "from-file" || c.IMAP.PasswordFile != pwFile {
					t.Errorf("password %q, file %q", c.IMAP.Password, c.IMAP.PasswordFile)
				}
			},
		},
		{name: "password and password_file", yaml: "imap: {host: h, username: u, password: x, password_file: " + pwFile + "}\nsmtp: {host: s}\n",
			keys: []string{"imap.password_file"}},
		{name: "password from env and password_file", yaml: minimal,
			env:  []string{"ESCALATIOND_SMTP_PASSWORD=x", "ESCALATIOND_SMTP_PASSWORD_FILE=" + pwFile},
			keys: []string{"smtp.password_file"}},
		{name: "missing password_file", yaml: "imap: {host: h, username: u, password_file: /nonexistent/pw}\nsmtp: {host: s}\n",
			keys: []string{"imap.password_file"}, msg: "imap.password_file: open /nonexistent/pw: no such file or directory"},
		{name: "smtp username without password", yaml: "imap: {host: h, username: u}\nsmtp: {host: s, username: bot}\n",
			keys: []string{"smtp.password"}},
		{name: "tls none on a remote host", yaml: "imap: {host: imap.example.net, username: u, tls: none}\nsmtp: {host: s}\n",
			keys: []string{"imap.tls"}},
		{name: "tls none on a remote host, allowed", yaml: "imap: {host: imap.example.net, username: u, tls: none, allow_insecure: true}\nsmtp: {host: s}\n",
			check: func(t *testing.T, c Config) {}},
		{name: "tls none on loopback", yaml: "imap: {host: 127.0.0.2, username: u, tls: none}\nsmtp: {host: localhost, tls: none}\n",
			check: func(t *testing.T, c Config) {}},
		{
			name: "roster: both contact forms, levels in any case",
			yaml: minimal + `roster:
  technical:
    "Tier 2": [tier2@example.com, "Kim Park <kim@example.com>"]
    "TIER 3": [{ email: tier3@example.com, name: Dana Lee, title: Senior Engineer, phone: "+1 555 0100" }]
  executive:
    "vp": vp@example.com
  vendor:
    "TAM/DSE/CE engaged": [tam@example.com]
`,
			check: func(t *testing.T, c Config) {
				checks := []struct {
					typ, level string
					want       []Contact
				}{
					{"Technical", "TIER 2", []Contact{{Email: "tier2@example.com"}, {Email: "kim@example.com", Name: "Kim Park"}}},
					{"technical", "Tier 3", []Contact{{Email: "tier3@example.com", Name: "Dana Lee", Title: "Senior Engineer", Phone: "+1 555 0100"}}},
					{"EXECUTIVE", "VP", []Contact{{Email: "vp@example.com"}}},
					{"Vendor", "tam/dse/ce engaged", []Contact{{Email: "tam@example.com"}}},
					{"Technical", "Tier 1", nil},
				}
				for _, ch := range checks {
					if got := c.Roster.Contacts(ch.typ, ch.level); !reflect.DeepEqual(got, ch.want) {
						t.Errorf("Contacts(%q, %q) = %+v, want %+v", ch.typ, ch.level, got, ch.want)
					}
				}
				if _, ok := c.Roster.Technical["tier 3"]; !ok {
					t.Errorf("roster keys not lower-cased: %v", c.Roster.Technical)
				}
			},
		},
		{name: "roster: unknown level", yaml: minimal + "roster: {technical: {\"Tier 9\": [a@example.com]}, executive: {\"Tier 2\": [b@example.com]}}\n",
			keys: []string{`roster.technical."tier 9"`, `roster.executive."tier 2"`}},
		{name: "roster: contact without email", yaml: minimal + "roster: {executive: {Manager: [{name: Sam}, not-an-address]}}\n",
			keys: []string{`roster.executive."manager"[0].email`, `roster.executive."manager"[1].email`}},
		{name: "escalation keys", yaml: minimal + "escalation: {address: \"Esc <esc@example.com>\", id_prefix: ES-C, timezone: Mars/Olympus, dir: \"\"}\n",
			keys: []string{"escalation.address", "escalation.id_prefix", "escalation.dir", "escalation.timezone"}},
		{name: "id_prefix too long", yaml: minimal + "escalation: {id_prefix: ABCDEFGHIJK}\n", keys: []string{"escalation.id_prefix"}},
		{name: "smtp.from", yaml: "imap: {host: h, username: u}\nsmtp: {host: s, from: \"Escalations <escalations>\"}\n", keys: []string{"smtp.from"}},
		{name: "staff, customers, vendors", yaml: minimal + `staff: {domains: ["example.com other.com", "me@x.test"], addresses: ["a b@x.test"]}
customers: [{domain: acme.test, name: Acme}, {domain: ACME.test, name: ""}]
vendors: {aws: "not an address"}
`,
			keys: []string{"staff.domains[0]", "staff.domains[1]", "staff.addresses[0]", "customers[1].domain", "customers[1].name", "vendors.aws"}},
		{name: "limits", yaml: minimal + "limits: {max_message_bytes: 0, acks_per_sender_per_hour: -1, max_header_bytes: 0, max_header_fields: -5}\n",
			keys: []string{"limits.max_message_bytes", "limits.acks_per_sender_per_hour", "limits.max_header_bytes", "limits.max_header_fields"}},
		{name: "limits from the environment", yaml: minimal, env: []string{"ESCALATIOND_LIMITS_MAX_HEADER_FIELDS=0"},
			keys: []string{"limits.max_header_fields"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.yaml, tt.env)
			if len(tt.keys) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatalf("no error, want errors for %v", tt.keys)
			}
			if got := keysOf(err); !reflect.DeepEqual(got, tt.keys) {
				t.Errorf("error keys = %q, want %q\nerror: %v", got, tt.keys, err)
			}
			if tt.msg != "" {
				if first := flatten(err)[0].Error(); first != tt.msg {
					t.Errorf("first error = %q, want %q", first, tt.msg)
				}
			}
			if !reflect.DeepEqual(c, Config{}) {
				t.Errorf("a failed Load returned a non-zero Config")
			}
		})
	}
}

func TestLoadMissingPasswordFileUnwraps(t *testing.T) {
	_, err := load(t, "imap: {host: h, username: u, password_file: /nonexistent/pw}\nsmtp: {host: s}\n", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "imap.password_file" {
		t.Errorf("errors.As: %#v", ke)
	}
}

func TestLoadIgnoresProcessEnvironment(t *testing.T) {
	t.Setenv("ESCALATIOND_IMAP_PORT", "1")
	t.Setenv("ESCALATIOND_IMAP_PASSWORD", "leaked")
	c, err := load(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.IMAP.Port != 993 || c.IMAP.Password != "" {
		t.Errorf("process environment was read: port %d, password %q", c.IMAP.Port, c.IMAP.Password)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	c, err := Load("", []string{"ESCALATIOND_IMAP_HOST=h", "ESCALATIOND_IMAP_USERNAME=u", "ESCALATIOND_SMTP_HOST=s"})
	if err != nil {
		t.Fatal(err)
	}
	if c.IMAP.Host != "h" || c.IMAP.Username != "u" || c.SMTP.Host != "s" || c.IMAP.Port != 993 {
		t.Errorf("got %+v %+v", c.IMAP, c.SMTP)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "none.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "none.yaml") {
		t.Errorf("err = %v, want it to name the file", err)
	}
}

func TestEveryKeyHasAnEnvName(t *testing.T) {
	got := map[string]string{}
	for _, l := range leafFields() {
		got[l.key] = l.env
	}
	for key, env := range map[string]string{
		"imap.password":                    "ESCALATIOND_IMAP_PASSWORD",
		"imap.password_file":               "ESCALATIOND_IMAP_PASSWORD_FILE",
		"limits.ack_max_age":               "ESCALATIOND_LIMITS_ACK_MAX_AGE",
		"limits.max_header_bytes":          "ESCALATIOND_LIMITS_MAX_HEADER_BYTES",
		"limits.max_header_fields":         "ESCALATIOND_LIMITS_MAX_HEADER_FIELDS",
		"escalation.sla.technical":         "ESCALATIOND_ESCALATION_SLA_TECHNICAL",
		"customers":                        "ESCALATIOND_CUSTOMERS",
		"roster.vendor":                    "ESCALATIOND_ROSTER_VENDOR",
		"classification.keywords.sla_risk": "ESCALATIOND_CLASSIFICATION_KEYWORDS_SLA_RISK",
	} {
		if got[key] != env {
			t.Errorf("env name of %s = %q, want %q", key, got[key], env)
		}
	}
	if len(got) != 66 {
		t.Errorf("%d keys, want 66: a field was added or lost its tag", len(got))
	}
}

func TestRedacted(t *testing.T) {
	c := Default()
	c.IMAP.Password = "imap-secret"
	c.SMTP.Password = "smtp-secret"
	r := c.Redacted()
	if r.IMAP.Password != "[redacted]" || r.SMTP.Password != "[redacted]" {
		t.Errorf("Redacted passwords: %q %q", r.IMAP.Password, r.SMTP.Password)
	}
	if s := fmt.Sprintf("%+v", r); strings.Contains(s, "secret") {
		t.Errorf("Redacted output shows a secret: %s", s)
	}
	if c.IMAP.Password != "imap-secret" {
		t.Errorf("Redacted changed the original")
	}
	if e := Default().Redacted(); e.IMAP.Password != "" || e.SMTP.Password != "" {
		t.Errorf("unset passwords became %q %q", e.IMAP.Password, e.SMTP.Password)
	}
}

func TestContactsOnHandBuiltRoster(t *testing.T) {
	r := Roster{Executive: map[string][]Contact{"Team Lead": {{Email: "lead@example.com"}}}}
	if got := r.Contacts("executive", "TEAM LEAD"); len(got) != 1 || got[0].Email != "lead@example.com" {
		t.Errorf("Contacts = %+v", got)
	}
	if got := r.Contacts("bogus", "team lead"); got != nil {
		t.Errorf("unknown type gave %+v", got)
	}
}

func TestHelpers(t *testing.T) {
	c := Default()
	if name, email := c.FromAddress(); name != "Escalations" || email != "escalations@example.com" {
		t.Errorf("FromAddress = %q, %q", name, email)
	}
	c.Escalation.Timezone = "Europe/Berlin"
	if loc := c.Location(); loc.String() != "Europe/Berlin" {
		t.Errorf("Location = %v", loc)
	}
	if got := c.Vendors.Address("AWS"); got != "aws-support@example.com" {
		t.Errorf("Vendors.Address(AWS) = %q", got)
	}
	if got := c.Vendors.Address("ibm"); got != "" {
		t.Errorf("Vendors.Address(ibm) = %q", got)
	}
	if cu, ok := c.Customer("ACME.test"); !ok || cu.Name != "Acme Corp" {
		t.Errorf("Customer = %+v, %v", cu, ok)
	}
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "[::1]": true, "localhost": true, "LocalHost.": true,
		"10.0.0.1": false, "imap.example.net": false, "": false, "localhost.example.net": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
