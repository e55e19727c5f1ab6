package sqlite_test

import (
	"testing"

	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/internal/store/storetest"
	"github.com/escalationd/escalationd/workflow"
)

// TestConformance runs the store port's contract against SQLite, both in
// memory and in a file.
func TestConformance(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) workflow.Store {
			st, err := sqlite.OpenMemory()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
	t.Run("file", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) workflow.Store {
			st, err := sqlite.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		})
	})
}
