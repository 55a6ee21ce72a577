package segments

import (
	"context"
	"slices"
	"testing"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
)

// The segment field stage reads the ladder that package retention keeps; a
// subscriber without a stage row is a prospect.
func TestStageField(t *testing.T) {
	db := seeded(t)
	ctx := context.Background()
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for email, stage := range map[string]string{"ana@example.com": "regular", "cara@example.com": "first_time_buyer",
			"dan@shop.example": "lost", "eve@example.com": "repeat_buyer"} {
			if _, err := tx.ExecContext(ctx, `INSERT INTO subscriber_stages (subscriber_id, stage, since, updated_at)
				SELECT id, ?, 0, 0 FROM subscribers WHERE email_key = ?`, stage, email); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rule string
		want       []string
	}{
		{"eq", cond("stage", "eq", `"regular"`), []string{"ana"}},
		{"eq prospect", cond("stage", "eq", `"prospect"`), []string{"bob"}},
		{"ne prospect", cond("stage", "ne", `"prospect"`), []string{"ana", "cara", "dan", "eve"}},
		{"ne", cond("stage", "ne", `"lost"`), []string{"ana", "bob", "cara", "eve"}},
		{"in", cond("stage", "in", `["repeat_buyer","lost"]`), []string{"dan", "eve"}},
		{"in with prospect", cond("stage", "in", `["prospect","first_time_buyer"]`), []string{"bob", "cara"}},
		{"in every stage", cond("stage", "in", `["prospect","first_time_buyer","repeat_buyer","regular","promoter","lapsing","lost"]`),
			[]string{"ana", "bob", "cara", "dan", "eve"}},
		{"not in", `{"not":` + cond("stage", "in", `["prospect","regular"]`) + `}`, []string{"cara", "dan", "eve"}},
		{"nobody", cond("stage", "eq", `"promoter"`), []string{}},
		{"with another field", `{"all":[` + cond("stage", "ne", `"lost"`) + `,` + cond("locale", "eq", `"de"`) + `]}`, []string{"ana", "cara"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := matching(t, db, tc.rule); !slices.Equal(got, tc.want) {
				t.Errorf("rule %s\n got %v\nwant %v", tc.rule, got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ rule, field string }{
		{cond("stage", "eq", `"vip"`), "rule.value"},
		{cond("stage", "in", `["lost", 3]`), "rule.value[1]"},
		{cond("stage", "eq", `4`), "rule.value"},
		{cond("stage", "contains", `"lo"`), "rule.op"},
		{cond("stage", "in", `[]`), "rule.value"},
	} {
		_, err := Parse([]byte(tc.rule))
		if e, ok := errs.As(err); !ok || e.Kind != errs.Invalid || e.Field != tc.field {
			t.Errorf("Parse(%s) = %v, want Invalid naming %s", tc.rule, err, tc.field)
		}
	}
}
