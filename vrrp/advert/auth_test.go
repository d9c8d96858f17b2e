package advert

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
)

// The passwords of the captures (testdata/v2-*-adv1-sigterm.txt show keepalived's
// configurations): 6 characters for PASS, so the NUL padding is on the wire, and 8 for
// AH, the most keepalived uses.
const (
	passPassword = "s3cr3t"
	ahPassword   = "vigil-ah"
)

func mustKey(t testing.TB, pw string) Key {
	t.Helper()
	k, err := NewKey(pw)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// keepalivedAdverts returns the VRRP/AH datagrams of a capture.
func keepalivedAdverts(t *testing.T, path string, proto byte) [][]byte {
	t.Helper()
	var out [][]byte
	for _, ip := range readPcap(t, path) {
		if ip[9] == proto {
			out = append(out, ip[:binary.BigEndian.Uint16(ip[2:])])
		}
	}
	if len(out) != 5 {
		t.Fatalf("%s: %d adverts, want 4 at priority 150 and 1 at 0", path, len(out))
	}
	return out
}

// keepalived's PASS: auth type 1, the NUL-padded password in the last 8 bytes, covered by
// the checksum; vigil decodes it and encodes the same bytes.
func TestGoldenKeepalivedPass(t *testing.T) {
	key := mustKey(t, passPassword)
	for i, ip := range keepalivedAdverts(t, "testdata/v2-pass-adv1-sigterm.pcap", Protocol) {
		src, dst := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		msg := ip[20:]
		a, err := Parse(msg, src, dst)
		if err != nil {
			t.Fatalf("advert %d: %v", i, err)
		}
		if a.Auth != AuthPass || !a.AuthData.Equal(key) {
			t.Errorf("advert %d: auth %v data %q, want pass with keepalived's password", i, a.Auth, a.AuthData.Reveal())
		}
		want := uint8(150)
		if i == 4 {
			want = 0
		}
		if a.Priority != want {
			t.Errorf("advert %d: priority %d, want %d", i, a.Priority, want)
		}
		enc, err := Advert{Version: 2, VRID: 51, Priority: a.Priority, Interval: a.Interval, Addrs: a.Addrs, Auth: AuthPass, AuthData: key}.Marshal(src, dst)
		if err != nil || !bytes.Equal(enc, msg) {
			t.Errorf("advert %d: Marshal = % x (%v), want keepalived's % x", i, enc, err, msg)
		}
	}
}

// keepalived's AH, multicast and unicast: vigil verifies every captured datagram and
// builds the same datagram, byte for byte, from the same identification and sequence
// number (keepalived counts both from 1).
func TestGoldenKeepalivedAH(t *testing.T) {
	key := mustKey(t, ahPassword)
	for _, tc := range []struct {
		file    string
		unicast bool
	}{{"testdata/v2-ah-adv1-sigterm.pcap", false}, {"testdata/v2-ah-unicast-adv1-sigterm.pcap", true}} {
		t.Run(tc.file, func(t *testing.T) {
			for i, pkt := range keepalivedAdverts(t, tc.file, ProtocolAH) {
				src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
				ah, msg, err := ParseAH(pkt)
				if err != nil {
					t.Fatalf("advert %d: ParseAH: %v", i, err)
				}
				if ah.Seq != uint32(i+1) || ah.SPI != binary.BigEndian.Uint32(pkt[12:16]) {
					t.Errorf("advert %d: %+v, want sequence %d and the source as SPI", i, ah, i+1)
				}
				if err := VerifyAH(pkt, key, tc.unicast); err != nil {
					t.Errorf("advert %d: VerifyAH: %v", i, err)
				}
				if err := VerifyAH(pkt, key, !tc.unicast); err == nil {
					t.Errorf("advert %d: verifies with the TTL rule of the other mode", i)
				}
				a, err := Parse(msg, src, dst)
				if err != nil {
					t.Fatalf("advert %d: Parse: %v", i, err)
				}
				if a.Auth != AuthAH || a.AuthData != (Key{}) {
					t.Errorf("advert %d: auth %v, data not zero; want keepalived's AH fields", i, a.Auth)
				}
				enc, err := a.Marshal(src, dst)
				if err != nil {
					t.Fatal(err)
				}
				id := binary.BigEndian.Uint16(pkt[4:])
				sealed, err := SealAH(enc, src, dst, id, ah.Seq, key, tc.unicast)
				if err != nil || !bytes.Equal(sealed, pkt) {
					t.Errorf("advert %d: SealAH =\n% x (%v), want keepalived's\n% x", i, sealed, err, pkt)
				}
			}
		})
	}
}

// The ICV covers every byte but the mutable ones: a flipped bit anywhere else fails, a
// changed TOS, fragment field, checksum (and, unicast, TTL) does not.
func TestAHCoverage(t *testing.T) {
	key := mustKey(t, ahPassword)
	pkts := keepalivedAdverts(t, "testdata/v2-ah-unicast-adv1-sigterm.pcap", ProtocolAH)
	pkt := pkts[0]
	mutable := map[int]bool{1: true, 6: true, 7: true, 8: true, 10: true, 11: true}
	for i := range pkt {
		p := bytes.Clone(pkt)
		p[i] ^= 0x01
		if i == 2 || i == 3 || i == 9 || i == 0 {
			continue // length, protocol and version: ParseAH's to refuse
		}
		err := VerifyAH(p, key, true)
		if mutable[i] && err != nil {
			t.Errorf("byte %d (mutable) changed: %v", i, err)
		}
		if !mutable[i] && ReasonOf(err) != ReasonAuthentication {
			t.Errorf("byte %d changed: err %v, want an authentication failure", i, err)
		}
	}
	if err := VerifyAH(pkt, mustKey(t, "vigil-aH"), true); ReasonOf(err) != ReasonAuthentication {
		t.Errorf("another password: %v", err)
	}
}

func TestAHSPIMustBeSource(t *testing.T) {
	key := mustKey(t, ahPassword)
	msg := unhex(t, "21 33 96 01 02 01 7f b9 c6 12 00 fe 00 00 00 00 00 00 00 00")
	pkt, err := SealAH(msg, d1, Group4, 1, 1, key, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyAH(pkt, key, false); err != nil {
		t.Fatal(err)
	}
	// Re-sealed from another source but carrying d1's SPI: the ICV holds, the SPI check not.
	copy(pkt[12:16], d2.AsSlice())
	icv := computeICV(pkt, 20, key, false)
	copy(pkt[32:44], icv[:])
	if err := VerifyAH(pkt, key, false); err == nil || !strings.Contains(err.Error(), "SPI") {
		t.Errorf("SPI of another host: %v, want an SPI rejection", err)
	}
}

func TestParseAHRejects(t *testing.T) {
	key := mustKey(t, ahPassword)
	msg := unhex(t, "21 33 96 01 02 01 7f b9 c6 12 00 fe 00 00 00 00 00 00 00 00")
	good, err := SealAH(msg, d1, Group4, 7, 9, key, false)
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
		want Reason
		err  error
	}{
		{"empty", nil, ReasonTruncated, nil},
		{"header only", good[:20], ReasonTruncated, nil},
		{"IPv6", mod(func(b []byte) []byte { b[0] = 0x65; return b }), ReasonVersion, nil},
		{"ihl 4", mod(func(b []byte) []byte { b[0] = 0x44; return b }), ReasonTruncated, nil},
		{"ihl beyond the packet", mod(func(b []byte) []byte { b[0] = 0x4f; return b[:40] }), ReasonTruncated, nil},
		{"protocol 112", mod(func(b []byte) []byte { b[9] = 112; return b }), ReasonType, nil},
		{"cut", good[:len(good)-1], ReasonTruncated, nil},
		{"trailing byte", append(bytes.Clone(good), 0), ReasonTrailing, nil},
		{"AH cut", mod(func(b []byte) []byte { b[3] = 40; return b[:40] }), ReasonTruncated, nil},
		{"ESP-like payload length", mod(func(b []byte) []byte { b[21] = 5; return b }), ReasonAuthentication, nil},
		{"not VRRP", mod(func(b []byte) []byte { b[20] = 6; return b }), "", ErrNotVRRP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseAH(tc.b)
			if tc.err != nil {
				if err != tc.err {
					t.Errorf("err %v, want %v", err, tc.err)
				}
				return
			}
			if got := ReasonOf(err); got != tc.want {
				t.Errorf("reason %q (err %v), want %q", got, err, tc.want)
			}
		})
	}
	if _, err := SealAH(msg, d1, Group4, 0, 1, key, false); err == nil {
		t.Error("SealAH with identification 0 succeeded: the kernel would change the covered header")
	}
}

