package segments

import (
	"context"
	"strings"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
)

var fuzzSeeds = []string{
	`{"all":[{"field":"email","op":"contains","value":"%_\\"},{"not":{"field":"list","op":"in","value":["vip"]}}]}`,
	`{"any":[{"field":"attributes.age","op":"gte","value":30},{"field":"attributes.vip","op":"eq","value":true}]}`,
	`{"field":"orders.last_at","op":"within_days","value":30}`,
	`{"field":"created_at","op":"before","value":"2024-01-02T03:04:05.5+02:00"}`,
	`{"field":"attributes.birthday","op":"after","value":"1990-01-01"}`,
	`{"field":"attributes.city","op":"in","value":["a","b"]}`,
	`{"field":"orders.total","op":"lt","value":1e308}`,
	`{"not":{"not":{"all":[]}}}`,
	`{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[{"all":[]}]}]}]}]}]}]}]}]}]}`,
	`{"any":[{"field":"stage","op":"in","value":["prospect","lost"]},{"field":"stage","op":"ne","value":"regular"}]}`,
	`{"field":"x"}`, `[]`, `null`, `{"all":{}}`, `"`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			if k := errs.KindOf(err); k != errs.Malformed && k != errs.Invalid {
				t.Fatalf("Parse error of kind %v: %v", k, err)
			}
			return
		}
		// What Parse accepts must compile.
		if _, _, err := r.SQL(now); err != nil {
			t.Fatalf("Parse accepted %s but SQL failed: %v", raw, err)
		}
	})
}

// FuzzCompile runs whatever compiles against a real database: the SQL must be
// accepted by SQLite, with or without the audience around it.
func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	db := seeded(f)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, raw []byte) {
		r, err := Parse(raw)
		if err != nil {
			return
		}
		where, args, err := r.SQL(now)
		if err != nil {
			t.Fatalf("SQL: %v", err)
		}
		if strings.Count(where, "?") != len(args) {
			t.Fatalf("%d placeholders, %d args in %s", strings.Count(where, "?"), len(args), where)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers AS s WHERE `+where, args...).Scan(&n); err != nil {
			t.Fatalf("SQLite refused %s %v: %v", where, args, err)
		}
		// NOT must be the exact complement: no NULLs leak out of a condition.
		var m int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM subscribers AS s WHERE NOT (`+where+`)`, args...).Scan(&m); err != nil {
			t.Fatal(err)
		}
		if n+m != len(people) {
			t.Fatalf("rule %s: %d match, %d do not, of %d", raw, n, m, len(people))
		}
		if _, err := Count(ctx, db, &r, []string{"newsletter"}, now); err != nil {
			t.Fatal(err)
		}
	})
}
