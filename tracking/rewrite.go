package tracking

import (
	"context"
	"fmt"
	"html"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/treu-mail/treu/store"
)

// Recipient is who a mail goes to, as far as tracking may know.
type Recipient struct {
	SubscriberID int64
	// Tracking: the subscriber consented to per-person tracking. Without it
	// the links name nobody and the mail has no open pixel.
	Tracking bool
	// SentAt is when the mail goes out (default now); it tells a proxy's
	// prefetch on delivery from a person's open.
	SentAt time.Time
}

// Links rewrites one mail's links; one per mail, shared by the send workers.
// It remembers the links it registered, so each costs a database write once
// per mail, not once per recipient.
type Links struct {
	s          *Service
	mail       Mail
	utm        string // the UTM query for this mail, "" for none
	prefix     string // BASE/l/
	prefixHTML string // the same, escaped for an attribute
	pixelHTML  string // BASE/o/, escaped
	own        string // BASE/ : links under it are Treu's own and stay
	unsub      string // BASE/unsubscribe/
	unsubQuery string // ?m=TOKEN: which mail an unsubscribe came from

	mu      sync.RWMutex
	byURL   map[string]entry
	pixel   int64
	pixelOK atomic.Bool // the pixel's link is stored (committed)
}

type entry struct {
	id       int64
	anon     string // BASE/l/TOKEN without a recipient
	anonHTML string // the same, escaped for an attribute
}

// maxLinkURL: longer links are left as they are.
const maxLinkURL = 2000

// maxCachedLinks per mail: a mail with per-recipient URLs (an attribute as a
// link) registers each, but the cache stays bounded.
const maxCachedLinks = 10_000

// Links returns the rewriter of mail m.
func (s *Service) Links(m Mail) *Links {
	utm := ""
	if m.UTM && s.cfg.UTM != "" {
		utm = strings.NewReplacer("{slug}", url.QueryEscape(m.Slug), "{id}", strconv.FormatInt(m.ID, 10)).Replace(s.cfg.UTM)
	}
	key := m.Key + "\x00" + utm
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.mails[key]; l != nil {
		return l
	}
	if len(s.mails) >= 1000 {
		clear(s.mails) // finished campaigns' rewriters; the next mails make new ones
	}
	l := &Links{s: s, mail: m, utm: utm, prefix: s.cfg.BaseURL + "/l/", own: s.cfg.BaseURL + "/",
		prefixHTML: html.EscapeString(s.cfg.BaseURL + "/l/"), pixelHTML: html.EscapeString(s.cfg.BaseURL + "/o/"),
		byURL: map[string]entry{}, pixel: s.codec.linkID(m.Key, ""), unsub: s.cfg.BaseURL + "/unsubscribe/"}
	l.unsubQuery = "?m=" + string(s.codec.seal(token{link: l.pixel}, nil))
	s.mails[key] = l
	return l
}

// Mail is the mail these links belong to.
func (l *Links) Mail() Mail { return l.mail }

const insertLink = `INSERT INTO links (id, mail, url, target, created_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (id) DO NOTHING`

// Rewrite replaces every http(s) link of a rendered mail (HTML hrefs of <a>,
// URLs in the text part) with a tracked redirect, and adds the open pixel for
// a recipient who allows tracking. Links under the instance's base URL
// (unsubscribe, preferences, confirm) stay as they are. New links are
// registered in tx when it is not nil (a caller's transaction, which must
// not wait for the writer it holds), else in a transaction of their own.
func (l *Links) Rewrite(ctx context.Context, tx *store.Tx, htmlPart, textPart string, r Recipient) (string, string, error) {
	if r.SentAt.IsZero() {
		r.SentAt = l.s.now()
	}
	if !r.Tracking || r.SubscriberID <= 0 || r.SubscriberID > 0xFFFFFFFF {
		r.Tracking, r.SubscriberID = false, 0
	}
	// The pixel's link also names the mail in its unsubscribe links, so it
	// is registered for every mail, tracked or not.
	{
		switch {
		case tx != nil:
			// Links registered in a transaction that may still roll back are
			// not remembered, so each mail registers its own (an idempotent insert).
			if err := l.register(ctx, tx, []string{""}); err != nil {
				return "", "", err
			}
		case !l.pixelOK.Load():
			if err := l.Prepare(ctx); err != nil {
				return "", "", err
			}
		}
	}
	h, err := l.rewriteHTML(ctx, tx, htmlPart, r)
	if err != nil {
		return "", "", err
	}
	t, err := l.rewriteText(ctx, tx, textPart, r)
	if err != nil {
		return "", "", err
	}
	return h, t, nil
}