func TestNewKey(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"a", true}, {"12345678", true}, {"", false}, {"123456789", false}, {"a\x00b", false}} {
		k, err := NewKey(tc.pw)
		if (err == nil) != tc.ok {
			t.Errorf("NewKey(%q): %v, want ok %v", tc.pw, err, tc.ok)
		}
		if err == nil && k.Reveal() != tc.pw {
			t.Errorf("NewKey(%q).Reveal() = %q", tc.pw, k.Reveal())
		}
		if err != nil && strings.Contains(err.Error(), tc.pw) && tc.pw != "" {
			t.Errorf("NewKey error %q repeats the password", err)
		}
	}
}

func TestKeyNeverPrinted(t *testing.T) {
	const pw = "hunter2x"
	k := mustKey(t, pw)
	a := Advert{Version: 2, Auth: AuthPass, AuthData: k}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "key", k, "advert", a)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "key", k)
	j, _ := json.Marshal(struct{ K Key }{k})
	outs := map[string]string{
		"%v": fmt.Sprintf("%v", k), "%+v advert": fmt.Sprintf("%+v", a), "%#v advert": fmt.Sprintf("%#v", a),
		"%x": fmt.Sprintf("%x", k), "%s": fmt.Sprintf("%s", k), "%d": fmt.Sprintf("%d", k), "%q": fmt.Sprintf("%q", k),
		"json": string(j), "slog": logged.String(),
	}
	for name, out := range outs {
		if strings.Contains(out, pw) || strings.Contains(out, fmt.Sprintf("%x", []byte(pw))) || strings.Contains(out, "104 117") {
			t.Errorf("%s leaks the key: %s", name, out)
		}
	}
}

