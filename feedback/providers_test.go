package feedback

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/treu-mail/treu/internal/errs"
	"github.com/treu-mail/treu/subscribers"
)

const topic = "arn:aws:sns:eu-central-1:123456789012:ses-feedback"

type snsSigner struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newSNSSigner(t testing.TB) *snsSigner {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &snsSigner{key: key, cert: cert}
}

// envelope signs an SNS envelope as SNS does.
func (s *snsSigner) envelope(t testing.TB, typ, version, message string) []byte {
	e := snsEnvelope{Type: typ, MessageID: "m-" + strconv.Itoa(int(time.Now().UnixNano())), TopicArn: topic, Message: message,
		Timestamp: "2026-03-01T10:00:00.000Z", SignatureVersion: version,
		SigningCertURL: "https://sns.eu-central-1.amazonaws.com/SimpleNotificationService-x.pem"}
	if typ == "SubscriptionConfirmation" {
		e.Token, e.SubscribeURL = "tok", "https://sns.eu-central-1.amazonaws.com/?Action=ConfirmSubscription&Token=tok"
	}
	var h crypto.Hash
	var sum []byte
	if version == "1" {
		x := sha1.Sum([]byte(e.stringToSign()))
		h, sum = crypto.SHA1, x[:]
	} else {
		x := sha256.Sum256([]byte(e.stringToSign()))
		h, sum = crypto.SHA256, x[:]
	}
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, h, sum)
	if err != nil {
		t.Fatal(err)
	}
	e.Signature = base64.StdEncoding.EncodeToString(sig)
	b, _ := json.Marshal(e)
	return b
}

