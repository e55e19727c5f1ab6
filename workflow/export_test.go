package workflow

// OpenTestStore opens the store the tests of this package run on: an empty
// one in memory when dir is "", else the one in dir. The store engines
// import this package, so the tests cannot name one here: a test file of
// package workflow_test (engine_store_test.go) sets it.
var OpenTestStore func(dir string) (Store, error)