func FuzzParseAH(f *testing.F) {
	for _, file := range []string{"testdata/v2-ah-adv1-sigterm.pcap", "testdata/v2-ah-unicast-adv1-sigterm.pcap"} {
		for _, ip := range readPcap(f, file) {
			if ip[9] == ProtocolAH {
				f.Add(ip, file == "testdata/v2-ah-unicast-adv1-sigterm.pcap")
			}
		}
	}
	key := mustKey(f, ahPassword)
	f.Fuzz(func(t *testing.T, pkt []byte, unicast bool) {
		ah, msg, err := ParseAH(pkt)
		if err != nil {
			if err != ErrNotVRRP && ReasonOf(err) == "" {
				t.Fatalf("error without reason: %v", err)
			}
			return
		}
		verr := VerifyAH(pkt, key, unicast)
		if verr != nil && ReasonOf(verr) != ReasonAuthentication {
			t.Fatalf("VerifyAH: %v, want an authentication reason", verr)
		}
		src, dst := netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		a, err := Parse(msg, src, dst)
		if err != nil || verr != nil || int(pkt[0]&0xf) != 5 {
			return
		}
		// A verified datagram with a plain header seals back to itself.
		enc, err := a.Marshal(src, dst)
		if err != nil {
			t.Fatalf("Marshal of parsed %+v: %v", a, err)
		}
		if !bytes.Equal(enc, msg) || pkt[1] != 0xc0 || pkt[8] != TTL || pkt[6] != 0 || pkt[7] != 0 || ah.SPI != binary.BigEndian.Uint32(pkt[12:16]) {
			return // reserved bits, mutable fields: covered or not, they need not round-trip
		}
		id := binary.BigEndian.Uint16(pkt[4:])
		if id == 0 {
			return
		}
		sealed, err := SealAH(enc, src, dst, id, ah.Seq, key, unicast)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sealed[12:], pkt[12:]) {
			t.Fatalf("re-sealed\n% x\nwant\n% x", sealed, pkt)
		}
	})
}
