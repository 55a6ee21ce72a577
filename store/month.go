package store

import (
	"strconv"
	"strings"
	"time"
)

// LocalMonth is an SQL expression giving the calendar month ("2026-03") in
// loc of col, a column of Unix seconds, for times in [from, to). SQLite knows
// no time zones, so the zone's UTC offsets in the period are written into the
// expression: a CASE over its changes (two a year where there is summer
// time), cheaper per row than a join with a table of month starts. Times
// outside the period take the nearest period's offset. nil loc is UTC.
// The expression holds only integers, no parameters.
func LocalMonth(col string, loc *time.Location, from, to time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	type span struct{ end, offset int64 } // offset applies before end
	var spans []span
	t := from.In(loc)
	for {
		_, off := t.Zone()
		_, end := t.ZoneBounds()
		if end.IsZero() || !end.Before(to) {
			spans = append(spans, span{0, int64(off)})
			break
		}
		spans = append(spans, span{end.Unix(), int64(off)})
		t = end.In(loc)
	}
	var b strings.Builder
	b.WriteString("strftime('%Y-%m', " + col + " + ")
	if len(spans) == 1 {
		b.WriteString(strconv.FormatInt(spans[0].offset, 10))
	} else {
		b.WriteString("CASE")
		for _, s := range spans[:len(spans)-1] {
			b.WriteString(" WHEN " + col + " < " + strconv.FormatInt(s.end, 10) + " THEN " + strconv.FormatInt(s.offset, 10))
		}
		b.WriteString(" ELSE " + strconv.FormatInt(spans[len(spans)-1].offset, 10) + " END")
	}
	b.WriteString(", 'unixepoch')")
	return b.String()
}
