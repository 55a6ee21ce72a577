package tracking

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseMailKey(t *testing.T) {
	for _, c := range []struct {
		key  string
		id   int64
		flow string
		step int
	}{
		{CampaignKey(42), 42, "", 0},
		{FlowMail("cart_abandonment", 2).Key, 0, "cart_abandonment", 2},
		{FlowMail("a:b", 0).Key, 0, "a:b", 0},
		{"campaign:0", 0, "", 0},
		{"campaign:-3", 0, "", 0},
		{"flow:x:-1", 0, "", 0},
		{"flow::1", 0, "", 0},
		{"flow:x", 0, "", 0},
		{"other:1", 0, "", 0},
	} {
		id, flow, step := ParseMailKey(c.key)
		if id != c.id || flow != c.flow || step != c.step {
			t.Errorf("%q: %d %q %d", c.key, id, flow, step)
		}
	}
}

// FuzzParseMailKey: keys are read back as written, anything else names a
// campaign or a flow step only in the forms the writers make.
func FuzzParseMailKey(f *testing.F) {
	f.Add("campaign:7")
	f.Add("flow:welcome:1")
	f.Add("flow::")
	f.Fuzz(func(t *testing.T, key string) {
		id, flow, step := ParseMailKey(key)
		switch {
		case id > 0:
			if flow != "" || step != 0 || !strings.HasPrefix(key, "campaign:") {
				t.Fatalf("%q: %d %q %d", key, id, flow, step)
			}
		case flow != "":
			if step < 0 || id != 0 || !strings.HasPrefix(key, "flow:"+flow+":") {
				t.Fatalf("%q: %q %d", key, flow, step)
			}
		}
		if n, err := strconv.Atoi(key); err == nil && n > 0 {
			if got, _, _ := ParseMailKey(CampaignKey(int64(n))); got != int64(n) {
				t.Fatalf("campaign %d read as %d", n, got)
			}
			if _, fl, st := ParseMailKey(FlowMail(key+":x", n).Key); fl != key+":x" || st != n {
				t.Fatalf("flow step %d read as %q %d", n, fl, st)
			}
		}
	})
}
