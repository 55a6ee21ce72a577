package mailer

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"strings"

	gomail "github.com/wneessen/go-mail"

	"github.com/treu-mail/treu/internal/errs"
)

// DKIM signs outgoing mail with go-mail's signer (RSA-SHA256 or Ed25519-SHA256).
type DKIM struct {
	signer *gomail.DKIMSigner
}

// signedHeaders adds the list headers to go-mail's defaults: RFC 8058 requires
// List-Unsubscribe and List-Unsubscribe-Post to be covered by the signature,
// or receivers ignore the one-click promise.
var signedHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "Reply-To",
	"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type",
}

// NewDKIM parses the private key (PEM, PKCS#1 or PKCS#8) once for all mail.
func NewDKIM(domain, selector string, keyPEM []byte) (*DKIM, error) {
	if !isListID(domain) || domain == "" {
		return nil, errs.Invalidf("dkim_domain", "dkim domain %q is not a domain", domain)
	}
	if !isListID(selector) || selector == "" {
		return nil, errs.Invalidf("dkim_selector", "dkim selector %q is not valid", selector)
	}
	key, err := gomail.PrivKeyFromPEM(keyPEM)
	if err != nil {
		return nil, errs.Invalidf("dkim_key", "dkim key: %v", err)
	}
	s := gomail.NewDKIMSigner(domain, selector, key)
	s.SignHeaders(signedHeaders...)
	s.OversignHeaders("From") // a second From added in transit breaks the signature
	if err := s.ValidateConfig(); err != nil {
		return nil, errs.Invalidf("dkim_key", "dkim: %v", err)
	}
	d := &DKIM{signer: s}
	// go-mail's Signer picks its algorithm lazily on the first Sign and stores
	// it in the shared struct; sign once here so concurrent senders only read.
	if _, err := d.sign([]byte("From: <a@" + domain + ">\r\n\r\nwarm-up\r\n")); err != nil {
		return nil, fmt.Errorf("mailer: dkim test signature: %w", err)
	}
	return d, nil
}

// sign returns the DKIM-Signature header line (with CRLF) for a built message.
func (d *DKIM) sign(raw []byte) (string, error) {
	headers, body := raw, []byte(nil)
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		headers, body = raw[:i+2], raw[i+4:]
	}
	sig, err := d.signer.Sign(headers, body)
	if err != nil {
		return "", fmt.Errorf("mailer: dkim sign: %w", err)
	}
	return refoldSignature(sig), nil
}

// refoldSignature works around go-mail v0.8.1 folding the DKIM-Signature
// header inside tag values ("h=...:List-Un<CRLF> subscribe-Post"): relaxed
// canonicalisation keeps the inserted space, so verifiers see a different
// h= than was signed and the signature fails (TestDKIMSignatureVerifies).
// go-mail signed the unfolded value; we undo its folds and fold again only
// after "; " (where relaxed canonicalisation collapses the extra space) and
// inside b= (whose whitespace verifiers drop).
func refoldSignature(sig string) string {
	v := strings.TrimSuffix(strings.TrimPrefix(sig, "DKIM-Signature: "), "\r\n")
	v = strings.NewReplacer("\r\n ", "", "\r\n\t", "").Replace(v)
	var b strings.Builder
	b.Grow(len(v) + 64)
	b.WriteString("DKIM-Signature:")
	col := len("DKIM-Signature:")
	for i, tag := range strings.Split(v, "; ") {
		if i > 0 {
			b.WriteByte(';')
			col++
		}
		if i > 0 && col+1+len(tag) > 76 {
			b.WriteString("\r\n")
			col = 0
		}
		b.WriteByte(' ')
		col++
		splittable := strings.HasPrefix(tag, "b=") // only b= is ever longer than a line
		for tag != "" {
			n := len(tag)
			if splittable {
				n = min(n, max(76-col, 8))
			}
			b.WriteString(tag[:n])
			col += n
			if tag = tag[n:]; tag != "" {
				b.WriteString("\r\n ")
				col = 1
			}
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// GenerateDKIM makes a new key pair for `treu dkim generate`: the private key
// as PKCS#8 PEM and the DNS TXT record to publish, in zone-file syntax.
// algo is "ed25519" or "rsa" (2048 bits). Publish RSA at least: not every
// receiver verifies Ed25519 signatures yet (RFC 8463 is from 2018).
func GenerateDKIM(selector, domain, algo string) (privPEM, dnsRecord string, err error) {
	if selector == "" || !isListID(selector) {
		return "", "", errs.Invalidf("selector", "selector %q is not valid", selector)
	}
	if domain == "" || !isListID(domain) {
		return "", "", errs.Invalidf("domain", "domain %q is not a domain", domain)
	}
	var (
		priv crypto.Signer
		pub  []byte
		k    string
	)
	switch algo {
	case "ed25519":
		pk, sk, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return "", "", err
		}
		priv, pub, k = sk, pk, "ed25519" // RFC 8463: p= is the raw 32-byte key
	case "rsa", "":
		sk, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return "", "", err
		}
		if pub, err = x509.MarshalPKIXPublicKey(&sk.PublicKey); err != nil {
			return "", "", err
		}
		priv, k = sk, "rsa"
	default:
		return "", "", errs.Invalidf("algo", "algorithm must be rsa or ed25519")
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", "", err
	}
	privPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	txt := "v=DKIM1; k=" + k + "; p=" + base64.StdEncoding.EncodeToString(pub)
	// One TXT character-string holds at most 255 octets; an RSA key needs two.
	var quoted []string
	for len(txt) > 255 {
		quoted, txt = append(quoted, `"`+txt[:255]+`"`), txt[255:]
	}
	quoted = append(quoted, `"`+txt+`"`)
	dnsRecord = fmt.Sprintf("%s._domainkey.%s. IN TXT ( %s )", selector, domain, strings.Join(quoted, " "))
	return privPEM, dnsRecord, nil
}
