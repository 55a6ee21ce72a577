package store

import (
	"regexp"
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
	f.Add(`VALUES (?1, ?2, ?1)`)
	f.Add("?\"$1") // a $1 inside an unterminated quoted name
	f.Fuzz(func(t *testing.T, q string) {
		out := rebind(q)
		if ownNumbers.MatchString(q) {
			if out != q {
				t.Fatalf("rebind(%q) changed a statement that numbers its own parameters", q)
			}
			return
		}
		// Only placeholders change: walk both, a ?[N] in q against a $M in out.
		digits := func(s string, i int) int {
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			return i
		}
		i, j := 0, 0
		for i < len(q) && j < len(out) {
			switch {
			case q[i] == '?' && out[j] == '$':
				ie, je := digits(q, i+1), digits(out, j+1)
				if je == j+1 || (ie > i+1 && q[i+1:ie] != out[j+1:je]) {
					t.Fatalf("rebind(%q) = %q: %s for %s", q, out, out[j:je], q[i:ie])
				}
				i, j = ie, je
			case q[i] == out[j]:
				i, j = i+1, j+1
			default:
				t.Fatalf("rebind(%q) = %q: differs at %d", q, out, i)
			}
		}
		if i != len(q) || j != len(out) {
			t.Fatalf("rebind(%q) = %q: lengths", q, out)
		}
	})
}

var ownNumbers = regexp.MustCompile(`\$[1-9]`)
