package mailin

import (
	"log/slog"
	"testing"
	"time"

	"github.com/escalationd/escalationd/internal/config"
	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/templates"
	"github.com/escalationd/escalationd/workflow"
)

// childEngine is a test's engine (the poller tests, and the child
// processes of the crash and memory tests): the default config with its
// folders, and a store that t closes.
func childEngine(t *testing.T, escDir, dataDir string, log *slog.Logger) (config.Config, *workflow.Engine) {
	t.Helper()
	cfg := config.Default()
	cfg.Escalation.Dir, cfg.Escalation.DataDir = escDir, dataDir
	st, err := sqlite.Open(cfg.Escalation.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	eng, err := workflow.New(st, workflow.OptionsFrom(cfg).With(tmpl, time.Now, log))
	if err != nil {
		t.Fatal(err)
	}
	return cfg, eng
}
