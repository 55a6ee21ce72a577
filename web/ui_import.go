package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// The CSV import of subscribers with proven consent, in three steps:
// upload (the file is kept in a temporary file), mapping and a dry run that
// reports every bad row, then the import itself in the background, each row
// through subscribers.Service.Enroll with double_optin false and the consent
// the marketer names. The import state lives in memory: an import is an
// interactive task of one marketer, and a restart only loses the report
// (enrolling again is idempotent).

// uiEnroller is what the import needs of *subscribers.Service beyond
// uiSubscribers. UIDeps.Subscribers provides it when it can.
type uiEnroller interface {
	Enroll(ctx context.Context, in subscribers.EnrollInput, meta subscribers.Meta) (subscribers.Subscriber, bool, error)
}

const (
	maxImportFile    = 20 << 20
	maxImportColumns = 200
	maxImportIssues  = 200 // listed in a report; more are only counted
	importSamples    = 3
	// importWorkers enroll at once: Enroll gathers concurrent calls into one
	// transaction (group commit), so a few callers multiply the rate.
	importWorkers = 8
	importTTL     = 6 * time.Hour
	maxImportJobs = 50
	// importPoll is how long a progress request waits for the import to end
	// before it answers with the current figures.
	importPoll = time.Second
)

// importJobs holds the imports under way, by their random id.
type importJobs struct {
	log  *slog.Logger
	mu   sync.Mutex
	jobs map[string]*importJob
}

func newImportJobs(log *slog.Logger) *importJobs {
	return &importJobs{log: log, jobs: map[string]*importJob{}}
}

// add keeps j, first dropping imports older than importTTL (and the oldest
// idle one when there are too many) along with their files.
func (js *importJobs) add(j *importJob) {
	js.mu.Lock()
	defer js.mu.Unlock()
	now := time.Now()
	for id, old := range js.jobs {
		if now.Sub(old.Created) > importTTL && !old.running() {
			old.removeFile()
			delete(js.jobs, id)
		}
	}
	if len(js.jobs) >= maxImportJobs {
		var oldest *importJob
		for _, old := range js.jobs {
			if !old.running() && (oldest == nil || old.Created.Before(oldest.Created)) {
				oldest = old
			}
		}
		if oldest != nil {
			oldest.removeFile()
			delete(js.jobs, oldest.ID)
		}
	}
	js.jobs[j.ID] = j
}

// get returns an import of user uid; another user's is as good as missing.
func (js *importJobs) get(id string, uid int64) (*importJob, bool) {
	js.mu.Lock()
	defer js.mu.Unlock()
	j, ok := js.jobs[id]
	if !ok || j.UserID != uid || time.Since(j.Created) > importTTL && !j.running() {
		return nil, false
	}
	return j, true
}

// importJob is one uploaded file on its way in.
type importJob struct {
	ID, FileName string
	UserID       int64
	Size         int64
	Created      time.Time
	path         string

	mu       sync.Mutex
	header   []string
	sample   [][]string
	settings importSettings
	report   *importReport // of the last dry run with settings
	run      *importRun
}

func (j *importJob) running() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.run != nil && !j.run.Finished
}

func (j *importJob) started() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.run != nil
}

func (j *importJob) removeFile() {
	if j.path != "" {
		os.Remove(j.path)
	}
}

// importSettings are the mapping and consent a dry run checked.
type importSettings struct {
	Comma         string // ",", ";" or "\t"
	Columns       []importColumn
	Lists         []string
	Locale        string // for rows without a language of their own
	ConsentSource string
	ConsentText   string
}

// importColumn says what a column of the file holds.
type importColumn struct {
	Header string
	Use    string // "", email, name, locale, attribute
	Key    string // the attribute's key
}

var importUses = []string{"", "email", "name", "locale", "attribute"}

// importIssue is a row that will not be imported, or failed to.
type importIssue struct {
	Line    int
	Column  string
	Message string
}

