package subscribers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
	"time"

	"github.com/treu-mail/treu/internal/errs"
)

// Purpose says what a customer link may do. The purpose is signed, so a
// confirmation link cannot be turned into an unsubscribe link or back.
type Purpose byte

const (
	// PurposeConfirm confirms a double opt-in; it expires with PendingTTL.
	PurposeConfirm Purpose = 1
	// PurposeManage opens the unsubscribe and preferences pages. It does not
	// expire: an unsubscribe link in a mail from last year must still work.
	PurposeManage Purpose = 2
)

// Token layout, before base64url: version(1) purpose(1) subscriber id(8)
// issued-at unix seconds(8) | first 16 bytes of HMAC-SHA256 over the 18 bytes
// before. 128 bits of MAC make forging hopeless; the id is inside the signed
// part, so counting ids gets an attacker nothing.
const (
	tokenVersion = 1
	tokenBody    = 18
	tokenMAC     = 16
	tokenRaw     = tokenBody + tokenMAC
)

// TokenLen is the length of every link token (46 characters of base64url).
var TokenLen = base64.RawURLEncoding.EncodedLen(tokenRaw)

// Errors of link tokens, wrapped in errs values: a forged or mangled link is a
// 404 (we do not say which part was wrong), an expired one a 422 the page can
// explain. errors.Is(err, ErrTokenExpired) tells them apart.
var (
	ErrTokenInvalid = errors.New("invalid link")
	ErrTokenExpired = errors.New("expired link")
)

func tokenInvalid() error {
	return &errs.Error{Kind: errs.NotFound, Msg: "this link is not valid", Err: ErrTokenInvalid}
}

func tokenExpired() error {
	return &errs.Error{Kind: errs.Invalid, Field: "token", Msg: "this link has expired", Err: ErrTokenExpired}
}

// linkSigner signs and checks link tokens with a key derived from the
// configured secret, so the same secret can safely sign other things too.
type linkSigner struct {
	pool sync.Pool // of hash.Hash (HMAC-SHA256 with the derived key)
}

func newLinkSigner(secret []byte) *linkSigner {
	d := hmac.New(sha256.New, secret)
	d.Write([]byte("treu subscriber links v1"))
	key := d.Sum(nil)
	ls := &linkSigner{}
	ls.pool.New = func() any { return hmac.New(sha256.New, key) }
	return ls
}

func (ls *linkSigner) mac(body []byte, out []byte) []byte {
	h := ls.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	out = h.Sum(out)
	ls.pool.Put(h)
	return out
}

// Sign makes a token for subscriber id and purpose, issued at iat.
func (ls *linkSigner) Sign(p Purpose, id int64, iat time.Time) string {
	var buf [tokenBody + sha256.Size]byte
	buf[0] = tokenVersion
	buf[1] = byte(p)
	binary.BigEndian.PutUint64(buf[2:10], uint64(id))
	binary.BigEndian.PutUint64(buf[10:18], uint64(iat.Unix()))
	ls.mac(buf[:tokenBody], buf[:tokenBody])
	return base64.RawURLEncoding.EncodeToString(buf[:tokenRaw])
}

// Parse checks a token's signature and purpose and returns the subscriber id
// and issue time. Expiry is the caller's business (it depends on the purpose).
func (ls *linkSigner) Parse(tok string, want Purpose) (int64, time.Time, error) {
	if len(tok) != TokenLen {
		return 0, time.Time{}, tokenInvalid()
	}
	var raw [tokenRaw]byte
	// Strict: the unused low bits of the last character must be zero, so
	// every token has exactly one spelling.
	n, err := base64.RawURLEncoding.Strict().Decode(raw[:], []byte(tok))
	if err != nil || n != tokenRaw {
		return 0, time.Time{}, tokenInvalid()
	}
	var sum [sha256.Size]byte
	mac := ls.mac(raw[:tokenBody], sum[:0])
	// Constant time: the comparison must not tell an attacker how many bytes matched.
	if !hmac.Equal(mac[:tokenMAC], raw[tokenBody:]) {
		return 0, time.Time{}, tokenInvalid()
	}
	if raw[0] != tokenVersion || Purpose(raw[1]) != want {
		return 0, time.Time{}, tokenInvalid()
	}
	id := int64(binary.BigEndian.Uint64(raw[2:10]))
	iat := int64(binary.BigEndian.Uint64(raw[10:18]))
	if id <= 0 || iat <= 0 {
		return 0, time.Time{}, tokenInvalid()
	}
	return id, unixTime(iat), nil
}

// ConfirmToken is the token of a confirmation link issued now.
func (s *Service) confirmToken(id int64, now time.Time) string {
	return s.links.Sign(PurposeConfirm, id, now)
}

// ManageToken is the token behind a subscriber's unsubscribe and preferences
// links. Campaigns call it once per recipient; it costs one HMAC.
func (s *Service) ManageToken(id int64) string {
	return s.links.Sign(PurposeManage, id, s.db.Now())
}

// ManageURLs returns a subscriber's one-click unsubscribe link (List-Unsubscribe
// and the footer) and preferences link, with one token: one HMAC per mail.
func (s *Service) ManageURLs(id int64) (unsubscribe, preferences string) {
	t := s.ManageToken(id)
	return s.cfg.BaseURL + "/unsubscribe/" + t, s.cfg.BaseURL + "/preferences/" + t
}
