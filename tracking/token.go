package tracking

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"time"
)

// A tracking token is one AES-128 block, base64url: 22 characters.
//
//	link id (8 bytes) | subscriber id (4) | sent at, Unix seconds (4)
//
// AES under a secret key is a pseudorandom permutation on one block, so the
// token is also its own MAC: a changed or made-up token decrypts to a random
// block, whose link id names a stored link with odds of (links / 2^63), and
// whose subscriber and time halves must agree (both zero or both set). One
// block encryption costs tens of nanoseconds, where an HMAC per link per
// recipient would cost a microsecond: rewriting stays cheap at send time.
//
// Without tracking consent the subscriber and time are zero: every recipient
// of a mail gets the same token for a link, which names nobody.
const (
	tokenRaw = aes.BlockSize
	// TokenLen is the length of every tracking token.
	TokenLen = 22
)

// token is what a tracking token says.
type token struct {
	link int64
	sub  int64     // 0: anonymous
	sent time.Time // zero when anonymous
}

// codec seals and opens tokens, and derives link ids; safe for concurrent use.
type codec struct {
	block cipher.Block
	idKey []byte
}

func newCodec(secret []byte) *codec {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("treu tracking tokens v1")[:16])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return &codec{block: block, idKey: derive("treu tracking link ids v1")}
}

// linkID is the id of url in mail: a keyed hash, positive, never 0. Keyed, so
// nobody outside can predict the ids of a mail's links.
func (c *codec) linkID(mail, url string) int64 {
	m := hmac.New(sha256.New, c.idKey)
	m.Write([]byte(mail))
	m.Write([]byte{0})
	m.Write([]byte(url))
	var sum [sha256.Size]byte
	id := int64(binary.BigEndian.Uint64(m.Sum(sum[:0])) >> 1)
	if id == 0 {
		id = 1
	}
	return id
}

// seal makes the token; t.sub beyond 32 bits is treated as anonymous.
func (c *codec) seal(t token, dst []byte) []byte {
	var b [tokenRaw]byte
	binary.BigEndian.PutUint64(b[0:8], uint64(t.link))
	if t.sub > 0 && t.sub <= 0xFFFFFFFF && !t.sent.IsZero() {
		binary.BigEndian.PutUint32(b[8:12], uint32(t.sub))
		binary.BigEndian.PutUint32(b[12:16], uint32(max(t.sent.Unix(), 1)))
	}
	c.block.Encrypt(b[:], b[:])
	return base64.RawURLEncoding.AppendEncode(dst, b[:])
}

// open reads a token; ok is false for anything that is not one of ours.
func (c *codec) open(s string) (token, bool) {
	if len(s) != TokenLen {
		return token{}, false
	}
	var b [tokenRaw]byte
	// Strict: one spelling per token (the unused low bits must be zero).
	n, err := base64.RawURLEncoding.Strict().Decode(b[:], []byte(s))
	if err != nil || n != tokenRaw {
		return token{}, false
	}
	c.block.Decrypt(b[:], b[:])
	link := binary.BigEndian.Uint64(b[0:8])
	sub := binary.BigEndian.Uint32(b[8:12])
	sent := binary.BigEndian.Uint32(b[12:16])
	if link == 0 || link>>63 != 0 || (sub == 0) != (sent == 0) {
		return token{}, false
	}
	t := token{link: int64(link), sub: int64(sub)}
	if sent != 0 {
		t.sent = time.Unix(int64(sent), 0).UTC()
	}
	return t, true
}