func (l *Links) rewriteHTML(ctx context.Context, tx *store.Tx, s string, r Recipient) (string, error) {
	var b strings.Builder
	copied, pos := 0, 0
	for {
		j := strings.Index(s[pos:], `href="`)
		if j < 0 {
			break
		}
		attr := pos + j
		start := attr + len(`href="`)
		end := strings.IndexByte(s[start:], '"')
		if end < 0 {
			break
		}
		end += start
		pos = end
		raw := s[start:end]
		if !isHTTP(raw) || !inAnchor(s, attr) {
			continue
		}
		u := raw
		if strings.IndexByte(raw, '&') >= 0 {
			u = html.UnescapeString(raw)
		}
		if strings.HasPrefix(u, l.own) {
			if strings.HasPrefix(u, l.unsub) && !strings.Contains(u, "?") {
				// Not redirected: it only learns which mail it came from.
				if b.Len() == 0 {
					b.Grow(len(s) + 1024)
				}
				b.WriteString(s[copied:end])
				b.WriteString(l.unsubQuery)
				copied = end
			}
			continue
		}
		if len(u) > maxLinkURL {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + 1024)
		}
		b.WriteString(s[copied:start])
		if err := l.write(ctx, tx, &b, u, r, true); err != nil {
			return "", err
		}
		copied = end
	}
	pixelAt := -1
	if r.Tracking {
		if pixelAt = strings.LastIndex(s, "</body>"); pixelAt < copied {
			pixelAt = len(s)
		}
	}
	if copied == 0 && pixelAt < 0 {
		return s, nil // nothing to change
	}
	if pixelAt < 0 {
		b.WriteString(s[copied:])
		return b.String(), nil
	}
	b.WriteString(s[copied:pixelAt])
	b.WriteString(`<img src="`)
	b.WriteString(l.pixelHTML)
	var buf [TokenLen]byte
	b.Write(l.s.codec.seal(token{link: l.pixel, sub: r.SubscriberID, sent: r.SentAt}, buf[:0]))
	b.WriteString(`" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">`)
	b.WriteString(s[pixelAt:])
	return b.String(), nil
}

func (l *Links) rewriteText(ctx context.Context, tx *store.Tx, s string, r Recipient) (string, error) {
	var b strings.Builder
	copied, pos := 0, 0
	for {
		j := strings.Index(s[pos:], "http")
		if j < 0 {
			break
		}
		start := pos + j
		pos = start + 4
		if !isHTTP(s[start:]) || (start > 0 && isWordByte(s[start-1])) {
			continue
		}
		end := start
		for end < len(s) && !isURLEnd(s[end]) {
			end++
		}
		// Sentence punctuation after a link is not part of it, nor is the
		// ")" that closes "text (url)".
		for end > start && strings.IndexByte(".,;:!?'", s[end-1]) >= 0 {
			end--
		}
		if end > start && s[end-1] == ')' && strings.Count(s[start:end], ")") > strings.Count(s[start:end], "(") {
			end-- // a ")" without its "(" in the URL closes the text around it
		}
		pos = end
		u := s[start:end]
		if strings.HasPrefix(u, l.unsub) && !strings.Contains(u, "?") {
			if b.Len() == 0 {
				b.Grow(len(s) + 512)
			}
			b.WriteString(s[copied:end])
			b.WriteString(l.unsubQuery)
			copied = end
			continue
		}
		if strings.HasPrefix(u, l.own) || len(u) > maxLinkURL || !strings.Contains(u[len("http://"):], ".") {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(s) + 512)
		}
		b.WriteString(s[copied:start])
		if err := l.write(ctx, tx, &b, u, r, false); err != nil {
			return "", err
		}
		copied = end
	}
	if copied == 0 {
		return s, nil
	}
	b.WriteString(s[copied:])
	return b.String(), nil
}

