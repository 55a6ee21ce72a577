package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/imports"
	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

// The CSV import of subscribers with proven consent, in three steps: upload
// (streamed into the data folder, any size, gzip and zip too), mapping and a
// dry run that names every broken column and row, then the import itself in
// the background. The work is package imports'; these handlers only read
// forms and render pages.

// uiImports is what the import pages need of *imports.Service.
type uiImports interface {
	Upload(ctx context.Context, userID int64, fileName string, body io.Reader) (imports.Job, error)
	Get(ctx context.Context, id string, userID int64) (imports.Job, error)
	SetComma(ctx context.Context, id string, userID int64, comma string) (imports.Job, error)
	Check(ctx context.Context, id string, userID int64, s imports.Settings) (imports.Job, error)
	Start(ctx context.Context, id string, userID int64) (imports.Job, error)
	Run(ctx context.Context, id string) error
	Updated() <-chan struct{}
}

// importPoll is how long a progress request waits for the import to end
// before it answers with the current figures.
const importPoll = time.Second

func (u *ui) importPage(c echo.Context) error {
	if u.imports == nil {
		return errs.NotFoundf("the import is not available")
	}
	return u.render(c, http.StatusOK, "import", uiPage{Title: "Import subscribers", Nav: "import"})
}

func (u *ui) userID(c echo.Context) int64 { return c.Get(ctxSession).(session).UserID }

// uploadImport streams the file into a new import job and sends the
// marketer on to the mapping. It runs outside the UI's body limit and its
// CSRF middleware, which would read the whole body first: the form's csrf
// field comes before the file, and is checked before the file is read.
func (u *ui) uploadImport(c echo.Context) error {
	unavailable := errs.NotFoundf("the import is not available") // said only past the CSRF check
	page := uiPage{Title: "Import subscribers", Nav: "import"}
	refuse := func(status int, msg string) error {
		page.Error = msg
		return u.render(c, status, "import", page)
	}
	r := c.Request()
	expired := &errs.Error{Kind: errs.Forbidden, Msg: u.tr(c, "This form has expired. Please go back, reload the page and try again.")}
	if !sameOrigin(r) {
		return expired
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		r.Body = http.MaxBytesReader(c.Response(), r.Body, 64<<10)
		if !u.sess.validCSRF(c.Get(ctxSession).(session), c.FormValue(csrfField)) {
			return expired
		}
		return refuse(http.StatusUnprocessableEntity, u.tr(c, "Choose a file to upload."))
	}
	// A large file takes longer than the server's read timeout.
	http.NewResponseController(c.Response()).SetReadDeadline(time.Time{})
	mr, err := r.MultipartReader()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	csrfOK := false
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errs.Malformedf("", "unreadable form")
		}
		switch part.FormName() {
		case csrfField:
			b, _ := io.ReadAll(io.LimitReader(part, 256))
			csrfOK = u.sess.validCSRF(c.Get(ctxSession).(session), string(b))
		case "file":
			if !csrfOK {
				return expired
			}
			if u.imports == nil {
				return unavailable
			}
			if part.FileName() == "" {
				return refuse(http.StatusUnprocessableEntity, u.tr(c, "Choose a file to upload."))
			}
			j, err := u.imports.Upload(r.Context(), u.userID(c), part.FileName(), part)
			if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
				return refuse(http.StatusUnprocessableEntity, u.fileMessage(c, e))
			}
			if err != nil {
				return err
			}
			return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
		}
		part.Close()
	}
	if !csrfOK {
		return expired
	}
	return refuse(http.StatusUnprocessableEntity, u.tr(c, "Choose a file to upload."))
}

// fileMessage translates what imports says about a file.
func (u *ui) fileMessage(c echo.Context, e *errs.Error) string {
	if e.Err != nil {
		return strings.TrimSpace(u.tr(c, e.Msg) + " " + e.Err.Error())
	}
	return u.tr(c, e.Msg)
}

