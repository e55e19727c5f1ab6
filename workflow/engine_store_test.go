package workflow_test

import (
	"github.com/escalationd/escalationd/internal/store/sqlite"
	"github.com/escalationd/escalationd/workflow"
)

func init() {
	workflow.OpenTestStore = func(dir string) (workflow.Store, error) {
		open := func() (*sqlite.Store, error) { return sqlite.Open(dir) }
		if dir == "" {
			open = sqlite.OpenMemory
		}
		st, err := open()
		if err != nil {
			return nil, err
		}
		return st, nil
	}
}
