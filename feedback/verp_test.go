package feedback

import (
	"strings"
	"testing"
)

func TestVERPRoundTrip(t *testing.T) {
	v, err := NewVERP(testSecret, "Bounce.Shop.Example")
	if err != nil {
		t.Fatal(err)
	}
	addr := v.Delivery(42, 1234567, 99)
	local := addr[:strings.IndexByte(addr, '@')]
	if !strings.HasPrefix(addr, "bounces+") || !strings.HasSuffix(addr, "@bounce.shop.example") || len(local) > 64 {
		t.Fatalf("address %q", addr)
	}
	ref, err := v.Parse("<" + strings.ToUpper(addr) + ">")
	if err != nil || ref != (Ref{CampaignID: 42, DeliveryID: 1234567, SubscriberID: 99}) {
		t.Fatalf("parse: %+v %v", ref, err)
	}
	ref, err = v.Parse(v.Mail(5, 0))
	if err != nil || ref != (Ref{MailID: 5}) {
		t.Fatalf("parse mail: %+v %v", ref, err)
	}
	// Large ids still fit a 64-octet local part up to 2^35.
	if a := v.Delivery(1<<35-1, 1<<35-1, 1<<35-1); strings.IndexByte(a, '@') > 64 {
		t.Fatalf("local part too long: %q", a)
	}
}

func TestVERPRejects(t *testing.T) {
	v, _ := NewVERP(testSecret, "bounce.shop.example")
	other, _ := NewVERP([]byte("another secret of sixteen+ bytes"), "bounce.shop.example")
	good := v.Delivery(1, 2, 3)
	flip := []byte(good)
	flip[10] ^= 1
	for _, bad := range []string{
		"", "bounces+@bounce.shop.example", "bounces@bounce.shop.example",
		strings.Replace(good, "bounce.shop.example", "evil.example", 1),
		other.Delivery(1, 2, 3), string(flip), good[:20] + "@bounce.shop.example",
		"bounces+" + strings.Repeat("a", 200) + "@bounce.shop.example",
	} {
		if ref, err := v.Parse(bad); err == nil {
			t.Errorf("accepted %q as %+v", bad, ref)
		}
	}
}

func FuzzVERPParse(f *testing.F) {
	v, _ := NewVERP(testSecret, "b.example")
	f.Add(v.Delivery(1, 2, 3))
	f.Add(v.Mail(9, 0))
	f.Add("bounces+aaaa@b.example")
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := v.Parse(s)
		if err == nil && ref.SubscriberID < 0 {
			t.Fatalf("negative id from %q", s)
		}
	})
}

func BenchmarkVERPDelivery(b *testing.B) {
	v, _ := NewVERP(testSecret, "bounce.shop.example")
	b.ReportAllocs()
	for i := range b.N {
		_ = v.Delivery(42, int64(i), int64(i))
	}
}
