package feedback

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"strings"
	"sync"

	"github.com/treu-mail/treu/internal/errs"
)

// VERP return paths (variable envelope return path): every mail leaves with
// the envelope sender bounces+TOKEN@BOUNCE_DOMAIN, and a bounce comes back to
// that address, so it names the mail it is about without any guessing from
// the bounce's text.
//
// Token, before base32: version(1) type(1) then unsigned varints, followed by
// the first 10 bytes of HMAC-SHA256 over what comes before:
//
//	type 'd': campaign id, delivery id, subscriber id  (a campaign's delivery)
//	type 'q': mail id, subscriber id                   (a queued single mail)
//
// Base32 in lower case: local parts are case-sensitive in theory, but some
// relays lower-case them, and parsing ignores case. With ids below 2^35 the
// local part stays under RFC 5321's 64 octets (8 + 44). 80 bits of MAC: a
// forged token could only report a bounce, and guessing one takes 2^80 tries.
// The key is derived from the app secret under its own label, so a VERP token
// can never pass for a customer link or back.

const (
	verpVersion = 1
	verpMAC     = 10
	verpPrefix  = "bounces+"
	maxVERPBody = 2 + 3*binary.MaxVarintLen64
)

var verpEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Ref is what a bounce is about, as far as it is known: a campaign's
// delivery, or a queued mail (and the flow it was a step of), and the
// subscriber it went to.
type Ref struct {
	CampaignID   int64  `json:"campaign_id,omitempty"`
	DeliveryID   int64  `json:"delivery_id,omitempty"`
	MailID       int64  `json:"mail_id,omitempty"`
	Flow         string `json:"flow,omitempty"`
	SubscriberID int64  `json:"subscriber_id,omitempty"`
}

// VERP makes and reads return paths on one bounce domain.
type VERP struct {
	domain string
	pool   sync.Pool // of hash.Hash (HMAC-SHA256 with the derived key)
}

// NewVERP signs with a key derived from secret (at least 16 bytes).
func NewVERP(secret []byte, domain string) (*VERP, error) {
	if len(secret) < 16 {
		return nil, errs.Invalidf("secret", "the secret must hold at least 16 bytes")
	}
	domain = strings.ToLower(strings.TrimSpace(domain))
	if domain == "" || strings.ContainsAny(domain, "@ <>\r\n\t") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return nil, errs.Invalidf("bounce_domain", "bounce domain %q is not a domain name", domain)
	}
	d := hmac.New(sha256.New, secret)
	d.Write([]byte("treu verp v1"))
	key := d.Sum(nil)
	v := &VERP{domain: domain}
	v.pool.New = func() any { return hmac.New(sha256.New, key) }
	return v, nil
}

// Domain is the bounce domain.
func (v *VERP) Domain() string { return v.domain }

// Delivery is the return path of a campaign's delivery.
func (v *VERP) Delivery(campaignID, deliveryID, subscriberID int64) string {
	return v.address('d', uint64(campaignID), uint64(deliveryID), uint64(subscriberID))
}

// Mail is the return path of a queued single mail.
func (v *VERP) Mail(mailID, subscriberID int64) string {
	return v.address('q', uint64(mailID), uint64(subscriberID))
}

func (v *VERP) address(typ byte, ids ...uint64) string {
	var buf [maxVERPBody + sha256.Size]byte
	buf[0], buf[1] = verpVersion, typ
	n := 2
	for _, id := range ids {
		n += binary.PutUvarint(buf[n:], id)
	}
	raw := v.mac(buf[:n], buf[:n])[:n+verpMAC]
	var out [len(verpPrefix) + 64]byte
	b := append(out[:0], verpPrefix...)
	b = verpEnc.AppendEncode(b, raw)
	b = append(b, '@')
	b = append(b, v.domain...)
	return string(b)
}

func (v *VERP) mac(body, out []byte) []byte {
	h := v.pool.Get().(hash.Hash)
	h.Reset()
	h.Write(body)
	out = h.Sum(out)
	v.pool.Put(h)
	return out
}

// errVERP is every failure to read a return path: we do not say which part
// was wrong.
var errVERP = errs.Invalidf("to", "not a return path of this Treu")

// Parse reads a return path (with or without angle brackets). The domain must
// be the bounce domain and the signature valid.
func (v *VERP) Parse(addr string) (Ref, error) {
	addr = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(addr), "<"), ">")
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], v.domain) {
		return Ref{}, errVERP
	}
	local := addr[:at]
	if len(local) <= len(verpPrefix) || !strings.EqualFold(local[:len(verpPrefix)], verpPrefix) || len(local) > 100 {
		return Ref{}, errVERP
	}
	raw, err := verpEnc.DecodeString(strings.ToLower(local[len(verpPrefix):]))
	if err != nil || len(raw) < 2+verpMAC {
		return Ref{}, errVERP
	}
	body, tag := raw[:len(raw)-verpMAC], raw[len(raw)-verpMAC:]
	var sum [sha256.Size]byte
	if !hmac.Equal(v.mac(body, sum[:0])[:verpMAC], tag) || body[0] != verpVersion {
		return Ref{}, errVERP
	}
	var ids [3]int64
	want := map[byte]int{'d': 3, 'q': 2}[body[1]]
	if want == 0 {
		return Ref{}, errVERP
	}
	rest := body[2:]
	for i := range want {
		id, n := binary.Uvarint(rest)
		if n <= 0 || id > 1<<62 {
			return Ref{}, errVERP
		}
		ids[i], rest = int64(id), rest[n:]
	}
	if len(rest) != 0 {
		return Ref{}, errVERP
	}
	if body[1] == 'd' {
		return Ref{CampaignID: ids[0], DeliveryID: ids[1], SubscriberID: ids[2]}, nil
	}
	return Ref{MailID: ids[0], SubscriberID: ids[1]}, nil
}
