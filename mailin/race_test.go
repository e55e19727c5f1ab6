//go:build race

package mailin

const raceEnabled = true
