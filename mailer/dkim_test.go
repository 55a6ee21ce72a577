package mailer

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/treu-mail/treu/mailer/smtptest"
)

func TestGenerateDKIM(t *testing.T) {
	for _, algo := range []string{"ed25519", "rsa"} {
		priv, rec, err := GenerateDKIM("treu1", "shop.example", algo)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rec, "treu1._domainkey.shop.example. IN TXT") || !strings.Contains(rec, "k="+algo) {
			t.Errorf("%s record %q", algo, rec)
		}
		for _, s := range regexp.MustCompile(`"[^"]*"`).FindAllString(rec, -1) {
			if len(s)-2 > 255 {
				t.Errorf("TXT string of %d octets", len(s)-2)
			}
		}
		if _, err := NewDKIM("shop.example", "treu1", []byte(priv)); err != nil {
			t.Errorf("%s: generated key not accepted: %v", algo, err)
		}
	}
	if _, _, err := GenerateDKIM("s", "shop.example", "dsa"); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, err := NewDKIM("shop.example", "s", []byte("not a key")); err == nil {
		t.Error("bad key accepted")
	}
}

// TestDKIMSignatureVerifies checks go-mail's Ed25519 signature over our bytes
// with an independent relaxed/relaxed verifier written from RFC 6376.
func TestDKIMSignatureVerifies(t *testing.T) {
	privPEM, rec, err := GenerateDKIM("treu1", "shop.example", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDKIM("shop.example", "treu1", []byte(privPEM))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Build(testMessage(), t0)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := d.sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	signed := append([]byte(sig), raw...)
	p, err := ParseMessage(signed)
	if err != nil {
		t.Fatal(err)
	}
	tags := map[string]string{}
	for _, kv := range strings.Split(p.Header.Get("Dkim-Signature"), ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		tags[k] = strings.Join(strings.Fields(v), "")
	}
	if tags["a"] != "ed25519-sha256" || tags["d"] != "shop.example" || tags["s"] != "treu1" ||
		!strings.Contains(strings.ToLower(tags["h"]), "list-unsubscribe:list-unsubscribe-post") {
		t.Fatalf("tags %v", tags)
	}
	head, body, _ := bytes.Cut(signed, []byte("\r\n\r\n"))
	bh := sha256.Sum256(relaxedBody(string(body)))
	if base64.StdEncoding.EncodeToString(bh[:]) != tags["bh"] {
		t.Fatal("body hash does not match")
	}
	// Header fields: unfolded, then chosen bottom-up per name as h= lists them.
	var fields []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
			fields[len(fields)-1] += "\r\n" + line
		} else {
			fields = append(fields, line)
		}
	}
	used := map[int]bool{}
	var data strings.Builder
	for _, name := range strings.Split(tags["h"], ":") {
		for i := len(fields) - 1; i >= 0; i-- {
			k, _, _ := strings.Cut(fields[i], ":")
			if !used[i] && strings.EqualFold(strings.TrimSpace(k), name) {
				used[i] = true
				data.WriteString(relaxedHeader(fields[i]) + "\r\n")
				break
			}
		}
	}
	sigField := fields[0] // go-mail puts DKIM-Signature first
	sigField = regexp.MustCompile(`b=[^;]*$`).ReplaceAllString(strings.ReplaceAll(sigField, "\r\n", ""), "b=")
	data.WriteString(relaxedHeader(sigField))
	pubB64 := regexp.MustCompile(`p=([A-Za-z0-9+/=]+)`).FindStringSubmatch(rec)[1]
	pub, _ := base64.StdEncoding.DecodeString(pubB64)
	sigBytes, _ := base64.StdEncoding.DecodeString(tags["b"])
	h := sha256.Sum256([]byte(data.String()))
	if !ed25519.Verify(ed25519.PublicKey(pub), h[:], sigBytes) {
		t.Fatalf("signature does not verify over:\n%s", data.String())
	}
}

func relaxedHeader(f string) string {
	k, v, _ := strings.Cut(f, ":")
	v = strings.Join(strings.Fields(strings.ReplaceAll(v, "\r\n", "")), " ")
	return strings.ToLower(strings.TrimSpace(k)) + ":" + v
}

func relaxedBody(b string) []byte {
	lines := strings.Split(b, "\r\n")
	for i, l := range lines {
		l = regexp.MustCompile(`[ \t]+`).ReplaceAllString(l, " ")
		lines[i] = strings.TrimRight(l, " ")
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil
	}
	return []byte(strings.Join(lines, "\r\n") + "\r\n")
}

func TestSMTPSignsWithDKIM(t *testing.T) {
	key, _, err := GenerateDKIM("treu1", "shop.example", "ed25519")
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDKIM("shop.example", "treu1", []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	srv := smtptest.Start(t)
	s := newTestSMTP(t, srv, "")
	s.cfg.DKIM = d
	if err := s.Send(t.Context(), testMessage()); err != nil {
		t.Fatal(err)
	}
	if got := srv.WaitFor(1, 5*time.Second); !bytes.HasPrefix(got[0].Data, []byte("DKIM-Signature: v=1;")) {
		t.Fatalf("not signed: %.80q", got[0].Data)
	}
}
