package imports

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/store"
	"github.com/treu-mail/treu/subscribers"
)

// Job statuses.
const (
	StatusUploaded = "uploaded"
	StatusChecked  = "checked"
	StatusRunning  = "running"
	StatusFinished = "finished"
	StatusFailed   = "failed"
)

// Config is the import service's configuration.
type Config struct {
	// Dir keeps uploaded files until their import ends (the data folder's
	// imports/). Files outside it (the command line's) are never removed.
	Dir string
	// Owner names this instance in leases; default a random one.
	Owner string
	// Lease is how long a running import stays claimed without a
	// checkpoint; another instance takes over after that. Default 30s.
	Lease time.Duration
	// BatchRows are written per transaction and checkpoint. Default 500.
	BatchRows int
	// KeepUnstarted: uploads never imported are removed after this. Default 24h.
	KeepUnstarted time.Duration
	// KeepEnded: the record of an ended import goes after this. Default 30 days.
	KeepEnded time.Duration
	// OnCheckpoint, if set, is called after each committed batch with the
	// rows read so far (tests stop a run there).
	OnCheckpoint func(id string, rowsRead int)
}

// Service keeps import jobs and runs them.
type Service struct {
	db   *store.DB
	subs *subscribers.Service
	cfg  Config
	log  *slog.Logger

	mu      sync.Mutex
	running map[string]bool // jobs this process is running
	updated chan struct{}   // closed and replaced at every checkpoint
}