type importReport struct {
	Rows, Valid, Bad, Duplicates int
	Issues                       []importIssue // the first maxImportIssues
	// The file cannot be read past this line (a broken quote); 1 when it
	// has no header. FatalDetail is what encoding/csv said.
	FatalLine   int
	FatalDetail string
}

func (r *importReport) issue(i importIssue) {
	if len(r.Issues) < maxImportIssues {
		r.Issues = append(r.Issues, i)
	}
}

type importRun struct {
	Total, Done                    int
	Created, Existing, Failed, Bad int
	Issues                         []importIssue
	StoppedAt                      int // the line where an error on the server stopped the import
	Finished                       bool
	Started, Ended                 time.Time
	done                           chan struct{}
}

// --- pages ---

type importPageData struct {
	Max int // MiB
}

func (u *ui) importPage(c echo.Context) error {
	if _, ok := u.subscribers.(uiEnroller); !ok {
		return errs.NotFoundf("the import is not available")
	}
	return u.render(c, http.StatusOK, "import", uiPage{Title: "Import subscribers", Nav: "import", Data: importPageData{Max: maxImportFile >> 20}})
}

// uploadImport keeps the uploaded file and reads its header, then sends the
// marketer on to the mapping.
func (u *ui) uploadImport(c echo.Context) error {
	if _, ok := u.subscribers.(uiEnroller); !ok {
		return errs.NotFoundf("the import is not available")
	}
	page := uiPage{Title: "Import subscribers", Nav: "import", Data: importPageData{Max: maxImportFile >> 20}}
	src, err := formFile(c, "file", maxImportFile)
	if err != nil {
		status, msg, ok := u.uploadError(c, err, maxImportFile)
		if !ok {
			return err
		}
		page.Error = msg
		return u.render(c, status, "import", page)
	}
	defer src.Close()
	j := &importJob{ID: randomID(), UserID: c.Get(ctxSession).(session).UserID, Created: time.Now()}
	if fh, err := c.FormFile("file"); err == nil {
		j.FileName, j.Size = fh.Filename, fh.Size
	}
	f, err := os.CreateTemp("", "treu-import-*.csv")
	if err != nil {
		return fmt.Errorf("web: import: %w", err)
	}
	j.path = f.Name()
	_, err = io.Copy(f, src)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		j.removeFile()
		return fmt.Errorf("web: import: keep upload: %w", err)
	}
	comma, err := j.sniffComma()
	if err == nil {
		err = j.readHeader(comma)
	}
	if err != nil {
		j.removeFile()
		msg, ok := u.fileError(c, err)
		if !ok {
			return err
		}
		page.Error = msg
		return u.render(c, http.StatusUnprocessableEntity, "import", page)
	}
	j.settings = importSettings{Comma: comma, Columns: guessColumns(j.header), Lists: []string{subscribers.DefaultList},
		Locale: u.lang(c)}
	u.imports.add(j)
	u.log.Info("import uploaded", "import", j.ID, "bytes", j.Size, "columns", len(j.header), "user_id", j.UserID)
	return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
}

func randomID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("web: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// open opens the kept file past a UTF-8 byte order mark (Excel writes one).
func (j *importJob) open() (*os.File, *bufio.Reader, error) {
	f, err := os.Open(j.path)
	if err != nil {
		return nil, nil, fmt.Errorf("web: import: %w", err)
	}
	r := bufio.NewReaderSize(f, 64<<10)
	if b, err := r.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		r.Discard(3)
	}
	return f, r, nil
}

// sniffComma guesses the separator from the first line: German spreadsheet
// programs write semicolons, others commas, some tabs.
func (j *importJob) sniffComma() (string, error) {
	f, r, err := j.open()
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := r.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("web: import: %w", err)
	}
	best, n := ",", 0
	for _, sep := range []string{",", ";", "\t"} {
		if k := bytes.Count(line, []byte(sep)); k > n {
			best, n = sep, k
		}
	}
	return best, nil
}