// importJobData is the import page: the mapping and the dry run's report
// until the import starts, then its progress.
type importJobData struct {
	imports.Job
	Size     string
	ReadAs   string // how the file was read, in words
	Uses     []string
	Lists    []subscribers.List
	Progress *importProgressData
	Field    string
	Broken   map[string]int // column header -> rows with problems, after a check
}

func (u *ui) job(c echo.Context) (imports.Job, error) {
	if u.imports == nil {
		return imports.Job{}, errs.NotFoundf("the import is not available")
	}
	return u.imports.Get(c.Request().Context(), c.Param("id"), u.userID(c))
}

func (u *ui) importJobPage(c echo.Context) error {
	j, err := u.job(c)
	if err != nil {
		return err
	}
	return u.renderImportJob(c, http.StatusOK, j, "", "")
}

func (u *ui) renderImportJob(c echo.Context, status int, j imports.Job, msg, field string) error {
	lang := u.lang(c)
	d := importJobData{Job: j, Size: formatBytes(lang, j.Size), ReadAs: u.readAs(c, j.Format), Uses: imports.Uses, Field: field,
		Broken: map[string]int{}}
	if j.Report != nil {
		for _, p := range j.Report.Columns {
			for _, h := range strings.Split(p.Column, ", ") { // the name's columns come joined
				d.Broken[h] += p.Rows
			}
		}
	}
	if j.Status == imports.StatusRunning || j.Ended() {
		p := u.importProgress(c, j)
		d.Progress = &p
	}
	if u.subscribers != nil {
		var err error
		if d.Lists, err = u.subscribers.Lists(c.Request().Context()); err != nil {
			return err
		}
	}
	return u.render(c, status, "importjob", uiPage{Title: "Import subscribers", Nav: "import", Error: msg, Data: d})
}

// readAs says how the file is read: the preview tells the marketer that a
// file from German Excel was recognised.
func (u *ui) readAs(c echo.Context, f imports.Format) string {
	enc := map[string]string{
		imports.UTF8:        "UTF-8",
		imports.UTF8BOM:     "UTF-8 (with byte order mark)",
		imports.UTF16LE:     "UTF-16 (Unicode text)",
		imports.UTF16BE:     "UTF-16 (Unicode text)",
		imports.Windows1252: "Windows-1252 (as saved by Excel)",
	}[f.Encoding]
	s := fmt.Sprintf(u.tr(c, "Read as %s."), u.tr(c, enc))
	switch f.Compression {
	case "gzip":
		s += " " + u.tr(c, "Unpacked from gzip.")
	case "zip":
		s += " " + fmt.Sprintf(u.tr(c, "Read from %s in the zip file."), f.Member)
	}
	return s
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

// checkImport reads the mapping and consent, then runs the dry run.
func (u *ui) checkImport(c echo.Context) error {
	j, err := u.job(c)
	if err != nil {
		return err
	}
	if j.Status != imports.StatusUploaded && j.Status != imports.StatusChecked {
		return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
	}
	form, err := c.FormParams()
	if err != nil {
		return errs.Malformedf("", "unreadable form")
	}
	ctx := c.Request().Context()
	// Another separator: the columns are different ones, so read them again.
	if comma := form.Get("comma"); comma != j.Format.Comma && (comma == "," || comma == ";" || comma == "\t") {
		nj, err := u.imports.SetComma(ctx, j.ID, u.userID(c), comma)
		if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
			return u.renderImportJob(c, http.StatusUnprocessableEntity, j, u.fileMessage(c, e), "comma")
		}
		if err != nil {
			return err
		}
		return u.renderImportJob(c, http.StatusOK, nj,
			u.tr(c, "The file was read again with the new separator. Check the columns, then check the file."), "columns")
	}
	s := imports.Settings{Columns: make([]imports.Column, len(j.Header)), Lists: form["lists"], Locale: form.Get("locale"),
		ConsentSource: form.Get("consent_source"), ConsentText: form.Get("consent_text")}
	for i := range s.Columns {
		s.Columns[i] = imports.Column{Header: j.Header[i], Use: form.Get("use." + strconv.Itoa(i)),
			Key: strings.TrimSpace(form.Get("key." + strconv.Itoa(i)))}
	}
	nj, err := u.imports.Check(ctx, j.ID, u.userID(c), s)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		j.Settings, j.Report = s, nil
		return u.renderImportJob(c, http.StatusUnprocessableEntity, j, u.tr(c, e.Msg), e.Field)
	}
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/ui/import/"+nj.ID+"#report")
}