// write appends the tracked URL for u.
func (l *Links) write(ctx context.Context, tx *store.Tx, b *strings.Builder, u string, r Recipient, escape bool) error {
	e, err := l.entry(ctx, tx, u)
	if err != nil {
		return err
	}
	if !r.Tracking {
		if escape {
			b.WriteString(e.anonHTML)
		} else {
			b.WriteString(e.anon)
		}
		return nil
	}
	if escape {
		b.WriteString(l.prefixHTML)
	} else {
		b.WriteString(l.prefix)
	}
	var buf [TokenLen]byte
	b.Write(l.s.codec.seal(token{link: e.id, sub: r.SubscriberID, sent: r.SentAt}, buf[:0]))
	return nil
}

// entry returns u's link, registering it first if needed.
func (l *Links) entry(ctx context.Context, tx *store.Tx, u string) (entry, error) {
	l.mu.RLock()
	e, ok := l.byURL[u]
	l.mu.RUnlock()
	if ok && tx == nil {
		return e, nil
	}
	if err := l.register(ctx, tx, []string{u}); err != nil {
		return entry{}, err
	}
	id := l.s.codec.linkID(l.mail.Key, u)
	e = entry{id: id, anon: l.prefix + string(l.s.codec.seal(token{link: id}, nil))}
	e.anonHTML = html.EscapeString(e.anon)
	l.mu.Lock()
	if len(l.byURL) < maxCachedLinks {
		l.byURL[u] = e
	}
	l.mu.Unlock()
	return e, nil
}

// register stores the links of urls ("" is the open pixel).
func (l *Links) register(ctx context.Context, tx *store.Tx, urls []string) error {
	if len(urls) == 0 {
		return nil
	}
	write := func(tx *store.Tx) error {
		for _, u := range urls {
			target := u
			if u != "" {
				target = addQuery(u, l.utm)
			}
			if _, err := tx.ExecContext(ctx, insertLink, l.s.codec.linkID(l.mail.Key, u), l.mail.Key, u, target, tx.Now.Unix()); err != nil {
				return fmt.Errorf("tracking: register a link of %s: %w", l.mail.Key, err)
			}
		}
		return nil
	}
	if tx != nil {
		return write(tx)
	}
	return l.s.db.Tx(ctx, write)
}

// UnsubscribeURL adds to a subscriber's unsubscribe link (the
// List-Unsubscribe header's) which mail it came from: the mail's token,
// naming no one. The link is not redirected.
func (l *Links) UnsubscribeURL(u string) string {
	if !strings.HasPrefix(u, l.unsub) || strings.Contains(u, "?") {
		return u
	}
	return u + l.unsubQuery
}

// Prepare registers the open pixel of the mail ahead of sending, so that
// a rewrite without a transaction needs no write for it.
func (l *Links) Prepare(ctx context.Context) error {
	if err := l.register(ctx, nil, []string{""}); err != nil {
		return err
	}
	l.pixelOK.Store(true)
	return nil
}

// addQuery adds the pairs of query to u, except keys u has already (a
// shop's own utm_campaign wins), before any #fragment.
func addQuery(u, query string) string {
	if query == "" {
		return u
	}
	base, frag, hasFrag := strings.Cut(u, "#")
	have := url.Values{}
	if _, q, ok := strings.Cut(base, "?"); ok {
		have, _ = url.ParseQuery(q)
	}
	var add []string
	for _, kv := range strings.Split(query, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if kv == "" || have.Has(k) {
			continue
		}
		add = append(add, kv)
	}
	if len(add) == 0 {
		return u
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
		if strings.HasSuffix(base, "?") || strings.HasSuffix(base, "&") {
			sep = ""
		}
	}
	out := base + sep + strings.Join(add, "&")
	if hasFrag {
		out += "#" + frag
	}
	return out
}

func isHTTP(s string) bool {
	return len(s) > 8 && (strings.EqualFold(s[:7], "http://") || strings.EqualFold(s[:8], "https://"))
}

// inAnchor reports whether the attribute at i belongs to an <a> tag, not a
// <link> in the head or an <area>.
func inAnchor(s string, i int) bool {
	lt := strings.LastIndexByte(s[:i], '<')
	if lt < 0 || lt+2 >= len(s) || strings.IndexByte(s[lt:i], '>') >= 0 {
		return false
	}
	return (s[lt+1] == 'a' || s[lt+1] == 'A') && (s[lt+2] == ' ' || s[lt+2] == '\n' || s[lt+2] == '\t' || s[lt+2] == '\r')
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '='
}

func isURLEnd(c byte) bool {
	return c <= ' ' || c == '<' || c == '>' || c == '"' || c == 0x7f
}
