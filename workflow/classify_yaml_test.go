package workflow

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/templates"
)

// A threshold changed in the YAML file changes the outcome.
func TestClassificationThresholdFromYAML(t *testing.T) {
	base := `imap: {host: 127.0.0.1, port: 993, username: escalations@example.com}
smtp: {host: 127.0.0.1, port: 587}
escalation:
  dir: "ESC"
  data_dir: "DATA"
`
	for _, tc := range []struct {
		name, yaml string
		want       Type
	}{
		{"default threshold $10,000", base, Executive},
		{"raised to $30,000", base + "classification:\n  revenue_threshold_usd: 30000\n", Technical},
		{"CSAT threshold raised", base + "classification:\n  revenue_threshold_usd: 30000\n  csat_below: 5\n", Executive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			yaml := strings.NewReplacer(`"ESC"`, strconv.Quote(filepath.Join(dir, "esc")), `"DATA"`, strconv.Quote(filepath.Join(dir, "data"))).Replace(tc.yaml)
			if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			st, err := OpenTestStore("")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			tmpl, _ := templates.Load("")
			c := &clock{t: t0}
			e, err := New(st, OptionsFrom(cfg).With(tmpl, c.now, nil))
			if err != nil {
				t.Fatal(err)
			}
			ingest(t, e, msg("cfo@initech.test", "Checkout down", "y1@initech.test", func(in *Inbound) {
				in.Text = "We are losing $25,000 per hour. CSAT 4/5 this month."
			}))
			v, err := e.View(context.Background(), 1)
			if err != nil {
				t.Fatal(err)
			}
			if v.Type != tc.want {
				t.Errorf("type %s, want %s (reasons %q)", v.Type, tc.want, v.Reasons)
			}
		})
	}
}
