package segments

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/store/storetest"
)

var now = time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)

func daysAgo(n int) int64 { return now.AddDate(0, 0, -n).Unix() }

type person struct {
	email, name, locale, status, attrs string
	created                            int64
	orders                             int
	total                              float64
	lastOrder                          any // nil or Unix seconds
	lists                              map[string]string
	suppressed                         bool
}

// people is the fixture every compiler test runs against; tests name people by
// the local part of their address.
var people = []person{
	{email: "ana@example.com", name: "Ana Müller", locale: "de", status: "active",
		attrs:   `{"city":"Berlin","age":34,"vip":true,"birthday":"1990-05-01","tags":["a"],"code":"42","seen":"2025-06-10T08:00:00+02:00"}`,
		created: daysAgo(400), orders: 3, total: 120.5, lastOrder: daysAgo(10),
		lists: map[string]string{"newsletter": "active", "vip": "active"}},
	{email: "Bob@Example.org", name: "Bob 100%_x", locale: "en", status: "active",
		attrs:   `{"city":"Hamburg","age":51,"vip":false,"score":4.5,"a.b":"dotted"}`,
		created: daysAgo(5), orders: 0, total: 0, lastOrder: nil,
		lists: map[string]string{"newsletter": "active"}},
	{email: "cara@example.com", name: "Cara", locale: "de", status: "pending",
		attrs:   `{"city":"Berlin","age":"34","birthday":"1985-12-24"}`,
		created: daysAgo(40), orders: 1, total: 20, lastOrder: daysAgo(40),
		lists: map[string]string{"newsletter": "active"}},
	{email: "dan@shop.example", name: "Dan", locale: "en", status: "unsubscribed",
		attrs:   `{}`,
		created: daysAgo(1000), orders: 10, total: 999, lastOrder: daysAgo(1),
		lists: map[string]string{"newsletter": "unsubscribed", "vip": "active"}},
	{email: "eve@example.com", name: "Eve", locale: "en", status: "active",
		attrs:   `{"city":"berlin","nick":null,"code":42}`,
		created: daysAgo(2), orders: 2, total: 50, lastOrder: daysAgo(3),
		lists: map[string]string{"newsletter": "active"}, suppressed: true},
}

