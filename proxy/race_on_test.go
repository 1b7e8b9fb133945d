//go:build race

package proxy

// raceEnabled: under the race detector, tests that only measure volume
// run smaller (the plain run keeps their full size).
const raceEnabled = true
