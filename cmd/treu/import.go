package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/treu-mail/treu/imports"
	"github.com/treu-mail/treu/internal/errs"
)

const importUsage = `usage: treu import FILE.csv[.gz|.zip] --consent-source S --consent-text T [--list SLUG]...
       [--locale de|en] [--separator ,|;|tab] [--column HEADER=email|name|locale|ignore|attribute[:KEY]]...
       [--dry-run] [--data DIR]
       treu import --resume ID`

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// importCmd imports subscribers with proven consent from a CSV file, with
// the same package (and rules) as the UI's import: the file is checked row
// by row first, then imported as a job that a second `treu import --resume`
// or a running server finishes if this one is stopped.
func importCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var cfg config
	fs := newFlagSet("import", &cfg)
	fs.SetOutput(stderr)
	var lists, columns listFlag
	fs.Var(&lists, "list", "a list to subscribe to (repeat for several; default newsletter)")
	fs.Var(&columns, "column", "what a column holds, by its header: HEADER=email|name|locale|ignore|attribute[:KEY] (repeatable)")
	source := fs.String("consent-source", "", "where the consent was given, e.g. \"checkout 2019-2024\" (required)")
	text := fs.String("consent-text", "", "the consent text these subscribers agreed to (required)")
	locale := fs.String("locale", "de", "language of rows without one: de or en")
	sep := fs.String("separator", "", "the separator: , ; or tab (default: detected)")
	dry := fs.Bool("dry-run", false, "only check the file")
	resume := fs.String("resume", "", "continue the import with this id")
	fs.Usage = func() { fmt.Fprintln(stderr, importUsage); fs.PrintDefaults() }
	// Flags may follow the file: parse, take the file, parse the rest.
	var files []string
	for {
		if err := parseFlags(fs, args, getenv); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if (len(files) != 1) == (*resume == "") {
		return errors.New(importUsage)
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	db, err := openExisting(ctx, &cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	secret, err := secretFor(&cfg)
	if err != nil {
		return err
	}
	a, err := wire(ctx, cfg, db, secret, log)
	if err != nil {
		return err
	}
	defer a.close()
	svc := a.imports

	var j imports.Job
	if *resume != "" {
		if j, err = svc.Get(ctx, *resume, 0); err != nil {
			return err
		}
	} else {
		if j, err = svc.FromFile(ctx, files[0]); err != nil {
			return err
		}
		if *sep != "" {
			comma := map[string]string{",": ",", ";": ";", "tab": "\t", `\t`: "\t"}[*sep]
			if j, err = svc.SetComma(ctx, j.ID, 0, comma); err != nil {
				return fmt.Errorf("--separator: %w", err)
			}
		}
		s := j.Settings
		s.Lists, s.Locale, s.ConsentSource, s.ConsentText = lists, *locale, *source, *text
		if len(s.Lists) == 0 {
			s.Lists = []string{"newsletter"}
		}
		if err := mapColumns(s.Columns, columns); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "import %s: %s (%s%s, separator %q)\n", j.ID, j.FileName, j.Format.Encoding,
			map[string]string{"": "", "gzip": ", gzip", "zip": ", zip: " + j.Format.Member}[j.Format.Compression], j.Format.Comma)
		if j, err = svc.Check(ctx, j.ID, 0, s); err != nil {
			return flagError(err)
		}
		printReport(stdout, j.Report)
		if j.Report.FatalLine != 0 {
			return fmt.Errorf("line %d: %s; nothing after it can be read", j.Report.FatalLine, j.Report.FatalDetail)
		}
		if *dry {
			return nil
		}
	}
	if j, err = svc.Start(ctx, j.ID, 0); err != nil {
		return err
	}
	t0 := time.Now()
	done := make(chan struct{})
	go func() { // progress on stderr, for a person watching
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if p, err := svc.Get(ctx, j.ID, 0); err == nil {
					pr := p.Progress(time.Now())
					fmt.Fprintf(stderr, "%d / %d rows (%d%%), %.0f rows/s, about %s left\n", p.RowsRead, p.RowsTotal, pr.Pct,
						pr.Rate, pr.Remaining.Round(time.Second))
				}
			}
		}
	}()
	err = svc.Run(ctx, j.ID)
	close(done)
	if err != nil {
		return err
	}
	if j, err = svc.Get(context.WithoutCancel(ctx), j.ID, 0); err != nil {
		return err
	}
	if j.Status != imports.StatusFinished {
		// Stopped (Ctrl-C), failed, or held by another process: a killed
		// one's lease lapses after 30 seconds.
		return fmt.Errorf("import %s is at row %d of %d (%s%s); continue it with: treu import --resume %s (a running treu serve also does)",
			j.ID, j.RowsRead, j.RowsTotal, j.Status, map[bool]string{true: ": " + j.Error}[j.Error != ""], j.ID)
	}
	d := time.Since(t0)
	fmt.Fprintf(stdout, "imported in %s (%.0f rows/s): %d new, %d already there, %d failed, %d left out\n",
		d.Round(10*time.Millisecond), float64(j.RowsTotal)/d.Seconds(), j.Created, j.Existing, j.Failed, j.Skipped)
	for _, is := range j.Issues {
		fmt.Fprintf(stdout, "  line %d: %s\n", is.Line, is.Message)
	}
	return nil
}

// mapColumns applies --column HEADER=USE[:KEY] to the guessed mapping.
func mapColumns(cols []imports.Column, specs []string) error {
	for _, spec := range specs {
		h, use, ok := strings.Cut(spec, "=")
		if !ok {
			return fmt.Errorf("--column %q: want HEADER=USE", spec)
		}
		use, key, _ := strings.Cut(use, ":")
		if use == "ignore" {
			use = ""
		}
		found := false
		for i := range cols {
			if cols[i].Header == h {
				cols[i].Use, found = use, true
				if use == imports.UseAttribute {
					if key == "" {
						key = imports.AttrKeyOf(h)
					}
					cols[i].Key = key
				}
			}
		}
		if !found {
			return fmt.Errorf("--column %q: the file has no column %q", spec, h)
		}
	}
	return nil
}

// flagError names the command-line flag behind a settings field.
func flagError(err error) error {
	e, ok := errs.As(err)
	if !ok {
		return err
	}
	flagOf := map[string]string{"lists": "--list", "consent_source": "--consent-source", "consent_text": "--consent-text",
		"columns": "--column", "comma": "--separator"}
	if f, ok := flagOf[e.Field]; ok {
		return fmt.Errorf("%s: %s", f, e.Msg)
	}
	if strings.HasPrefix(e.Field, "use.") || strings.HasPrefix(e.Field, "key.") {
		return fmt.Errorf("--column: %s", e.Msg)
	}
	return err
}

func printReport(w io.Writer, r *imports.Report) {
	fmt.Fprintf(w, "%d rows: %d to import, %d with errors, %d repeated addresses\n", r.Rows, r.Valid, r.Bad, r.Duplicates)
	for _, c := range r.Columns {
		name := fmt.Sprintf("column %q", c.Column)
		if c.Column == "" {
			name = "whole rows"
		}
		lines := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(c.Lines)), ", "), "[]")
		if c.Rows > len(c.Lines) {
			lines += ", …"
		}
		fmt.Fprintf(w, "  %s: %d rows (lines %s): %s\n", name, c.Rows, lines, strings.Join(c.Messages, "; "))
	}
}