// runImport starts the import of the rows the last dry run passed (or
// continues one an error stopped).
func (u *ui) runImport(c echo.Context) error {
	j, err := u.job(c)
	if err != nil {
		return err
	}
	if j, err = u.imports.Start(c.Request().Context(), j.ID, u.userID(c)); err != nil {
		if errs.Is(err, errs.Conflict) {
			return u.renderImportJob(c, http.StatusConflict, j, u.tr(c, "Check the file first: there is nothing to import yet."), "")
		}
		return err
	}
	u.log.Info("import started", "import", j.ID, "user_id", j.UserID)
	u.srv.record(c, "import.run", "import "+j.ID, j.FileName)
	// The import outlives the request but not the server: Close cancels it
	// (its lease is given up, and the next start resumes it) and waits.
	u.srv.bg.Add(1)
	go func() {
		defer u.srv.bg.Done()
		u.imports.Run(u.srv.bgCtx, j.ID) // logs its own errors and records them on the job
	}()
	return c.Redirect(http.StatusSeeOther, "/ui/import/"+j.ID)
}

// importProgressData is the progress fragment.
type importProgressData struct {
	imports.Job
	imports.Progress
	Finished, Stopped bool
	Rate, Left        string // "" while unknown
	CSRF              string // for the button that continues a stopped import
}

func (u *ui) importProgress(c echo.Context, j imports.Job) importProgressData {
	lang := u.lang(c)
	p := importProgressData{Job: j, Progress: j.Progress(u.db.Now()), Finished: j.Ended(), Stopped: j.Status == imports.StatusFailed,
		CSRF: u.sess.csrfToken(c.Get(ctxSession).(session))}
	if p.Progress.Rate > 0 {
		p.Rate = fmt.Sprintf(u.tr(c, "%s rows per second"), formatNum(lang, int64(p.Progress.Rate+0.5)))
	}
	if p.Remaining > 0 {
		p.Left = fmt.Sprintf(u.tr(c, "about %s left"), roughDuration(p.Remaining))
	}
	return p
}

// roughDuration is an estimate in words: seconds, minutes, or hours and minutes.
func roughDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(max(1, int(d.Seconds()+0.5))) + " s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes()+0.5)) + " min"
	}
	return strconv.Itoa(int(d.Hours())) + " h " + strconv.Itoa(int(d.Minutes())%60) + " min"
}

// importProgressFragment answers the progress bar. It waits up to
// importPoll for the import to end, so the page's next request (sent as soon
// as this one is answered) needs no timer of its own and a finished import
// shows at once.
func (u *ui) importProgressFragment(c echo.Context) error {
	j, err := u.job(c)
	if err != nil {
		return err
	}
	if j.Status != imports.StatusRunning && !j.Ended() {
		return errs.NotFoundf("the import has not started")
	}
	t := time.NewTimer(importPoll)
	defer t.Stop()
	ctx := c.Request().Context()
wait:
	for !j.Ended() {
		updated := u.imports.Updated()
		if j, err = u.imports.Get(ctx, j.ID, u.userID(c)); err != nil {
			return err
		}
		if j.Ended() {
			break
		}
		select {
		case <-updated:
		case <-t.C:
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	return u.renderFragment(c, "importjob", "importprogress", u.importProgress(c, j))
}
