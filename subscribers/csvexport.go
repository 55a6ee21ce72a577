package subscribers

import (
	"bufio"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVOptions shape an export.
type CSVOptions struct {
	// Where, if set, is a boolean SQL expression over `subscribers AS s` with
	// its Args (a segment's, from package segments); empty: everyone.
	Where string
	Args  []any
	// Excel writes what German Excel opens by double click: semicolons and a
	// UTF-8 byte order mark. Otherwise commas and no mark.
	Excel bool
}

// exportChunk rows are read per query: each query is a short read
// transaction, so a long export never pins the WAL, and memory stays flat.
const exportChunk = 5000

const exportColumns = `s.id, s.email, s.name, s.locale, s.status, s.created_at, s.confirmed_at,
	(SELECT group_concat(l.slug, ' ') FROM subscriptions AS su JOIN lists AS l ON l.id = su.list_id
		WHERE su.subscriber_id = s.id AND su.status = 'active'),
	s.attributes`

// ExportCSV writes every subscriber (or those opt.Where selects) as CSV to
// w, in id order, streamed in chunks; it returns how many it wrote. Columns:
// id, email, name, locale, status, created_at, confirmed_at (RFC 3339, UTC),
// lists (active ones, space-separated slugs), attributes (JSON). A cell that
// a spreadsheet would run as a formula (=, +, -, @ first) gets a leading '.
func (s *Service) ExportCSV(ctx context.Context, w io.Writer, opt CSVOptions) (int, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if opt.Excel {
		bw.WriteString("\ufeff")
	}
	cw := csv.NewWriter(bw)
	if opt.Excel {
		cw.Comma = ';'
	}
	if err := cw.Write([]string{"id", "email", "name", "locale", "status", "created_at", "confirmed_at", "lists", "attributes"}); err != nil {
		return 0, fmt.Errorf("subscribers: export: %w", err)
	}
	where := "s.id > ?"
	if opt.Where != "" {
		where += " AND (" + opt.Where + ")"
	}
	q := `SELECT ` + exportColumns + ` FROM subscribers AS s WHERE ` + where + ` ORDER BY s.id LIMIT ` + strconv.Itoa(exportChunk)
	var last int64
	n := 0
	rec := make([]string, 9)
	for {
		got, err := s.exportChunk(ctx, cw, q, append([]any{last}, opt.Args...), rec, &last, opt.Excel)
		n += got
		if err != nil {
			return n, err
		}
		if got < exportChunk {
			break
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return n, fmt.Errorf("subscribers: export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("subscribers: export: %w", err)
	}
	return n, nil
}

func (s *Service) exportChunk(ctx context.Context, cw *csv.Writer, q string, args []any, rec []string, last *int64, excel bool) (int, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("subscribers: export: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id, created      int64
			confirmed        *int64
			lists            *string
			email, name, loc string
			status, attrs    string
		)
		if err := rows.Scan(&id, &email, &name, &loc, &status, &created, &confirmed, &lists, &attrs); err != nil {
			return n, fmt.Errorf("subscribers: export: %w", err)
		}
		rec[0] = strconv.FormatInt(id, 10)
		rec[1] = email
		if excel {
			rec[1] = cellSafe(email) // an address may start with = or +
		}
		rec[2] = cellSafe(name)
		rec[3] = loc
		rec[4] = status
		rec[5] = unixTime(created).Format(time.RFC3339)
		rec[6] = ""
		if confirmed != nil {
			rec[6] = unixTime(*confirmed).Format(time.RFC3339)
		}
		rec[7] = ""
		if lists != nil {
			rec[7] = *lists
		}
		rec[8] = ""
		if attrs != "{}" {
			rec[8] = cellSafe(attrs)
		}
		if err := cw.Write(rec); err != nil {
			return n, fmt.Errorf("subscribers: export: %w", err)
		}
		*last = id
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("subscribers: export: %w", err)
	}
	return n, nil
}

// cellSafe keeps a spreadsheet from running a name such as =HYPERLINK(...)
// as a formula (OWASP "CSV injection").
func cellSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
