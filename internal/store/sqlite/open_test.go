package sqlite

import "testing"

func TestStoreReopenKeepsIDs(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := st.SchemaVersion(); v != len(migrations) {
		t.Fatalf("schema version %d", v)
	}
	st.Close()
	st, err = Open(dir)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	st.Close()
}

// Two processes opening a fresh store at the same moment must not both
// migrate it.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	for range 10 {
		dir := t.TempDir()
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				st, err := Open(dir)
				if err == nil {
					st.Close()
				}
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}