// importFileError is a problem with the file the marketer can fix: Msg is
// a UI string, Detail what encoding/csv said.
type importFileError struct{ Msg, Detail string }

func (e *importFileError) Error() string { return strings.TrimSpace(e.Msg + " " + e.Detail) }

// readHeader reads the header row and a few sample rows with comma.
func (j *importJob) readHeader(comma string) error {
	f, r, err := j.open()
	if err != nil {
		return err
	}
	defer f.Close()
	cr := newImportReader(r, comma)
	header, err := cr.Read()
	header = slices.Clone(header) // the reader reuses its record
	if errors.Is(err, io.EOF) {
		return &importFileError{Msg: "The file is empty."}
	}
	if err != nil {
		return &importFileError{Msg: "The file is not a CSV file:", Detail: err.Error()}
	}
	if len(header) > maxImportColumns {
		return &importFileError{Msg: "The file has more than 200 columns."}
	}
	var sample [][]string
	for len(sample) < importSamples {
		rec, err := cr.Read()
		if err != nil {
			break // the dry run reports it with its line
		}
		sample = append(sample, slices.Clone(rec))
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.header = make([]string, len(header))
	for i, h := range header {
		j.header[i] = strings.TrimSpace(strings.ToValidUTF8(h, "\uFFFD"))
	}
	j.sample = sample
	return nil
}

// fileError is the translated message of an importFileError, or false.
func (u *ui) fileError(c echo.Context, err error) (string, bool) {
	var fe *importFileError
	if !errors.As(err, &fe) {
		return "", false
	}
	return strings.TrimSpace(u.tr(c, fe.Msg) + " " + fe.Detail), true
}

func newImportReader(r io.Reader, comma string) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma, _ = utf8.DecodeRuneInString(comma)
	cr.FieldsPerRecord = -1 // a row with the wrong number of columns is reported, not fatal
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	return cr
}

// guessColumns maps well-known header names; every other column becomes an
// attribute named after its header, which the marketer may change or drop.
func guessColumns(header []string) []importColumn {
	norm := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == ' ' || r == '-' || r == '_' || r == '.' {
				return -1
			}
			return unicode.ToLower(r)
		}, s)
	}
	out := make([]importColumn, len(header))
	haveEmail := false
	for i, h := range header {
		col := importColumn{Header: h}
		switch n := norm(h); {
		case slices.Contains([]string{"email", "mail", "emailaddress", "emailadresse", "mailadresse"}, n):
			if !haveEmail {
				col.Use, haveEmail = "email", true
			}
		case slices.Contains([]string{"name", "fullname", "vollständigername", "firstname", "vorname", "lastname", "nachname", "surname"}, n):
			col.Use = "name"
		case slices.Contains([]string{"locale", "language", "lang", "sprache"}, n):
			col.Use = "locale"
		default:
			if col.Key = attrKeyOf(h); col.Key != "" {
				col.Use = "attribute"
			}
		}
		out[i] = col
	}
	return out
}

var attrKeyRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$`)

// attrKeyOf makes an attribute key from a header: what subscribers accept
// (letters, digits, _ and -) and segments can name.
func attrKeyOf(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-':
			b.WriteRune(r)
		case r == ' ' || r == '.':
			b.WriteRune('_')
		case r == 'ä':
			b.WriteString("ae")
		case r == 'ö':
			b.WriteString("oe")
		case r == 'ü':
			b.WriteString("ue")
		case r == 'ß':
			b.WriteString("ss")
		}
	}
	k := strings.TrimLeft(b.String(), "-")
	if len(k) > 64 {
		k = k[:64]
	}
	if !attrKeyRe.MatchString(k) {
		return ""
	}
	return k
}

// importJobData is the import page: the mapping and the dry run's report
// until the import starts, then its progress.
type importJobData struct {
	ID, FileName string
	Size         string
	Header       []string
	Sample       [][]string
	Settings     importSettings
	Uses         []string
	Lists        []subscribers.List
	Report       *importReport
	Run          *importProgressData
	Field        string
}

func (u *ui) importJob(c echo.Context) (*importJob, error) {
	j, ok := u.imports.get(c.Param("id"), c.Get(ctxSession).(session).UserID)
	if !ok {
		return nil, errs.NotFoundf("no such import; uploads are kept for %d hours", int(importTTL.Hours()))
	}
	return j, nil
}

func (u *ui) importJobPage(c echo.Context) error {
	j, err := u.importJob(c)
	if err != nil {
		return err
	}
	j.mu.Lock()
	s, rep := j.settings, j.report
	j.mu.Unlock()
	return u.renderImportJob(c, http.StatusOK, j, s, rep, "", "")
}

func (u *ui) renderImportJob(c echo.Context, status int, j *importJob, s importSettings, rep *importReport, msg, field string) error {
	j.mu.Lock()
	d := importJobData{ID: j.ID, FileName: j.FileName, Size: formatBytes(u.lang(c), j.Size), Header: j.header, Sample: j.sample,
		Settings: s, Uses: importUses, Report: rep, Field: field}
	running := j.run != nil
	j.mu.Unlock()
	if running {
		p := j.progress()
		d.Run = &p
	}
	if u.subscribers != nil {
		var err error
		if d.Lists, err = u.subscribers.Lists(c.Request().Context()); err != nil {
			return err
		}
	}
	return u.render(c, status, "importjob", uiPage{Title: "Import subscribers", Nav: "import", Error: msg, Data: d})
}

func formatBytes(lang string, n int64) string {
	if n < 10<<10 {
		return formatNum(lang, n) + " B"
	}
	if n < 10<<20 {
		return formatNum(lang, n>>10) + " KiB"
	}
	return formatNum(lang, n>>20) + " MiB"
}

// checkImport reads the mapping and consent, then runs the dry run: every
// row is validated as the import will validate it, and the bad ones are
// listed with their line.
func (u *ui) checkImport(c echo.Context) error {
	j, err := u.importJob(c)
	if err != nil {
		return err
	}
	if j.started() {
		return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	j.mu.Lock()
	s := importSettings{Comma: j.settings.Comma, Columns: slices.Clone(j.settings.Columns)}
	j.mu.Unlock()
	s.Lists = form["lists"]
	s.Locale = form.Get("locale")
	s.ConsentSource = strings.TrimSpace(form.Get("consent_source"))
	s.ConsentText = strings.TrimSpace(crlf(form.Get("consent_text")))
	for i := range s.Columns {
		s.Columns[i].Use = form.Get("use." + strconv.Itoa(i))
		s.Columns[i].Key = strings.TrimSpace(form.Get("key." + strconv.Itoa(i)))
	}
	// Another separator: the columns are different ones, so read them again.
	if comma := form.Get("comma"); comma != s.Comma && (comma == "," || comma == ";" || comma == "\t") {
		if err := j.readHeader(comma); err != nil {
			if msg, ok := u.fileError(c, err); ok {
				return u.renderImportJob(c, http.StatusUnprocessableEntity, j, s, nil, msg, "comma")
			}
			return err
		}
		j.mu.Lock()
		s.Comma, s.Columns = comma, guessColumns(j.header)
		j.settings, j.report = s, nil
		j.mu.Unlock()
		return u.renderImportJob(c, http.StatusOK, j, s, nil,
			u.tr(c, "The file was read again with the new separator. Check the columns, then check the file."), "columns")
	}
	if msg, field := u.checkSettings(c, &s); msg != "" {
		return u.renderImportJob(c, http.StatusUnprocessableEntity, j, s, nil, msg, field)
	}
	rep, err := j.scan(c.Request().Context(), &s, nil)
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.settings, j.report = s, &rep
	j.mu.Unlock()
	return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID+"#report")
}

// checkSettings checks the mapping and the consent; it returns a message
// and the field at fault, or "".
func (u *ui) checkSettings(c echo.Context, s *importSettings) (string, string) {
	emails := 0
	keys := map[string]bool{}
	for i, col := range s.Columns {
		if !slices.Contains(importUses, col.Use) {
			return u.tr(c, "Choose what each column holds."), "use." + strconv.Itoa(i)
		}
		switch col.Use {
		case "email":
			emails++
		case "attribute":
			if !attrKeyRe.MatchString(col.Key) {
				return u.tr(c, "An attribute name is 1 to 64 letters, digits, _ and - (not first)."), "key." + strconv.Itoa(i)
			}
			if keys[col.Key] {
				return u.tr(c, "Two columns have the same attribute name."), "key." + strconv.Itoa(i)
			}
			keys[col.Key] = true
		}
	}
	if emails != 1 {
		return u.tr(c, "Choose exactly one column with the email address."), "columns"
	}
	if s.Locale != "de" && s.Locale != "en" {
		s.Locale = "en"
	}
	if len(s.Lists) == 0 {
		return u.tr(c, "Choose at least one list."), "lists"
	}
	if u.subscribers != nil {
		lists, err := u.subscribers.Lists(c.Request().Context())
		if err != nil {
			return err.Error(), ""
		}
		for _, slug := range s.Lists {
			if !slices.ContainsFunc(lists, func(l subscribers.List) bool { return l.Slug == slug }) {
				return u.tr(c, "Choose at least one list."), "lists"
			}
		}
	}
	// Without proof of consent an import is not allowed to skip the
	// confirmation mail (API.md: double_optin false requires consent).
	if s.ConsentSource == "" || utf8.RuneCountInString(s.ConsentSource) > 200 {
		return u.tr(c, "Say where these addresses come from (at most 200 characters), e.g. \"checkout 2019-2024\"."), "consent_source"
	}
	if s.ConsentText == "" || utf8.RuneCountInString(s.ConsentText) > 10000 {
		return u.tr(c, "Give the consent text these subscribers agreed to (at most 10,000 characters)."), "consent_text"
	}
	return "", ""
}

// scan reads the file with s, validates each row as Enroll will, and calls
// row (if not nil) for every row to import: not bad, and not an address
// that an earlier row already has. It stops at a row's error or ctx's end.
func (j *importJob) scan(ctx context.Context, s *importSettings, row func(line int, in subscribers.EnrollInput) error) (importReport, error) {
	var rep importReport
	f, r, err := j.open()
	if err != nil {
		return rep, err
	}
	defer f.Close()
	cr := newImportReader(r, s.Comma)
	if _, err := cr.Read(); err != nil { // the header
		rep.FatalLine, rep.FatalDetail = 1, err.Error()
		return rep, nil
	}
	seen := map[string]int{} // email_key → line
	no := false
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rep, nil
		}
		if err != nil {
			// A broken quote leaves the rest of the file unreadable.
			rep.FatalLine, rep.FatalDetail = -1, err.Error()
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				rep.FatalLine, rep.FatalDetail = pe.StartLine, pe.Err.Error()
			}
			return rep, nil
		}
		line, _ := cr.FieldPos(0) // where the record starts; a quoted cell may span lines
		rep.Rows++
		in, issue := s.input(rec)
		if issue != nil {
			issue.Line = line
			rep.Bad++
			rep.issue(*issue)
			continue
		}
		key := strings.ToLower(in.Email)
		if first, ok := seen[key]; ok {
			rep.Duplicates++
			rep.issue(importIssue{Line: line, Column: s.emailHeader(), Message: fmt.Sprintf("the same address as line %d; only the first is imported", first)})
			continue
		}
		seen[key] = line
		rep.Valid++
		in.DoubleOptIn = &no
		if row != nil {
			if err := row(line, in); err != nil {
				return rep, err
			}
		}
	}
}

func (s *importSettings) emailHeader() string {
	for _, col := range s.Columns {
		if col.Use == "email" {
			return col.Header
		}
	}
	return ""
}

var importNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?$`)

