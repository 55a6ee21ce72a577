//go:build race

package campaigns

// raceEnabled: the race detector slows the engine ~10x; big tests shrink.
const raceEnabled = true
