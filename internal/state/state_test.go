package state

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func sample() File {
	return File{
		Admin: []Admin{
			{Service: "TCP 198.18.0.254:80", Address: netip.MustParseAddrPort("198.18.0.21:80"), VirtualServer: "web", RealServer: "rs1", State: "drain", Since: time.Unix(1700000000, 0).UTC()},
			{Service: `group "g" TCP`, Address: netip.MustParseAddrPort("198.18.0.22:0"), State: "maint", Remove: true, Since: time.Unix(1700000001, 0).UTC()},
		},
		Owned: []Service{
			{Protocol: "tcp", Address: netip.MustParseAddrPort("198.18.0.254:80")},
			{FWMark: 6, Family: "inet6"},
		},
		Loopback: []netip.Prefix{netip.MustParsePrefix("198.18.30.1/32"), netip.MustParsePrefix("2001:db8::30/128")},
	}
}

func TestWriteRead(t *testing.T) {
	p := Path(t.TempDir())
	f := sample()
	if err := Write(p, f); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Version = Version
	if diff := cmp.Diff(f, got, cmpopts.EquateComparable(netip.AddrPort{}, netip.Prefix{})); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
	}
	// No temporary file is left behind.
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only %s", len(ents), FileName)
	}
	// A second write replaces the first whole.
	if err := Write(p, File{}); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(p); err != nil || len(got.Admin) != 0 || len(got.Owned) != 0 {
		t.Errorf("after an empty write: %+v, %v", got, err)
	}
}

func TestReadMissing(t *testing.T) {
	got, err := Read(filepath.Join(t.TempDir(), FileName))
	if err != nil || got.Version != Version || len(got.Admin) != 0 {
		t.Errorf("missing file: %+v, %v; want an empty state", got, err)
	}
}

func TestReadCorrupt(t *testing.T) {
	for name, body := range map[string]string{
		"truncated":     `{"version": 1, "admin_states": [`,
		"garbage":       "\x00\x01not json",
		"other version": `{"version": 2}`,
		"unknown field": `{"version": 1, "admin": []}`,
		"bad state":     `{"version": 1, "admin_states": [{"service": "TCP 1.2.3.4:80", "address": "1.2.3.5:80", "state": "gone"}]}`,
		"two objects":   `{"version": 1} {"version": 1}`,
		"bad address":   `{"version": 1, "admin_states": [{"service": "x", "address": "nope", "state": "drain"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := Path(t.TempDir())
			os.WriteFile(p, []byte(body), 0o600)
			_, err := Read(p)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Read: %v, want ErrCorrupt", err)
			}
			to, err := KeepAside(p, time.Unix(42, 0))
			if err != nil || !strings.HasSuffix(to, ".corrupt-42") {
				t.Fatalf("KeepAside: %q, %v", to, err)
			}
			if b, _ := os.ReadFile(to); string(b) != body {
				t.Errorf("kept aside %q, want the original bytes", b)
			}
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the corrupt file is still at %s", p)
			}
		})
	}
}

func TestWriteUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root writes anywhere")
	}
	d := t.TempDir()
	os.Chmod(d, 0o500)
	defer os.Chmod(d, 0o700)
	if err := Write(Path(d), sample()); err == nil {
		t.Fatal("Write into a read-only directory succeeded")
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"version": 1, "admin_states": [{"service": "TCP 198.18.0.254:80", "address": "198.18.0.21:80", "state": "drain", "since": "2024-01-01T00:00:00Z"}], "owned_services": [{"protocol": "tcp", "address": "198.18.0.254:80"}]}`))
	f.Add([]byte(`{"version": 1}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), FileName)
		os.WriteFile(p, b, 0o600)
		got, err := Read(p)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What reads must write and read back the same.
		if err := Write(p, got); err != nil {
			t.Fatal(err)
		}
		again, err := Read(p)
		if err != nil || !Equal(got, again) {
			t.Fatalf("round trip: %+v -> %+v, %v", got, again, err)
		}
	})
}
