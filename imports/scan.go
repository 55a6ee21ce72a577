package imports

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// Report is what a dry run found.
type Report struct {
	Rows       int `json:"rows"` // data rows (without the header)
	Valid      int `json:"valid"`
	Bad        int `json:"bad"`
	Duplicates int `json:"duplicates"`
	// Issues are the first MaxIssues problems, row by row.
	Issues []Issue `json:"issues,omitempty"`
	// Columns names every column with a problem, with the rows at fault;
	// Column "" stands for rows whose shape is wrong.
	Columns []ColumnProblem `json:"columns,omitempty"`
	// The file cannot be read past this line (a broken quote).
	FatalLine   int    `json:"fatal_line,omitempty"`
	FatalDetail string `json:"fatal_detail,omitempty"`
}

// ColumnProblem is one column's problems in a file.
type ColumnProblem struct {
	Column   string   `json:"column"`
	Rows     int      `json:"rows"`
	Lines    []int    `json:"lines"`    // the first few
	Messages []string `json:"messages"` // distinct, the first few
}

func (r *Report) add(i Issue) {
	if len(r.Issues) < MaxIssues {
		r.Issues = append(r.Issues, i)
	}
	k := slices.IndexFunc(r.Columns, func(c ColumnProblem) bool { return c.Column == i.Column })
	if k < 0 {
		r.Columns = append(r.Columns, ColumnProblem{Column: i.Column})
		k = len(r.Columns) - 1
	}
	c := &r.Columns[k]
	c.Rows++
	if len(c.Lines) < maxColumnLines {
		c.Lines = append(c.Lines, i.Line)
	}
	if len(c.Messages) < 3 && !slices.Contains(c.Messages, i.Message) {
		c.Messages = append(c.Messages, i.Message)
	}
}

// record is one data row of a file as the scan judged it.
type record struct {
	n     int // 0-based data row
	line  int // where it starts in the file
	row   *subscribers.PreparedRow
	issue *Issue // bad or repeated: left out
	dup   bool
}

// scan reads the job's file with its settings and judges each row as the
// import will write it: shape, then subscribers' own checks, then repeats
// of an earlier row's address. It calls fn for every row in order and
// returns the fatal problem that stops reading, if any.
//
// Repeats are found by a 64-bit hash of the address, so a million rows cost
// about 30 MB instead of the addresses themselves; two addresses share a
// hash with odds of about 1 in 10^7 per million-row file, and then the
// second is reported as a repeat.
func scan(ctx context.Context, j *Job, im *subscribers.Importer, fn func(record) error) (*Issue, error) {
	r, closer, err := j.Format.Open(j.path)
	if err != nil {
		return nil, err
	}
	defer closer()
	cr := newReader(r, j.Format.Comma)
	if _, err := cr.Read(); err != nil { // the header
		if errors.Is(err, io.EOF) {
			return &Issue{Line: 1, Message: "The file is empty."}, nil
		}
		return parseIssue(err)
	}
	s := &j.Settings
	seed := maphash.MakeSeed()
	seen := map[uint64]uint32{} // address hash -> line
	emailCol := s.emailHeader()
	for n := 0; ; n++ {
		if n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		if err != nil {
			return parseIssue(err)
		}
		line, _ := cr.FieldPos(0) // where the record starts; a quoted cell may span lines
		out := record{n: n, line: line}
		in, issue := s.row(rec)
		if issue == nil {
			var perr error
			if out.row, perr = im.Prepare(in); perr != nil {
				issue = &Issue{Message: perr.Error()}
				if e, ok := errs.As(perr); ok {
					issue.Message, issue.Column = e.Msg, s.columnOf(e.Field)
					if e.Field == "attributes" {
						issue.Column = ""
					}
				}
			}
		}
		if issue == nil {
			h := maphash.String(seed, out.row.Key())
			if first, ok := seen[h]; ok {
				out.row, out.dup = nil, true
				issue = &Issue{Column: emailCol, Message: fmt.Sprintf("the same address as line %d; only the first is imported", first)}
			} else {
				seen[h] = uint32(line)
			}
		}
		if issue != nil {
			issue.Line = line
			out.issue = issue
		}
		if err := fn(out); err != nil {
			return nil, err
		}
	}
}

// parseIssue turns a CSV syntax error into the fatal problem at its line.
func parseIssue(err error) (*Issue, error) {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return &Issue{Line: pe.StartLine, Message: pe.Err.Error()}, nil
	}
	if e, ok := errs.As(err); ok {
		return &Issue{Line: -1, Message: e.Error()}, nil
	}
	// Not a syntax error: a damaged compressed file, or a read error.
	if rerr := readError(err); errs.KindOf(rerr) == errs.Invalid {
		return &Issue{Line: -1, Message: rerr.Error()}, nil
	}
	return nil, fmt.Errorf("imports: read: %w", err)
}

// dryRun is scan with a report.
func (sv *Service) dryRun(ctx context.Context, j *Job, im *subscribers.Importer) (Report, error) {
	var rep Report
	fatal, err := scan(ctx, j, im, func(r record) error {
		rep.Rows++
		switch {
		case r.dup:
			rep.Duplicates++
			rep.add(*r.issue)
		case r.issue != nil:
			rep.Bad++
			rep.add(*r.issue)
		default:
			rep.Valid++
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	if fatal != nil {
		rep.FatalLine, rep.FatalDetail = fatal.Line, fatal.Message
	}
	return rep, nil
}
