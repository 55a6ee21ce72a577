//go:build !race

package campaigns

const raceEnabled = false
