package web

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/treu-mail/treu/coupons"
	"github.com/treu-mail/treu/internal/errs"
)

// uiCoupons is what the UI needs of *coupons.Service.
type uiCoupons interface {
	CreatePool(ctx context.Context, slug, name string) (coupons.Pool, error)
	List(ctx context.Context) ([]coupons.Pool, error)
	Get(ctx context.Context, slug string) (coupons.Pool, error)
	AddCodes(ctx context.Context, slug string, codes []string) (int, error)
	ImportCSV(ctx context.Context, slug string, r io.Reader) (int, error)
	Generate(ctx context.Context, slug, pattern string, n int) (int, error)
}

// maxCodesFile bounds a CSV of coupon codes, as the API does.
const maxCodesFile = 16 << 20

type poolRow struct {
	coupons.Pool
	Left   int64
	UsedBy []string // flows whose steps draw from the pool
}

type poolsData struct {
	Pools []poolRow
	Form  poolForm
}

type poolForm struct{ Slug, Name, Field string }

// poolRows adds what is left and who uses each pool.
func (u *ui) poolRows(ctx context.Context, pools []coupons.Pool) ([]poolRow, error) {
	used := map[string][]string{}
	if u.flows != nil {
		list, err := u.flows.List(ctx)
		if err != nil {
			return nil, err
		}
		used = poolsUsedBy(list)
	}
	out := make([]poolRow, len(pools))
	for i, p := range pools {
		out[i] = poolRow{Pool: p, Left: p.Total - p.Assigned, UsedBy: used[p.Slug]}
	}
	return out, nil
}

func (u *ui) poolList(c echo.Context) error {
	return u.renderPools(c, http.StatusOK, poolForm{}, u.flashOf(c), "")
}

func (u *ui) renderPools(c echo.Context, status int, f poolForm, flash, msg string) error {
	if u.coupons == nil {
		return errs.NotFoundf("coupons are not available")
	}
	ctx := c.Request().Context()
	pools, err := u.coupons.List(ctx)
	if err != nil {
		return err
	}
	d := poolsData{Form: f}
	if d.Pools, err = u.poolRows(ctx, pools); err != nil {
		return err
	}
	return u.render(c, status, "coupons", uiPage{Title: "Coupons", Nav: "coupons", Flash: flash, Error: msg, Data: d})
}

func (u *ui) createPool(c echo.Context) error {
	if u.coupons == nil {
		return errs.NotFoundf("coupons are not available")
	}
	f := poolForm{Slug: strings.TrimSpace(c.FormValue("slug")), Name: c.FormValue("name")}
	p, err := u.coupons.CreatePool(c.Request().Context(), f.Slug, f.Name)
	if e, ok := errs.As(err); ok && (e.Kind == errs.Invalid || e.Kind == errs.Conflict) {
		f.Field = e.Field
		if e.Kind == errs.Conflict {
			f.Field = "slug"
		}
		return u.renderPools(c, kindStatus[e.Kind], f, "", e.Msg)
	}
	if err != nil {
		return err
	}
	return u.redirectDone(c, "/ui/coupons/"+p.Slug, "pool-created")
}

// poolData is one pool's page; the forms keep what was typed on an error.
type poolData struct {
	Pool           poolRow
	Codes          string
	Pattern, Count string
	Field          string // codes, csv, pattern or count
}

func (u *ui) poolPage(c echo.Context) error {
	flash := u.flashOf(c)
	if c.QueryParam("done") == "codes-added" {
		// The number only, never text, comes from the URL.
		switch n, err := strconv.Atoi(c.QueryParam("n")); {
		case err != nil || n < 0:
		case n == 1:
			flash = u.tr(c, "Added 1 new code. Codes already in the pool were skipped.")
		default:
			flash = fmt.Sprintf(u.tr(c, "Added %s new codes. Codes already in the pool were skipped."), formatNum(u.lang(c), n))
		}
	}
	return u.renderPool(c, http.StatusOK, poolData{Pattern: "SPRING-XXXX-XXXX", Count: "100"}, flash, "")
}

func (u *ui) renderPool(c echo.Context, status int, d poolData, flash, msg string) error {
	p, err := u.pool(c)
	if err != nil {
		return err
	}
	rows, err := u.poolRows(c.Request().Context(), []coupons.Pool{p})
	if err != nil {
		return err
	}
	d.Pool = rows[0]
	return u.render(c, status, "coupon", uiPage{Title: "Coupons", Nav: "coupons", Flash: flash, Error: msg, Data: d})
}

func (u *ui) pool(c echo.Context) (coupons.Pool, error) {
	if u.coupons == nil {
		return coupons.Pool{}, errs.NotFoundf("no such coupon pool")
	}
	return u.coupons.Get(c.Request().Context(), c.Param("slug"))
}

