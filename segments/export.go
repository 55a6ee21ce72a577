package segments

import (
	"context"

	"github.com/treu-mail/treu/subscribers"
)

// MembersWhere is the SQL expression over `subscribers AS s` that selects a
// segment's members as its count shows them now (active on any list, not
// suppressed, matching the rule), with its arguments: for an export by
// package subscribers.
func (st *Store) MembersWhere(ctx context.Context, id int64) (string, []any, error) {
	seg, err := st.Get(ctx, id)
	if err != nil {
		return "", nil, err
	}
	return audienceWhere(&seg.Rule, subscribers.Mailing{}, st.db.Now())
}