// New makes the service; it creates cfg.Dir.
func New(db *store.DB, subs *subscribers.Service, cfg Config, log *slog.Logger) (*Service, error) {
	if log == nil {
		return nil, errors.New("imports: nil logger")
	}
	if cfg.Dir == "" {
		return nil, errors.New("imports: Config.Dir is required")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("imports: %w", err)
	}
	if cfg.Owner == "" {
		cfg.Owner = "imports-" + randomID()[:8]
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.BatchRows <= 0 {
		cfg.BatchRows = 500
	}
	if cfg.KeepUnstarted <= 0 {
		cfg.KeepUnstarted = 24 * time.Hour
	}
	if cfg.KeepEnded <= 0 {
		cfg.KeepEnded = 30 * 24 * time.Hour
	}
	return &Service{db: db, subs: subs, cfg: cfg, log: log, running: map[string]bool{}, updated: make(chan struct{})}, nil
}

// Job is one file on its way in.
type Job struct {
	ID        string
	UserID    int64 // 0: the command line
	FileName  string
	Size      int64
	Format    Format
	Header    []string
	Sample    [][]string
	Settings  Settings
	Report    *Report // of the last dry run with Settings
	Status    string
	RowsRead  int // the checkpoint
	RowsTotal int
	Created   int
	Existing  int
	Failed    int
	Skipped   int
	Issues    []Issue // refusals while writing
	Error     string
	CreatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time

	path        string
	resumedAt   time.Time
	resumedRows int
}

// Ended reports whether the import is over (or stopped by an error).
func (j *Job) Ended() bool { return j.Status == StatusFinished || j.Status == StatusFailed }

// Progress is a running import's figures for the progress bar.
type Progress struct {
	Pct       int
	Rate      float64       // rows per second since the run (re)started
	Remaining time.Duration // 0 when unknown
	Elapsed   time.Duration
}

// Progress estimates the rest from the rate since the run last (re)started.
func (j *Job) Progress(now time.Time) Progress {
	var p Progress
	if j.RowsTotal > 0 {
		p.Pct = min(100, j.RowsRead*100/j.RowsTotal)
	}
	end := now
	if j.Ended() && !j.EndedAt.IsZero() {
		end = j.EndedAt
	}
	if !j.StartedAt.IsZero() {
		p.Elapsed = end.Sub(j.StartedAt)
	}
	if !j.resumedAt.IsZero() {
		if d := now.Sub(j.resumedAt).Seconds(); d > 0 && j.RowsRead > j.resumedRows {
			p.Rate = float64(j.RowsRead-j.resumedRows) / d
			if !j.Ended() && j.RowsTotal > j.RowsRead {
				p.Remaining = time.Duration(float64(j.RowsTotal-j.RowsRead) / p.Rate * float64(time.Second))
			}
		}
	}
	return p
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Upload keeps body as a new job's file in Config.Dir, streamed (any size),
// and reads how to read it, its header and a few rows.
func (sv *Service) Upload(ctx context.Context, userID int64, fileName string, body io.Reader) (Job, error) {
	id := randomID()
	p := filepath.Join(sv.cfg.Dir, id+".upload")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Job{}, fmt.Errorf("imports: keep upload: %w", err)
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(p)
		return Job{}, fmt.Errorf("imports: keep upload: %w", err)
	}
	j, err := sv.create(ctx, id, userID, fileName, p, n)
	if err != nil {
		os.Remove(p)
	}
	return j, err
}

// FromFile makes a job of a file that stays where it is (the command line).
func (sv *Service) FromFile(ctx context.Context, p string) (Job, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return Job{}, fmt.Errorf("imports: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return Job{}, fmt.Errorf("imports: %w", err)
	}
	return sv.create(ctx, randomID(), 0, filepath.Base(abs), abs, st.Size())
}

func (sv *Service) create(ctx context.Context, id string, userID int64, fileName, p string, size int64) (Job, error) {
	fileName = strings.ToValidUTF8(fileName, "\uFFFD")
	if utf8.RuneCountInString(fileName) > 200 {
		fileName = string([]rune(fileName)[:200])
	}
	j := Job{ID: id, UserID: userID, FileName: fileName, Size: size, path: p, Status: StatusUploaded}
	if size == 0 {
		return j, fileError("The file is empty.")
	}
	var err error
	if j.Format, err = Detect(p); err != nil {
		return j, err
	}
	if err := sv.readHeader(&j); err != nil {
		return j, err
	}
	j.Settings = Settings{Columns: GuessColumns(j.Header), Lists: []string{subscribers.DefaultList}, Locale: "en"}
	err = sv.db.Tx(ctx, func(tx *store.Tx) error {
		j.CreatedAt = tx.Now
		_, err := tx.ExecContext(ctx, `INSERT INTO import_jobs (id, user_id, file_name, path, size, format, header, sample, settings,
			status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, nullID(userID), j.FileName, p, size, mustJSON(j.Format), mustJSON(j.Header), mustJSON(j.Sample),
			mustJSON(j.Settings), j.Status, tx.Now.Unix(), tx.Now.Unix())
		return err
	})
	if err != nil {
		return j, fmt.Errorf("imports: create: %w", err)
	}
	sv.log.Info("import uploaded", "import", j.ID, "bytes", size, "columns", len(j.Header), "encoding", j.Format.Encoding,
		"compression", j.Format.Compression, "user_id", userID)
	return j, nil
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("imports: " + err.Error()) // only plain structs of strings and numbers are marshalled
	}
	return string(b)
}

// newReader reads CSV with the job's separator, leniently: a row with the
// wrong number of columns is reported, not fatal.
func newReader(r io.Reader, comma string) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma, _ = utf8.DecodeRuneInString(comma)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return cr
}

// readHeader reads the header row and a few sample rows.
func (sv *Service) readHeader(j *Job) error {
	r, closer, err := j.Format.Open(j.path)
	if err != nil {
		return err
	}
	defer closer()
	cr := newReader(r, j.Format.Comma)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return fileError("The file is empty.")
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return &errs.Error{Kind: errs.Invalid, Field: "file", Msg: "The file is not a CSV file:", Err: pe.Err}
		}
		return readError(err)
	}
	if len(header) > MaxColumns {
		return fileError("The file has more than 200 columns.")
	}
	j.Header = make([]string, len(header))
	for i, h := range header {
		j.Header[i] = strings.TrimSpace(strings.ToValidUTF8(h, "\uFFFD"))
	}
	j.Sample = nil
	for len(j.Sample) < samples {
		rec, err := cr.Read()
		if err != nil {
			break // the dry run reports it with its line
		}
		row := make([]string, len(rec))
		for i, v := range rec {
			row[i] = strings.ToValidUTF8(v, "\uFFFD")
		}
		j.Sample = append(j.Sample, row)
	}
	return nil
}

const jobColumns = `id, coalesce(user_id, 0), file_name, path, size, format, header, sample, settings, report, status,
	rows_read, rows_total, created, existing, failed, skipped, issues, error, created_at,
	coalesce(started_at, 0), coalesce(finished_at, 0), coalesce(resumed_at, 0), resumed_rows`

func scanJob(sc interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var format, header, sample, settings, issues string
	var report sql.NullString
	var created, started, ended, resumed int64
	err := sc.Scan(&j.ID, &j.UserID, &j.FileName, &j.path, &j.Size, &format, &header, &sample, &settings, &report, &j.Status,
		&j.RowsRead, &j.RowsTotal, &j.Created, &j.Existing, &j.Failed, &j.Skipped, &issues, &j.Error, &created,
		&started, &ended, &resumed, &j.resumedRows)
	if err != nil {
		return j, err
	}
	for _, d := range []struct {
		raw string
		v   any
	}{{format, &j.Format}, {header, &j.Header}, {sample, &j.Sample}, {settings, &j.Settings}, {issues, &j.Issues}} {
		if err := json.Unmarshal([]byte(d.raw), d.v); err != nil {
			return j, fmt.Errorf("imports: job %s: %w", j.ID, err)
		}
	}
	if report.Valid {
		j.Report = &Report{}
		if err := json.Unmarshal([]byte(report.String), j.Report); err != nil {
			return j, fmt.Errorf("imports: job %s: %w", j.ID, err)
		}
	}
	j.CreatedAt = time.Unix(created, 0).UTC()
	if started > 0 {
		j.StartedAt = time.Unix(started, 0).UTC()
	}
	if ended > 0 {
		j.EndedAt = time.Unix(ended, 0).UTC()
	}
	if resumed > 0 {
		j.resumedAt = time.Unix(resumed, 0).UTC()
	}
	return j, nil
}

// Get returns the job; userID 0 may see every job, a UI user only theirs
// (another's is as good as missing).
func (sv *Service) Get(ctx context.Context, id string, userID int64) (Job, error) {
	j, err := scanJob(sv.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM import_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) || err == nil && userID != 0 && j.UserID != userID {
		return Job{}, errs.NotFoundf("no such import")
	}
	if err != nil {
		return Job{}, fmt.Errorf("imports: load %s: %w", id, err)
	}
	return j, nil
}

// SetComma reads the file again with another separator: its columns are
// different ones, so the mapping starts again and the last check is void.
func (sv *Service) SetComma(ctx context.Context, id string, userID int64, comma string) (Job, error) {
	j, err := sv.Get(ctx, id, userID)
	if err != nil {
		return j, err
	}
	if comma != "," && comma != ";" && comma != "\t" {
		return j, errs.Invalidf("comma", "the separator must be a comma, a semicolon or a tab")
	}
	if j.Status != StatusUploaded && j.Status != StatusChecked {
		return j, errs.Conflictf("the import has started")
	}
	j.Format.Comma = comma
	if err := sv.readHeader(&j); err != nil {
		return j, err
	}
	j.Settings.Columns = GuessColumns(j.Header)
	j.Report, j.Status = nil, StatusUploaded
	return j, sv.save(ctx, &j, `status IN ('uploaded', 'checked')`)
}

// save writes what the mapping steps change, if the job's status still
// satisfies cond.
func (sv *Service) save(ctx context.Context, j *Job, cond string) error {
	var report any
	if j.Report != nil {
		report = mustJSON(j.Report)
	}
	return sv.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE import_jobs SET format = ?, header = ?, sample = ?, settings = ?, report = ?,
			status = ?, rows_total = ?, updated_at = ? WHERE id = ? AND `+cond,
			mustJSON(j.Format), mustJSON(j.Header), mustJSON(j.Sample), mustJSON(j.Settings), report, j.Status, j.RowsTotal,
			tx.Now.Unix(), j.ID)
		if err != nil {
			return fmt.Errorf("imports: save %s: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.Conflictf("the import has started")
		}
		return nil
	})
}

// Check validates settings and reads the whole file as the import will,
// reporting every bad row; nothing is imported. The job keeps the settings
// and the report, and can be started when the file has rows to import.
func (sv *Service) Check(ctx context.Context, id string, userID int64, s Settings) (Job, error) {
	j, err := sv.Get(ctx, id, userID)
	if err != nil {
		return j, err
	}
	if j.Status != StatusUploaded && j.Status != StatusChecked {
		return j, errs.Conflictf("the import has started")
	}
	if len(s.Columns) != len(j.Header) {
		return j, errs.Invalidf("columns", "Choose what each column holds.")
	}
	for i := range s.Columns {
		s.Columns[i].Header = j.Header[i]
	}
	j.Settings = s
	if err := j.Settings.Validate(); err != nil {
		return j, err
	}
	im, err := sv.importer(ctx, &j.Settings)
	if err != nil {
		return j, err
	}
	rep, err := sv.dryRun(ctx, &j, im)
	if err != nil {
		return j, err
	}
	j.Report, j.RowsTotal = &rep, rep.Rows
	j.Status = StatusChecked
	if err := sv.save(ctx, &j, `status IN ('uploaded', 'checked')`); err != nil {
		return j, err
	}
	return j, nil
}

// importer checks the lists and the consent with package subscribers.
func (sv *Service) importer(ctx context.Context, s *Settings) (*subscribers.Importer, error) {
	// No IP or user agent: those of the marketer's browser are not the
	// subscriber's, and the consent record must not claim they are.
	im, err := sv.subs.NewImporter(ctx, s.Lists, subscribers.ConsentInput{Text: s.ConsentText, Source: s.ConsentSource},
		subscribers.Meta{Channel: subscribers.ChannelAdmin})
	if e, ok := errs.As(err); ok {
		switch {
		case e.Field == "lists":
			return nil, errs.Invalidf("lists", "Choose at least one list.")
		case e.Field == "consent.source":
			return nil, errs.Invalidf("consent_source", "%s", e.Msg)
		case strings.HasPrefix(e.Field, "consent"):
			return nil, errs.Invalidf("consent_text", "%s", e.Msg)
		}
	}
	return im, err
}

// Start marks a checked import (or one an error stopped) as running; Run
// then does the work. A job started twice is started once.
func (sv *Service) Start(ctx context.Context, id string, userID int64) (Job, error) {
	j, err := sv.Get(ctx, id, userID)
	if err != nil {
		return j, err
	}
	switch {
	case j.Status == StatusRunning || j.Status == StatusFinished:
		return j, nil
	case j.Status == StatusUploaded || j.Report == nil || j.Report.FatalLine != 0 || j.Report.Valid == 0:
		return j, errs.Conflictf("Check the file first: there is nothing to import yet.")
	}
	err = sv.db.Tx(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE import_jobs SET status = 'running', error = '', owner = NULL, lease_until = NULL,
			started_at = coalesce(started_at, ?), updated_at = ? WHERE id = ? AND status IN ('checked', 'failed')`,
			tx.Now.Unix(), tx.Now.Unix(), id)
		return err
	})
	if err != nil {
		return j, fmt.Errorf("imports: start %s: %w", id, err)
	}
	sv.log.Info("import started", "import", id, "rows", j.RowsTotal, "lists", strings.Join(j.Settings.Lists, ","), "user_id", j.UserID)
	return sv.Get(ctx, id, userID)
}

// Lapsed lists running imports nobody holds a lease on (their instance
// stopped or crashed), for the caller to Run.
func (sv *Service) Lapsed(ctx context.Context) ([]string, error) {
	now := sv.db.Now().Unix()
	rows, err := sv.db.QueryContext(ctx, `SELECT id FROM import_jobs
		WHERE status = 'running' AND (lease_until IS NULL OR lease_until < ?) ORDER BY created_at`, now)
	if err != nil {
		return nil, fmt.Errorf("imports: lapsed: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("imports: lapsed: %w", err)
		}
		sv.mu.Lock()
		mine := sv.running[id]
		sv.mu.Unlock()
		if !mine {
			ids = append(ids, id)
		}
	}
	return ids, rows.Err()
}

// Prune removes uploads never imported after KeepUnstarted and the records
// of ended imports after KeepEnded, with their files.
func (sv *Service) Prune(ctx context.Context) (int, error) {
	now := sv.db.Now()
	var paths []string
	var n int64
	err := sv.db.Tx(ctx, func(tx *store.Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM import_jobs
			WHERE (status IN ('uploaded', 'checked') AND created_at < ?) OR (status IN ('finished', 'failed') AND updated_at < ?)
			RETURNING path`, now.Add(-sv.cfg.KeepUnstarted).Unix(), now.Add(-sv.cfg.KeepEnded).Unix())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			if err := rows.Scan(&p); err != nil {
				return err
			}
			paths = append(paths, p)
			n++
		}
		return rows.Err()
	})
	if err != nil {
		return 0, fmt.Errorf("imports: prune: %w", err)
	}
	for _, p := range paths {
		sv.removeFile(p)
	}
	return int(n), nil
}

// removeFile removes an upload; a file outside Config.Dir is the operator's.
func (sv *Service) removeFile(p string) {
	dir, err := filepath.Abs(sv.cfg.Dir)
	if err != nil {
		return
	}
	if filepath.Dir(p) == dir || filepath.Dir(p) == filepath.Clean(sv.cfg.Dir) {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			sv.log.Warn("remove import file", "error", err)
		}
	}
}

// Updated is closed at the next checkpoint of any import.
func (sv *Service) Updated() <-chan struct{} {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return sv.updated
}

func (sv *Service) notify() {
	sv.mu.Lock()
	close(sv.updated)
	sv.updated = make(chan struct{})
	sv.mu.Unlock()
}