func TestSESThroughSNS(t *testing.T) {
	e := newEnv(t)
	e.fb.cfg.VERP = e.verp
	kim := e.active("kim@example.com")
	ana := e.active("ana@example.com")
	signer := newSNSSigner(t)
	var confirmed []string
	p := &Providers{SES: &SNSVerifier{TopicARNs: []string{topic},
		Cert:    func(context.Context, string) (*x509.Certificate, error) { return signer.cert, nil },
		Confirm: func(_ context.Context, u string) error { confirmed = append(confirmed, u); return nil }}}

	if _, err := e.fb.Webhook(e.ctx, p, SourceSES, nil, signer.envelope(t, "SubscriptionConfirmation", "2", "confirm")); err != nil || len(confirmed) != 1 {
		t.Fatalf("subscription: %v %v", err, confirmed)
	}
	bounce := fmt.Sprintf(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[
		{"emailAddress":"kim@example.com","status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}]},
		"mail":{"source":%q}}`, e.verp.Delivery(4, 40, kim.ID))
	if n, err := e.fb.Webhook(e.ctx, p, SourceSES, nil, signer.envelope(t, "Notification", "1", bounce)); err != nil || n != 1 {
		t.Fatalf("bounce: %d %v", n, err)
	}
	if got := e.status("kim@example.com"); got != subscribers.StatusBounced {
		t.Fatalf("kim %q", got)
	}
	if c, _ := e.fb.Campaign(e.ctx, 4); c.Bounced != 1 {
		t.Fatalf("not credited to campaign 4: %+v", c)
	}
	complaint := `{"eventType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"ana@example.com"}],"complaintFeedbackType":"abuse"},"mail":{}}`
	if n, err := e.fb.Webhook(e.ctx, p, SourceSES, nil, signer.envelope(t, "Notification", "2", complaint)); err != nil || n != 1 {
		t.Fatalf("complaint: %d %v", n, err)
	}
	if got := e.status("ana@example.com"); got != subscribers.StatusComplained {
		t.Fatalf("ana %q (id %d)", got, ana.ID)
	}
	// Tampered, or from another topic: 401.
	good := signer.envelope(t, "Notification", "2", complaint)
	var env snsEnvelope
	json.Unmarshal(good, &env)
	env.Message = `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"lu@example.com"}]}}`
	bad, _ := json.Marshal(env)
	other := &SNSVerifier{TopicARNs: []string{"arn:aws:sns:eu-central-1:1:other"}, Cert: p.SES.Cert}
	for name, try := range map[string]func() error{
		"tampered":    func() error { _, err := e.fb.Webhook(e.ctx, p, SourceSES, nil, bad); return err },
		"other topic": func() error { _, err := e.fb.Webhook(e.ctx, &Providers{SES: other}, SourceSES, nil, good); return err },
		"no topics": func() error {
			_, err := e.fb.Webhook(e.ctx, &Providers{SES: &SNSVerifier{Cert: p.SES.Cert}}, SourceSES, nil, good)
			return err
		},
	} {
		if err := try(); !errs.Is(err, errs.Unauthorized) {
			t.Errorf("%s: %v, want 401", name, err)
		}
	}
	if amazonURL("https://sns.evil.example/x.pem", true) || amazonURL("http://sns.us-east-1.amazonaws.com/x.pem", true) ||
		!amazonURL("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-abc.pem", true) {
		t.Error("certificate URL check")
	}
}

func TestSendGridSigned(t *testing.T) {
	e := newEnv(t)
	e.active("kim@example.com")
	e.active("jo@example.com")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub, err := ParseSendGridKey(base64.StdEncoding.EncodeToString(der))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := &Providers{SendGridKey: pub, Now: func() time.Time { return now }}
	body := []byte(`[{"email":"kim@example.com","event":"bounce","type":"bounce","status":"5.1.1","reason":"unknown user","sg_event_id":"e1"},
		{"email":"jo@example.com","event":"spamreport","sg_event_id":"e2"},
		{"email":"jo@example.com","event":"delivered","sg_event_id":"e3"},
		{"email":"jo@example.com","event":"open","sg_event_id":"e4"}]`)
	sign := func(ts int64, b []byte) http.Header {
		h := http.Header{}
		s := strconv.FormatInt(ts, 10)
		sum := sha256.Sum256(append([]byte(s), b...))
		sig, _ := ecdsa.SignASN1(rand.Reader, key, sum[:])
		h.Set("X-Twilio-Email-Event-Webhook-Timestamp", s)
		h.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
		return h
	}
	if _, err := e.fb.Webhook(e.ctx, p, SourceSendGrid, sign(now.Unix(), body), append([]byte(" "), body...)); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("altered body: %v", err)
	}
	if _, err := e.fb.Webhook(e.ctx, p, SourceSendGrid, sign(now.Add(-time.Hour).Unix(), body), body); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("stale: %v", err)
	}
	if n, err := e.fb.Webhook(e.ctx, p, SourceSendGrid, sign(now.Unix(), body), body); err != nil || n != 2 {
		t.Fatalf("recorded %d, %v", n, err)
	}
	if n, _ := e.fb.Webhook(e.ctx, p, SourceSendGrid, sign(now.Unix(), body), body); n != 0 {
		t.Fatalf("a redelivered batch recorded %d", n)
	}
	if e.status("kim@example.com") != subscribers.StatusBounced || e.status("jo@example.com") != subscribers.StatusComplained {
		t.Fatal("statuses not changed")
	}
}

func TestMailgunPostmarkBrevo(t *testing.T) {
	e := newEnv(t)
	for _, a := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		e.active(a)
	}
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	p := &Providers{MailgunKey: []byte("mg-key"), BasicSecret: "s3cret", Now: func() time.Time { return now }}
	mg := func(key string, ts int64, event string) []byte {
		tss := strconv.FormatInt(ts, 10)
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(tss + "tok"))
		return fmt.Appendf(nil, `{"signature":{"timestamp":%q,"token":"tok","signature":%q},"event-data":%s}`, tss, hex.EncodeToString(m.Sum(nil)), event)
	}
	failed := `{"event":"failed","id":"mg1","severity":"permanent","recipient":"a@example.com","delivery-status":{"code":550,"message":"5.1.1 no such user"}}`
	if _, err := e.fb.Webhook(e.ctx, p, SourceMailgun, nil, mg("wrong", now.Unix(), failed)); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("bad key: %v", err)
	}
	if n, err := e.fb.Webhook(e.ctx, p, SourceMailgun, nil, mg("mg-key", now.Unix(), failed)); err != nil || n != 1 {
		t.Fatalf("mailgun: %d %v", n, err)
	}
	basic := func(pass string) http.Header {
		r, _ := http.NewRequest("POST", "/", nil)
		r.SetBasicAuth("treu", pass)
		return r.Header
	}
	pm := []byte(`{"RecordType":"SpamComplaint","ID":42,"Email":"b@example.com","MessageID":"x"}`)
	if _, err := e.fb.Webhook(e.ctx, p, SourcePostmark, basic("nope"), pm); !errs.Is(err, errs.Unauthorized) {
		t.Fatalf("postmark bad secret: %v", err)
	}
	if n, err := e.fb.Webhook(e.ctx, p, SourcePostmark, basic("s3cret"), pm); err != nil || n != 1 {
		t.Fatalf("postmark: %d %v", n, err)
	}
	pmSoft := []byte(`{"RecordType":"Bounce","Type":"SoftBounce","ID":43,"Email":"d@example.com","Description":"mailbox full"}`)
	if n, err := e.fb.Webhook(e.ctx, p, SourcePostmark, basic("s3cret"), pmSoft); err != nil || n != 1 {
		t.Fatalf("postmark soft: %d %v", n, err)
	}
	br := []byte(`{"event":"hard_bounce","email":"c@example.com","id":7,"message-id":"<b1@brevo>","reason":"550 unknown"}`)
	if n, err := e.fb.Webhook(e.ctx, p, SourceBrevo, basic("s3cret"), br); err != nil || n != 1 {
		t.Fatalf("brevo: %d %v", n, err)
	}
	for email, want := range map[string]string{"a@example.com": "bounced", "b@example.com": "complained",
		"c@example.com": "bounced", "d@example.com": "active"} {
		if got := e.status(email); got != want {
			t.Errorf("%s: %q, want %q", email, got, want)
		}
	}
	if _, err := e.fb.Webhook(e.ctx, &Providers{}, SourceBrevo, basic("s3cret"), br); !errs.Is(err, errs.NotFound) {
		t.Fatalf("unconfigured provider: %v", err)
	}
	if _, err := e.fb.Webhook(e.ctx, p, SourceBrevo, basic("s3cret"), []byte("{")); !errs.Is(err, errs.Malformed) {
		t.Fatalf("malformed: %v", err)
	}
}