func seed(tb testing.TB, db *store.DB) {
	tb.Helper()
	ctx := context.Background()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lists (slug, name, created_at) VALUES ('vip', 'VIP', 0)`); err != nil {
			return err
		}
		for _, p := range people {
			key := strings.ToLower(p.email)
			res, err := tx.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, name, locale, attributes, status,
				created_at, updated_at, order_count, order_total, last_order_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				p.email, key, p.name, p.locale, p.attrs, p.status, p.created, p.created, p.orders, p.total, p.lastOrder)
			if err != nil {
				return err
			}
			id, _ := res.LastInsertId()
			for slug, status := range p.lists {
				if _, err := tx.ExecContext(ctx, `INSERT INTO subscriptions (subscriber_id, list_id, status, created_at, updated_at)
					SELECT ?, id, ?, 0, 0 FROM lists WHERE slug = ?`, id, status, slug); err != nil {
					return err
				}
			}
			if p.suppressed {
				sum := sha256.Sum256([]byte(key))
				if _, err := tx.ExecContext(ctx, `INSERT INTO suppressions (email_hash, reason, created_at) VALUES (?, 'bounce', 0)`,
					hex.EncodeToString(sum[:])); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func seeded(tb testing.TB) *store.DB {
	db := storetest.Open(tb)
	seed(tb, db)
	return db
}

// matching runs the rule's SQL alone (no audience) and names who matches.
func matching(t *testing.T, db *store.DB, rule string) []string {
	t.Helper()
	r, err := Parse([]byte(rule))
	if err != nil {
		t.Fatalf("Parse(%s): %v", rule, err)
	}
	where, args, err := r.SQL(now)
	if err != nil {
		t.Fatalf("SQL(%s): %v", rule, err)
	}
	rows, err := db.QueryContext(context.Background(), `SELECT email_key FROM subscribers AS s WHERE `+where+` ORDER BY s.id`, args...)
	if err != nil {
		t.Fatalf("query %s %v: %v", where, args, err)
	}
	defer rows.Close()
	got := []string{}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		got = append(got, e[:strings.IndexByte(e, '@')])
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func cond(field, op, value string) string {
	return fmt.Sprintf(`{"field":%q,"op":%q,"value":%s}`, field, op, value)
}

func TestCompileMatches(t *testing.T) {
	db := seeded(t)
	for _, tc := range []struct {
		name, rule string
		want       []string
	}{
		// email: case-insensitive through email_key
		{"email eq", cond("email", "eq", `"BOB@example.ORG"`), []string{"bob"}},
		{"email ne", cond("email", "ne", `"bob@example.org"`), []string{"ana", "cara", "dan", "eve"}},
		{"email in", cond("email", "in", `["ANA@example.com","nobody@x.y"]`), []string{"ana"}},
		{"email contains", cond("email", "contains", `"EXAMPLE.COM"`), []string{"ana", "cara", "eve"}},
		{"email starts_with", cond("email", "starts_with", `"Da"`), []string{"dan"}},
		// name: LIKE wildcards in the value are literal
		{"name contains literal %_", cond("name", "contains", `"0%_"`), []string{"bob"}},
		{"name contains % only", cond("name", "contains", `"%"`), []string{"bob"}},
		{"name contains _ only", cond("name", "contains", `"_"`), []string{"bob"}},
		{"name contains non-ascii", cond("name", "contains", `"müll"`), []string{"ana"}},
		{"name eq exact", cond("name", "eq", `"cara"`), []string{}},
		{"name starts_with ascii fold", cond("name", "starts_with", `"cA"`), []string{"cara"}},
		// enums
		{"locale eq", cond("locale", "eq", `"de"`), []string{"ana", "cara"}},
		{"locale in", cond("locale", "in", `["de","en"]`), []string{"ana", "bob", "cara", "dan", "eve"}},
		{"status ne", cond("status", "ne", `"active"`), []string{"cara", "dan"}},
		// dates
		{"created within_days", cond("created_at", "within_days", `7`), []string{"bob", "eve"}},
		{"created before day", cond("created_at", "before", `"`+now.AddDate(0, 0, -40).Format(time.DateOnly)+`"`), []string{"ana", "dan"}},
		{"created after day excludes that day", cond("created_at", "after", `"`+now.AddDate(0, 0, -5).Format(time.DateOnly)+`"`), []string{"eve"}},
		{"created after instant", cond("created_at", "after", `"`+now.AddDate(0, 0, -6).Format(time.RFC3339)+`"`), []string{"bob", "eve"}},
		{"created before instant w/ fraction", cond("created_at", "before", `"`+time.Unix(daysAgo(5), 500).UTC().Format(time.RFC3339Nano)+`"`), []string{"ana", "bob", "cara", "dan"}},
		{"last order within_days", cond("orders.last_at", "within_days", `30`), []string{"ana", "dan", "eve"}},
		{"last order exists", cond("orders.last_at", "exists", `true`), []string{"ana", "cara", "dan", "eve"}},
		{"last order not exists", cond("orders.last_at", "exists", `false`), []string{"bob"}},
		{"last order before", cond("orders.last_at", "before", `"`+now.AddDate(0, 0, -20).Format(time.RFC3339)+`"`), []string{"cara"}},
		{"not last order before (NULL counts)", `{"not":` + cond("orders.last_at", "before", `"`+now.AddDate(0, 0, -20).Format(time.RFC3339)+`"`) + `}`, []string{"ana", "bob", "dan", "eve"}},
		// numbers
		{"orders.count gte", cond("orders.count", "gte", `3`), []string{"ana", "dan"}},
		{"orders.count eq", cond("orders.count", "eq", `0`), []string{"bob"}},
		{"orders.count in", cond("orders.count", "in", `[1,2]`), []string{"cara", "eve"}},
		{"orders.total gt float", cond("orders.total", "gt", `50.0`), []string{"ana", "dan"}},
		{"orders.total lt", cond("orders.total", "lt", `20.5`), []string{"bob", "cara"}},
		{"orders.total lte", cond("orders.total", "lte", `20`), []string{"bob", "cara"}},
		{"orders.total ne", cond("orders.total", "ne", `0`), []string{"ana", "cara", "dan", "eve"}},
		// lists: active subscription only
		{"list eq", cond("list", "eq", `"vip"`), []string{"ana", "dan"}},
		{"list eq newsletter", cond("list", "eq", `"newsletter"`), []string{"ana", "bob", "cara", "eve"}},
		{"list ne", cond("list", "ne", `"newsletter"`), []string{"dan"}},
		{"list in", cond("list", "in", `["vip","nope"]`), []string{"ana", "dan"}},
		{"list unknown", cond("list", "eq", `"nope"`), []string{}},
		// attributes: strings
		{"attr eq string", cond("attributes.city", "eq", `"Berlin"`), []string{"ana", "cara"}},
		{"attr ne string", cond("attributes.city", "ne", `"Berlin"`), []string{"bob", "dan", "eve"}},
		{"attr in strings", cond("attributes.city", "in", `["Hamburg","berlin"]`), []string{"bob", "eve"}},
		{"attr contains", cond("attributes.city", "contains", `"ERL"`), []string{"ana", "cara", "eve"}},
		{"attr starts_with", cond("attributes.city", "starts_with", `"Ham"`), []string{"bob"}},
		{"attr string lt", cond("attributes.city", "lt", `"C"`), []string{"ana", "cara"}},
		{"dotted key", cond("attributes.a.b", "eq", `"dotted"`), []string{"bob"}},
		// attributes: numbers are strict about type ("34" is not 34)
		{"attr eq number", cond("attributes.age", "eq", `34`), []string{"ana"}},
		{"attr eq numeric string", cond("attributes.age", "eq", `"34"`), []string{"cara"}},
		{"attr eq int vs real", cond("attributes.age", "eq", `34.0`), []string{"ana"}},
		{"attr gt number", cond("attributes.age", "gt", `40`), []string{"bob"}},
		{"attr lte number", cond("attributes.age", "lte", `51`), []string{"ana", "bob"}},
		{"attr gte real", cond("attributes.score", "gte", `4.5`), []string{"bob"}},
		{"attr in numbers", cond("attributes.age", "in", `[51, 99]`), []string{"bob"}},
		{"attr code 42 number", cond("attributes.code", "eq", `42`), []string{"eve"}},
		{"attr code 42 string", cond("attributes.code", "eq", `"42"`), []string{"ana"}},
		// attributes: booleans
		{"attr eq true", cond("attributes.vip", "eq", `true`), []string{"ana"}},
		{"attr eq false", cond("attributes.vip", "eq", `false`), []string{"bob"}},
		{"attr ne true", cond("attributes.vip", "ne", `true`), []string{"bob", "cara", "dan", "eve"}},
		// attributes: exists (null counts as absent; arrays exist)
		{"attr exists", cond("attributes.city", "exists", `true`), []string{"ana", "bob", "cara", "eve"}},
		{"attr not exists", cond("attributes.city", "exists", `false`), []string{"dan"}},
		{"attr null is absent", cond("attributes.nick", "exists", `true`), []string{}},
		{"attr array exists", cond("attributes.tags", "exists", `true`), []string{"ana"}},
		{"attr array never equals", cond("attributes.tags", "eq", `"a"`), []string{}},
		// attributes: dates in strings
		{"attr before", cond("attributes.birthday", "before", `"1989-01-01"`), []string{"cara"}},
		{"attr after", cond("attributes.birthday", "after", `"1990-04-30"`), []string{"ana"}},
		{"attr after same day", cond("attributes.birthday", "after", `"1990-05-01"`), []string{}},
		{"attr within_days with offset", cond("attributes.seen", "within_days", `6`), []string{"ana"}},
		{"attr within_days too short", cond("attributes.seen", "within_days", `5`), []string{}},
		// trees
		{"all", `{"all":[` + cond("attributes.city", "eq", `"Berlin"`) + `,` + cond("status", "eq", `"active"`) + `]}`, []string{"ana"}},
		{"any", `{"any":[` + cond("list", "eq", `"vip"`) + `,` + cond("attributes.age", "gt", `50`) + `]}`, []string{"ana", "bob", "dan"}},
		{"not", `{"not":` + cond("attributes.city", "eq", `"Berlin"`) + `}`, []string{"bob", "dan", "eve"}},
		{"empty all matches all", `{"all":[]}`, []string{"ana", "bob", "cara", "dan", "eve"}},
		{"nested", `{"all":[{"any":[` + cond("locale", "eq", `"de"`) + `,` + cond("orders.count", "gte", `10`) + `]},{"not":{"all":[` +
			cond("status", "eq", `"pending"`) + `]}}]}`, []string{"ana", "dan"}},
		{"not not", `{"not":{"not":` + cond("attributes.vip", "exists", `true`) + `}}`, []string{"ana", "bob"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := matching(t, db, tc.rule)
			if !slices.Equal(got, tc.want) {
				t.Errorf("rule %s\n got %v\nwant %v", tc.rule, got, tc.want)
			}
		})
	}
}

func TestCompileSQLShape(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{cond("orders.count", "gte", `2`), `(s.order_count >= ?)`},
		{cond("email", "eq", `"A@B.C"`), `(s.email_key = ?)`},
		{cond("list", "eq", `"vip"`), `(s.id IN (SELECT seg_sub.subscriber_id FROM subscriptions AS seg_sub WHERE seg_sub.status = 'active' AND seg_sub.list_id IN (SELECT seg_l.id FROM lists AS seg_l WHERE seg_l.slug = ?)))`},
		{cond("attributes.city", "eq", `"x"`), `(s.id IN (SELECT seg_a.subscriber_id FROM segment_attrs AS seg_a WHERE seg_a.key = ? AND seg_a.kind = 'text' AND seg_a.value = ?))`},
		{`{"not":{"any":[` + cond("locale", "eq", `"de"`) + `,` + cond("orders.total", "lt", `1`) + `]}}`, `NOT (((s.locale = ?) OR (s.order_total < ?)))`},
	} {
		r, err := Parse([]byte(tc.rule))
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := r.SQL(now)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.rule, got, tc.want)
		}
	}
}

func TestParseErrorsNameTheFault(t *testing.T) {
	deep := cond("locale", "eq", `"de"`)
	for range MaxDepth {
		deep = `{"not":` + deep + `}`
	}
	many := make([]string, MaxConditions+1)
	for i := range many {
		many[i] = cond("locale", "eq", `"de"`)
	}
	bigIn := make([]string, MaxValues+1)
	for i := range bigIn {
		bigIn[i] = fmt.Sprint(i)
	}
	for _, tc := range []struct {
		name, rule string
		kind       errs.Kind
		field, msg string
	}{
		{"bad json", `{"field":`, errs.Malformed, "rule", "not valid JSON"},
		{"not object", `[1]`, errs.Invalid, "rule", "JSON object"},
		{"null", `null`, errs.Invalid, "rule", "JSON object"},
		{"empty object", `{}`, errs.Invalid, "rule", "exactly one"},
		{"unknown key", `{"feld":"email"}`, errs.Invalid, "rule.feld", `unknown key "feld"`},
		{"mixed", `{"all":[],"field":"email","op":"eq","value":"x"}`, errs.Invalid, "rule", "exactly one"},
		{"unknown field", `{"all":[` + cond("email", "eq", `"a"`) + `,` + cond("locale", "eq", `"de"`) + `,` + cond("foo", "eq", `1`) + `]}`, errs.Invalid, "rule.all[2].field", `unknown field "foo"`},
		{"unknown op", `{"any":[` + cond("email", "xx", `"a"`) + `]}`, errs.Invalid, "rule.any[0].op", `unknown op "xx" for field "email"`},
		{"op not for field", cond("orders.count", "contains", `"1"`), errs.Invalid, "rule.op", `op "contains" does not apply to field "orders.count"`},
		{"exists on created_at", cond("created_at", "exists", `true`), errs.Invalid, "rule.op", `does not apply`},
		{"missing op", `{"field":"email","value":"a"}`, errs.Invalid, "rule.op", "op is missing"},
		{"missing field", `{"op":"eq","value":"a"}`, errs.Invalid, "rule.field", "field is missing"},
		{"missing value", `{"field":"email","op":"eq"}`, errs.Invalid, "rule.value", "value is missing"},
		{"field not string", `{"field":1,"op":"eq","value":"a"}`, errs.Invalid, "rule.field", "must be a string"},
		{"bad attr key", cond(`attributes.a"b`, "eq", `1`), errs.Invalid, "rule.field", "bad attribute key"},
		{"empty attr key", cond(`attributes.`, "eq", `1`), errs.Invalid, "rule.field", "bad attribute key"},
		{"bad locale", cond("locale", "eq", `"fr"`), errs.Invalid, "rule.value", "locale must be one of de, en"},
		{"bad status in", cond("status", "in", `["active","gone"]`), errs.Invalid, "rule.value", "status must be one of"},
		{"number for text", cond("name", "eq", `1`), errs.Invalid, "rule.value", "wants a string"},
		{"string for number", cond("orders.count", "gt", `"1"`), errs.Invalid, "rule.value", "wants a number"},
		{"huge number", cond("orders.total", "gt", `1e999`), errs.Invalid, "rule.value", "out of range"},
		{"bad date", cond("created_at", "before", `"yesterday"`), errs.Invalid, "rule.value", "wants a date"},
		{"within_days zero", cond("created_at", "within_days", `0`), errs.Invalid, "rule.value", "whole number"},
		{"within_days fraction", cond("created_at", "within_days", `1.5`), errs.Invalid, "rule.value", "whole number"},
		{"exists not bool", cond("attributes.x", "exists", `"yes"`), errs.Invalid, "rule.value", "true or false"},
		{"in not array", cond("email", "in", `"a"`), errs.Invalid, "rule.value", "non-empty array"},
		{"in empty", cond("attributes.x", "in", `[]`), errs.Invalid, "rule.value", "non-empty array"},
		{"in mixed", cond("attributes.x", "in", `[1,"a"]`), errs.Invalid, "rule.value[1]", "array of numbers"},
		{"in element", cond("orders.count", "in", `[1,"a"]`), errs.Invalid, "rule.value[1]", "array of numbers"},
		{"bool lt", cond("attributes.vip", "lt", `true`), errs.Invalid, "rule.value", "number or a string"},
		{"empty contains", cond("name", "contains", `""`), errs.Invalid, "rule.value", "non-empty string"},
		{"empty any", `{"any":[]}`, errs.Invalid, "rule.any", "at least one"},
		{"all not array", `{"all":{}}`, errs.Invalid, "rule.all", "array of rules"},
		{"too deep", deep, errs.Invalid, "rule" + strings.Repeat(".not", MaxDepth), "deeper than"},
		{"too many", `{"all":[` + strings.Join(many, ",") + `]}`, errs.Invalid, fmt.Sprintf("rule.all[%d]", MaxConditions), "more than"},
		{"too many values", cond("orders.count", "in", `[`+strings.Join(bigIn, ",")+`]`), errs.Invalid, "rule.value", "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.rule))
			e, ok := errs.As(err)
			if !ok {
				t.Fatalf("Parse(%s) = %v, want an *errs.Error", tc.rule, err)
			}
			if e.Kind != tc.kind || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("Parse(%s):\n got kind %v field %q msg %q\nwant kind %v field %q msg containing %q", tc.rule, e.Kind, e.Field, e.Msg, tc.kind, tc.field, tc.msg)
			}
		})
	}
}