// input turns one row into an enrollment, or says what is wrong with it,
// using the subscribers package's own checks.
func (s *importSettings) input(rec []string) (subscribers.EnrollInput, *importIssue) {
	in := subscribers.EnrollInput{Lists: s.Lists, Locale: s.Locale,
		Consent: &subscribers.ConsentInput{Text: s.ConsentText, Source: s.ConsentSource}}
	if len(rec) != len(s.Columns) {
		return in, &importIssue{Message: fmt.Sprintf("the row has %d columns, the header %d", len(rec), len(s.Columns))}
	}
	bad := func(col string, err error) (subscribers.EnrollInput, *importIssue) {
		msg := err.Error()
		if e, ok := errs.As(err); ok {
			msg = e.Msg
		}
		return in, &importIssue{Column: col, Message: msg}
	}
	var names, nameCols []string
	attrs := map[string]any{}
	for i, col := range s.Columns {
		v := strings.TrimSpace(rec[i])
		switch col.Use {
		case "email":
			email, err := subscribers.ValidateEmail(v)
			if err != nil {
				return bad(col.Header, err)
			}
			in.Email = email
		case "name":
			nameCols = append(nameCols, col.Header)
			if v != "" {
				names = append(names, v)
			}
		case "locale":
			if v != "" {
				loc, err := subscribers.ValidateLocale(v)
				if err != nil {
					return bad(col.Header, err)
				}
				in.Locale = loc
			}
		case "attribute":
			if v == "" {
				continue
			}
			if !utf8.ValidString(v) {
				return bad(col.Header, errors.New("not valid UTF-8; save the file as UTF-8"))
			}
			attrs[col.Key] = attrValue(v)
		}
	}
	name, err := subscribers.ValidateName(strings.Join(names, " "))
	if err != nil {
		return bad(strings.Join(nameCols, ", "), err)
	}
	in.Name = name
	if len(attrs) > 0 {
		b, err := json.Marshal(attrs)
		if err != nil || len(b) > 16<<10 {
			return bad("", errors.New("the attributes are larger than 16 KiB"))
		}
		in.Attributes = b
	}
	return in, nil
}