// FuzzProviderDecoders feeds the same bytes to every provider's decoder:
// no panic, and every notice has a known kind.
func FuzzProviderDecoders(f *testing.F) {
	f.Add([]byte(`[{"email":"a@b.c","event":"bounce","type":"blocked","status":"4.2.2"}]`))
	f.Add([]byte(`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"a@b.c"}]}}`))
	f.Add([]byte(`{"signature":{"timestamp":"1","token":"t","signature":"00"},"event-data":{"event":"failed","severity":"permanent"}}`))
	f.Add([]byte(`{"RecordType":"Bounce","Type":"HardBounce","ID":1,"Email":"a@b.c"}`))
	f.Add([]byte(`{"event":"spam","email":"a@b.c","id":1}`))
	f.Add([]byte(`{"Type":"Notification","Message":"{}","SignatureVersion":"1"}`))
	v := &SNSVerifier{TopicARNs: []string{topic}, Cert: func(context.Context, string) (*x509.Certificate, error) {
		return nil, fmt.Errorf("no certificates while fuzzing")
	}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var all []Notice
		ns, _ := DecodeSendGrid(b)
		all = append(all, ns...)
		ns, _ = DecodeSES(b, "id")
		all = append(all, ns...)
		ns, _, _ = DecodeMailgun(b)
		all = append(all, ns...)
		ns, _ = DecodePostmark(b)
		all = append(all, ns...)
		ns, _ = DecodeBrevo(b)
		all = append(all, ns...)
		if ns, err := v.decode(context.Background(), b); err == nil && len(ns) > 0 {
			t.Fatal("an unsigned SNS envelope passed")
		}
		for _, n := range all {
			switch n.Kind {
			case Hard, Soft, Complaint, Delivered:
			default:
				t.Fatalf("kind %q", n.Kind)
			}
		}
	})
}