// Values and keys only ever travel as bound arguments: hostile text matches
// literally (usually nothing) and the database is untouched.
func TestInjectionIsHarmless(t *testing.T) {
	db := seeded(t)
	hostile := []string{
		`x' OR '1'='1`, `x"); DROP TABLE subscribers; --`, `%' OR 1=1 --`, `\' OR 1 --`,
		"Berlin'\x00", `$."city"`, `') OR 1=1 OR ('`,
	}
	for _, h := range hostile {
		v, _ := json.Marshal(h)
		for _, rule := range []string{
			cond("email", "eq", string(v)), cond("name", "contains", string(v)), cond("list", "eq", string(v)),
			cond("attributes.city", "eq", string(v)), cond("attributes.city", "starts_with", string(v)),
			cond("email", "in", "["+string(v)+"]"),
		} {
			if got := matching(t, db, rule); len(got) != 0 {
				t.Errorf("%s matched %v", rule, got)
			}
		}
		// Keys outside the safe alphabet are refused before any SQL exists.
		if _, err := Parse([]byte(`{"field":` + string(mustJSON("attributes."+h)) + `,"op":"eq","value":1}`)); !errs.Is(err, errs.Invalid) {
			t.Errorf("attribute key %q: err = %v, want Invalid", h, err)
		}
	}
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM subscribers`).Scan(&n); err != nil || n != len(people) {
		t.Fatalf("subscribers = %d, %v", n, err)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestAudience(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	parse := func(s string) *Rule {
		r, err := Parse([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return &r
	}
	for _, tc := range []struct {
		name  string
		rule  *Rule
		lists []string
		want  int
	}{
		// ana, bob: active + active newsletter; cara pending, dan unsubscribed from
		// newsletter and inactive, eve suppressed.
		{"newsletter, no rule", nil, []string{"newsletter"}, 2},
		{"vip: dan is not active", nil, []string{"vip"}, 1},
		{"any list", nil, nil, 2},
		{"two lists", nil, []string{"vip", "newsletter"}, 2},
		{"rule", parse(cond("attributes.city", "eq", `"Hamburg"`)), []string{"newsletter"}, 1},
		{"rule excludes", parse(cond("attributes.city", "eq", `"Berlin"`)), []string{"vip"}, 1},
		{"suppressed eve", parse(cond("attributes.city", "eq", `"berlin"`)), nil, 0},
		{"unknown list", nil, []string{"nope"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Count(ctx, db, tc.rule, tc.lists, now)
			if err != nil {
				t.Fatal(err)
			}
			if n != tc.want {
				t.Errorf("Count = %d, want %d", n, tc.want)
			}
		})
	}
	if _, _, err := AudienceWhere(nil, nil, now); !errs.Is(err, errs.Invalid) {
		t.Errorf("AudienceWhere without lists: err = %v, want Invalid", err)
	}
	// The fragment composes into the snapshot query campaigns will run.
	where, args, err := AudienceWhere(parse(cond("orders.count", "gte", `1`)), []string{"newsletter", "vip"}, now)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	rows, err := db.QueryContext(ctx, `SELECT s.id FROM subscribers AS s WHERE `+where+` ORDER BY s.id`, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		ids = append(ids, id)
	}
	if !slices.Equal(ids, []int64{1}) {
		t.Errorf("audience ids = %v, want [1] (ana)", ids)
	}
}

func TestAttributeIndexFollowsWrites(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	exec := func(q string, args ...any) {
		t.Helper()
		if err := db.Tx(ctx, func(tx *store.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	berlin := cond("attributes.city", "eq", `"Berlin"`)
	exec(`UPDATE subscribers SET attributes = '{"city":"Hamburg"}' WHERE email_key = 'ana@example.com'`)
	if got := matching(t, db, berlin); !slices.Equal(got, []string{"cara"}) {
		t.Errorf("after update: %v", got)
	}
	exec(`DELETE FROM subscribers WHERE email_key = 'cara@example.com'`)
	if got := matching(t, db, berlin); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	// A repeated key must not make the subscriber's write fail.
	exec(`INSERT INTO subscribers (email, email_key, status, attributes, created_at, updated_at)
		VALUES ('f@x.y', 'f@x.y', 'active', '{"city":"Berlin","city":"Berlin"}', 0, 0)`)
	if got := matching(t, db, berlin); !slices.Equal(got, []string{"f"}) {
		t.Errorf("after insert with repeated key: %v", got)
	}
	var orphans int
	db.QueryRowContext(ctx, `SELECT count(*) FROM segment_attrs WHERE subscriber_id NOT IN (SELECT id FROM subscribers)`).Scan(&orphans)
	if orphans != 0 {
		t.Errorf("%d orphaned segment_attrs rows", orphans)
	}
}

func TestRuleJSONRoundTrip(t *testing.T) {
	in := `{"all":[{"any":[{"field":"locale","op":"eq","value":"de"}]},{"not":{"field":"attributes.vip","op":"exists","value":true}},{"all":[]}]}`
	r, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != in {
		t.Errorf("round trip\n got %s\nwant %s", out, in)
	}
	var wrapped struct{ Rule Rule }
	if err := json.Unmarshal([]byte(`{"Rule":{"field":"nope","op":"eq","value":1}}`), &wrapped); !errs.Is(err, errs.Invalid) {
		t.Errorf("UnmarshalJSON of a bad rule: err = %v, want Invalid", err)
	}
	if _, _, err := (Rule{}).SQL(now); !errs.Is(err, errs.Invalid) {
		t.Errorf("zero Rule: err = %v, want Invalid", err)
	}
}