// attrValue types a cell: a plain number (no leading zeros, so postcodes
// and customer numbers such as 01234 stay text), true/false, or text.
func attrValue(v string) any {
	if importNumber.MatchString(v) {
		return json.Number(v)
	}
	switch strings.ToLower(v) {
	case "true":
		return true
	case "false":
		return false
	}
	return v
}

// runImport starts the import of the rows the last dry run passed.
func (u *ui) runImport(c echo.Context) error {
	j, err := u.importJob(c)
	if err != nil {
		return err
	}
	ed, ok := u.subscribers.(uiEnroller)
	if !ok {
		return errs.NotFoundf("the import is not available")
	}
	j.mu.Lock()
	rep, s := j.report, j.settings
	if j.run != nil {
		j.mu.Unlock()
		return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
	}
	if rep == nil || rep.FatalLine != 0 || rep.Valid == 0 {
		j.mu.Unlock()
		return u.renderImportJob(c, http.StatusConflict, j, s, rep, u.tr(c, "Check the file first: there is nothing to import yet."), "")
	}
	run := &importRun{Total: rep.Valid, Started: time.Now(), done: make(chan struct{})}
	j.run = run
	j.mu.Unlock()
	uid := c.Get(ctxSession).(session).UserID
	u.log.Info("import started", "import", j.ID, "rows", rep.Valid, "lists", strings.Join(s.Lists, ","), "user_id", uid)
	u.srv.record(c, "import.run", "import "+j.ID, fmt.Sprintf("%d rows into %s", rep.Valid, strings.Join(s.Lists, ", ")))
	// The import outlives the request; it keeps the request's values but
	// not its end.
	// The import outlives the request but not the server: Close cancels it
	// (rows done stay done; running it again is safe) and waits.
	u.srv.bg.Add(1)
	go func() {
		defer u.srv.bg.Done()
		u.importRows(u.srv.bgCtx, j, &s, ed)
	}()
	return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
}

