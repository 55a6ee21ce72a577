package store

import (
	"regexp"
	"strconv"
	"testing"
)

func TestRebind(t *testing.T) {
	for in, want := range map[string]string{
		`SELECT 1`: `SELECT 1`,
		`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`: `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`,
		`SELECT '?', "a?b", ? -- ?` + "\n" + `, ?`:    `SELECT '?', "a?b", $1 -- ?` + "\n" + `, $2`,
		`SELECT 'it''s ?', ? /* ? */ , ?`:             `SELECT 'it''s ?', $1 /* ? */ , $2`,
		`SELECT attrs ? 'k' FROM t WHERE id = $1`:     `SELECT attrs ? 'k' FROM t WHERE id = $1`,
		`SELECT x::jsonb FROM t WHERE a = ?`:          `SELECT x::jsonb FROM t WHERE a = $1`,
		`SELECT 'open`:                                `SELECT 'open`,
	} {
		if got := rebind(in); got != want {
			t.Errorf("rebind(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzRebind(f *testing.F) {
	f.Add(`SELECT ? FROM t WHERE a = '?' AND b = ?`)
	f.Add(`/* ? */ -- ?`)
	f.Fuzz(func(t *testing.T, q string) {
		if qDigit.MatchString(q) {
			return // "?1" is no SQL, and its $11 could not be read back
		}
		if dollarDigit.MatchString(q) {
			if rebind(q) != q {
				t.Fatalf("rebind(%q) changed a statement that numbers its own parameters", q)
			}
			return
		}
		// Only ? turn into $1, $2, ... in order; nothing else changes.
		out := rebind(q)
		n := 0
		back := dollarDigit.ReplaceAllStringFunc(out, func(m string) string {
			n++
			if m != "$"+strconv.Itoa(n) {
				t.Fatalf("rebind(%q) = %q: %s out of order", q, out, m)
			}
			return "?"
		})
		if back != q {
			t.Fatalf("rebind(%q) = %q", q, out)
		}
	})
}

var qDigit = regexp.MustCompile(`\?[0-9]`)

var dollarDigit = regexp.MustCompile(`\$[1-9][0-9]*`)
