//go:build race

package filter

// raceEnabled: the race detector makes sync.Pool drop items on purpose, so
// pooled scratch memory is reallocated and allocation counts mean nothing.
const raceEnabled = true