var codeIndexRe = regexp.MustCompile(`^codes\[(\d+)\]`)

// addCodes adds the codes typed into the textarea, one per line.
func (u *ui) addCodes(c echo.Context) error {
	p, err := u.pool(c)
	if err != nil {
		return err
	}
	text := c.FormValue("codes")
	var codes []string
	var lines []int // the textarea line of each code, for error messages
	for i, line := range strings.Split(text, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			codes = append(codes, line)
			lines = append(lines, i+1)
		}
	}
	if len(codes) == 0 {
		return u.renderPool(c, http.StatusUnprocessableEntity, poolData{Codes: text, Field: "codes"}, "", u.tr(c, "Type at least one code."))
	}
	n, err := u.coupons.AddCodes(c.Request().Context(), p.Slug, codes)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		msg := e.Msg
		if m := codeIndexRe.FindStringSubmatch(e.Field); m != nil {
			if i, _ := strconv.Atoi(m[1]); i < len(lines) {
				msg = fmt.Sprintf(u.tr(c, "Line %d: %s"), lines[i], strings.TrimPrefix(msg, m[0]+" "))
			}
		}
		return u.renderPool(c, http.StatusUnprocessableEntity, poolData{Codes: text, Field: "codes"}, "", msg)
	}
	if err != nil {
		return err
	}
	return u.codesAdded(c, p.Slug, n)
}

func (u *ui) codesAdded(c echo.Context, slug string, n int) error {
	u.log.Info("coupon codes added in the UI", "pool", slug, "added", n, "user_id", c.Get(ctxSession).(session).UserID)
	return c.Redirect(http.StatusSeeOther, "/ui/coupons/"+slug+"?done=codes-added&n="+strconv.Itoa(n))
}

// importCodes adds the codes in the first column of an uploaded CSV file.
func (u *ui) importCodes(c echo.Context) error {
	p, err := u.pool(c)
	if err != nil {
		return err
	}
	file, err := formFile(c, "file", maxCodesFile)
	if err != nil {
		if status, msg, ok := u.uploadError(c, err, maxCodesFile); ok {
			return u.renderPool(c, status, poolData{Field: "csv"}, "", msg)
		}
		return err
	}
	defer file.Close()
	n, err := u.coupons.ImportCSV(c.Request().Context(), p.Slug, file)
	if e, ok := errs.As(err); ok && (e.Kind == errs.Invalid || e.Kind == errs.Malformed) {
		return u.renderPool(c, http.StatusUnprocessableEntity, poolData{Field: "csv"}, "", e.Msg)
	}
	if err != nil {
		return err
	}
	return u.codesAdded(c, p.Slug, n)
}

func (u *ui) generateCodes(c echo.Context) error {
	p, err := u.pool(c)
	if err != nil {
		return err
	}
	d := poolData{Pattern: strings.TrimSpace(c.FormValue("pattern")), Count: strings.TrimSpace(c.FormValue("count"))}
	n, err := strconv.Atoi(d.Count)
	if err != nil {
		d.Field = "count"
		return u.renderPool(c, http.StatusUnprocessableEntity, d, "", u.tr(c, "How many codes? Type a number."))
	}
	added, err := u.coupons.Generate(c.Request().Context(), p.Slug, d.Pattern, n)
	if e, ok := errs.As(err); ok && e.Kind == errs.Invalid {
		d.Field = e.Field
		return u.renderPool(c, http.StatusUnprocessableEntity, d, "", e.Msg)
	}
	if err != nil {
		return err
	}
	return u.codesAdded(c, p.Slug, added)
}

// formFile opens an uploaded file of at most max bytes: errs.Invalid when
// there is none, errs.TooLarge when it is larger.
//
// The form has been parsed before the handler runs (checkCSRF reads the
// token from it), so the size is checked on the parsed part.
func formFile(c echo.Context, field string, max int64) (io.ReadCloser, error) {
	fh, err := c.FormFile(field)
	if err != nil {
		return nil, errs.Invalidf(field, "no file")
	}
	if fh.Size > max {
		return nil, &errs.Error{Kind: errs.TooLarge, Field: field, Msg: "file too large"}
	}
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("web: open upload: %w", err)
	}
	return f, nil
}

// uploadError is the status and message for a formFile error, or false for
// an error that is not the user's.
func (u *ui) uploadError(c echo.Context, err error, max int64) (int, string, bool) {
	switch errs.KindOf(err) {
	case errs.Invalid:
		return http.StatusUnprocessableEntity, u.tr(c, "Choose a file to upload."), true
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge, fmt.Sprintf(u.tr(c, "The file is larger than %d MiB."), max>>20), true
	}
	return 0, "", false
}
