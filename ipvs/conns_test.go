package ipvs

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseClosing(t *testing.T) {
	// As Debian's kernel prints it (ip_vs_conn_seq_show), DR web traffic after a drain.
	table := `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C6120064 8A5C C61200FE 0050 C6120015 0050 TIME_WAIT        95
TCP C6120064 8A5E C61200FE 0050 C6120015 0050 FIN_WAIT        100
TCP C6120064 8A60 C61200FE 0050 C6120015 0050 ESTABLISHED    899
TCP C6120064 8A62 C61200FE 0050 C6120016 0050 CLOSE            9
UDP C6120064 8A64 C61200FE 0035 C6120016 0035 UDP            299
IP  C6120064 0000 C61200FE 0050 C6120015 0050 NONE           299
TCP 2001:0db8:0000:0000:0000:0000:0000:0064 8A66 2001:0db8:0000:0000:0000:0000:0000:00fe 0050 2001:0db8:0000:0000:0000:0000:0000:0015 0050 TIME_WAIT 3
`
	got, err := ParseClosing(strings.NewReader(table))
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParseAddrPort("198.18.0.254:80")
	want := map[ConnDest]uint32{
		{TCP, vip, netip.MustParseAddrPort("198.18.0.21:80")}:                                             2,
		{TCP, vip, netip.MustParseAddrPort("198.18.0.22:80")}:                                             1,
		{TCP, netip.MustParseAddrPort("[2001:db8::fe]:80"), netip.MustParseAddrPort("[2001:db8::15]:80")}: 1,
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%v: %d, want %d", k, got[k], n)
		}
	}
	if _, err := ParseClosing(strings.NewReader("hdr\nTCP C6120064 0050 zz 0050 C6120015 0050 TIME_WAIT 1\n")); err == nil {
		t.Error("a line with a bad address parsed")
	}
}

func FuzzParseClosing(f *testing.F) {
	f.Add("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires\nTCP C6120064 8A5C C61200FE 0050 C6120015 0050 TIME_WAIT        95\n")
	f.Fuzz(func(t *testing.T, s string) {
		ParseClosing(strings.NewReader(s))
	})
}
