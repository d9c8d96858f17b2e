package vrrp

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

type recAnnouncer struct {
	dev string
	got *[]string
}

func (r recAnnouncer) Announce(vips []netip.Addr) error {
	for _, ip := range vips {
		*r.got = append(*r.got, r.dev+" "+ip.String())
	}
	return nil
}

// Each address's gratuitous ARP goes out of its own interface.
func TestAnnouncersByDevice(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.0.254"), netip.MustParseAddr("198.18.1.254"), netip.MustParseAddr("198.18.0.253")
	cfg := Config{Interface: "eth0", VIPDevices: []VIPDevice{{Addr: b, Dev: "eth1"}, {Addr: c, Label: "eth0:x"}}}
	var got, opened []string
	an, err := openAnnouncers(cfg, func(dev string) (Announcer, error) {
		opened = append(opened, dev)
		return recAnnouncer{dev, &got}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(opened, []string{"eth0", "eth1"}) {
		t.Errorf("opened %v, want eth0 and eth1", opened)
	}
	if err := an.Announce([]netip.Addr{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"eth0 198.18.0.254", "eth0 198.18.0.253", "eth1 198.18.1.254"}; !slices.Equal(got, want) {
		t.Errorf("announced %v, want %v", got, want)
	}
	// All on the instance's interface: that interface's announcer itself.
	an, _ = openAnnouncers(Config{Interface: "eth0"}, func(dev string) (Announcer, error) { return recAnnouncer{dev, &got}, nil })
	if _, ok := an.(recAnnouncer); !ok {
		t.Errorf("one interface: got %T, want its announcer", an)
	}
}

func TestValidateDevices(t *testing.T) {
	base := Config{Name: "a", Interface: "eth0", VRID: 1, Priority: 100, Version: 3, Interval: time.Second,
		VIPs: []netip.Prefix{netip.MustParsePrefix("198.18.0.254/24"), netip.MustParsePrefix("198.18.1.254/24")}}
	for _, tc := range []struct {
		devs []VIPDevice
		want string
	}{
		{[]VIPDevice{{Addr: netip.MustParseAddr("198.18.1.254"), Dev: "eth1", Label: "eth1:vip"}}, ""},
		{[]VIPDevice{{Addr: netip.MustParseAddr("198.18.2.1"), Dev: "eth1"}}, "not one of the virtual addresses"},
		{[]VIPDevice{{Addr: netip.MustParseAddr("198.18.1.254"), Dev: "eth1", Label: "eth0:vip"}}, "must be IPv4, begin with \"eth1\""},
		{[]VIPDevice{{Addr: netip.MustParseAddr("198.18.1.254"), Dev: "eth1"}, {Addr: netip.MustParseAddr("198.18.1.254"), Dev: "eth2"}}, "placed twice"},
	} {
		c := base
		c.VIPDevices = tc.devs
		err := c.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.devs, err, tc.want)
		}
	}
}