// importRows enrolls the file's good rows with importWorkers callers.
func (u *ui) importRows(ctx context.Context, j *importJob, s *importSettings, ed uiEnroller) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// No IP or user agent: those of the marketer's browser are not the
	// subscriber's, and the consent record must not claim they are.
	meta := subscribers.Meta{Channel: subscribers.ChannelAdmin}
	type job struct {
		line int
		in   subscribers.EnrollInput
	}
	rows := make(chan job)
	var wg sync.WaitGroup
	for range importWorkers {
		wg.Go(func() {
			for r := range rows {
				_, created, err := ed.Enroll(ctx, r.in, meta)
				if !j.record(r.line, created, err) {
					if ctx.Err() == nil {
						u.log.Error("import failed", "import", j.ID, "line", r.line, "error", err)
					}
					cancel()
				}
			}
		})
	}
	rep, err := j.scan(ctx, s, func(line int, in subscribers.EnrollInput) error {
		select {
		case rows <- job{line, in}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(rows)
	wg.Wait()
	j.mu.Lock()
	run := j.run
	run.Bad = rep.Bad + rep.Duplicates
	if run.StoppedAt == 0 && rep.FatalLine != 0 {
		run.StoppedAt = rep.FatalLine // the dry run read the same file to its end: cannot happen
	}
	if run.StoppedAt == 0 && err != nil {
		run.StoppedAt = -1
	}
	run.Finished, run.Ended = true, time.Now()
	j.mu.Unlock()
	close(run.done)
	j.removeFile()
	u.log.Info("import finished", "import", j.ID, "created", run.Created, "existing", run.Existing, "failed", run.Failed)
}

// record counts one enrollment; false when the error is not the row's own
// (the database is gone, say) and the import must stop.
func (j *importJob) record(line int, created bool, err error) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.run
	switch e, ok := errs.As(err); {
	case err == nil:
		r.Done++
		if created {
			r.Created++
		} else {
			r.Existing++
		}
	case ok && e.Kind != errs.Internal:
		// A row the dry run could not judge, e.g. an erased address
		// (suppressed: it may only come back with double opt-in).
		r.Done++
		r.Failed++
		if len(r.Issues) < maxImportIssues {
			r.Issues = append(r.Issues, importIssue{Line: line, Column: e.Field, Message: e.Msg})
		}
	default:
		if r.StoppedAt == 0 {
			r.StoppedAt = line
		}
		return false
	}
	return true
}

// importProgressData is the progress fragment.
type importProgressData struct {
	ID string
	importRun
	Seconds, Pct int
}

func (j *importJob) progress() importProgressData {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.run == nil {
		return importProgressData{ID: j.ID}
	}
	p := importProgressData{ID: j.ID, importRun: *j.run}
	p.Issues = slices.Clone(j.run.Issues)
	end := p.Ended
	if !p.Finished {
		end = time.Now()
	}
	p.Seconds = int(end.Sub(p.Started).Seconds())
	if p.Total > 0 {
		p.Pct = p.Done * 100 / p.Total
	}
	return p
}

// importProgress answers the progress bar. It waits up to importPoll for the
// import to finish, so the page's next request (sent as soon as this one is
// answered) needs no timer of its own and a finished import shows at once.
func (u *ui) importProgress(c echo.Context) error {
	j, err := u.importJob(c)
	if err != nil {
		return err
	}
	j.mu.Lock()
	run := j.run
	j.mu.Unlock()
	if run == nil {
		return errs.NotFoundf("the import has not started")
	}
	t := time.NewTimer(importPoll)
	defer t.Stop()
	select {
	case <-run.done:
	case <-t.C:
	case <-c.Request().Context().Done():
	}
	return u.renderFragment(c, "importjob", "importprogress", j.progress())
}
