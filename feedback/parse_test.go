package feedback

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fixture(t testing.TB, name, verp string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "VERP_ADDRESS", verp))
}

func TestParseReport(t *testing.T) {
	const verp = "bounces+abc@bounce.shop.example"
	for _, tc := range []struct {
		file string
		want []Notice // ReturnPaths and MessageID compared separately
	}{
		{"dsn_postfix.eml", []Notice{{Kind: Hard, Recipient: "kim@example.com", Status: "5.1.1", Source: SourceDSN,
			Diagnostic: "smtp; 550 5.1.1 <kim@example.com>: Recipient address rejected: User unknown"}}},
		{"dsn_soft_multi.eml", []Notice{{Kind: Soft, Recipient: "lu@example.com", Status: "4.2.2", Source: SourceDSN,
			Diagnostic: "smtp; 452 4.2.2 The email account you tried to reach is over quota."}}},
		{"arf.eml", []Notice{{Kind: Complaint, Status: "abuse", Source: SourceARF,
			Diagnostic: "feedback-type abuse from SomeGenerator/1.0"}}},
		{"qmail.eml", []Notice{{Kind: Hard, Status: "5.1.1", Source: SourceVERP, Diagnostic: "Remote host said: 550 5.1.1 No such mailbox"}}},
		{"autoreply.eml", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			got, err := ParseReport(fixture(t, tc.file, verp))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d notices %+v, want %d", len(got), got, len(tc.want))
			}
			for i, g := range got {
				w := tc.want[i]
				if g.Kind != w.Kind || g.Recipient != w.Recipient || g.Status != w.Status || g.Source != w.Source || g.Diagnostic != w.Diagnostic {
					t.Errorf("notice %d:\n got %+v\nwant %+v", i, g, w)
				}
				if g.MessageID == "" {
					t.Errorf("notice %d without the report's Message-ID", i)
				}
			}
			if tc.file == "arf.eml" || tc.file == "dsn_postfix.eml" {
				if rp := got[0].ReturnPaths; len(rp) == 0 || rp[0] != verp {
					t.Errorf("return paths %v, want the VERP address", rp)
				}
			}
		})
	}
}

func FuzzParseReport(f *testing.F) {
	for _, name := range []string{"dsn_postfix.eml", "dsn_soft_multi.eml", "arf.eml", "qmail.eml", "autoreply.eml"} {
		f.Add(fixture(f, name, "bounces+abc@b.example"))
	}
	f.Add([]byte("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: a@b\n--x--"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ns, err := ParseReport(raw)
		if err != nil && len(ns) > 0 {
			t.Fatal("notices with an error")
		}
		if len(ns) > maxNotices+1 {
			t.Fatalf("%d notices", len(ns))
		}
		for _, n := range ns {
			if n.Kind != Hard && n.Kind != Soft && n.Kind != Complaint {
				t.Fatalf("kind %q", n.Kind)
			}
		}
	})
}
