package director

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-lb/vigil/checks"
	"github.com/vigil-lb/vigil/conf"
)

// TestLVSCheckTranslation: the dns, udp, ping and smtp check blocks become checkers with
// their attributes; the udp one is run against a loopback echo to show that payload and
// expect (with its wildcards) reach the wire.
func TestLVSCheckTranslation(t *testing.T) {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	port := pc.LocalAddr().(*net.UDPAddr).Port
	src := `
virtual_server "svc" {
  address  = "127.0.0.254:` + strconv.Itoa(port) + `"
  protocol = "udp"
  real_server "echo" {
    address = "127.0.0.1"
    check "udp" {
      payload = "0a0b0c"
      expect  = "0aXX0c"
    }
    check "udp" {
      payload = "0a0b0c"
      expect  = "0a0b0d"
    }
    check "dns" {
      query_type = "mx"
      query_name = "vigil.test"
    }
    check "ping" {}
    check "smtp" {
      helo_name = "lb1.vigil.test"
    }
  }
}
`
	cfg, diags := conf.Parse([]byte(src), "lvs.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	vs := cfg.VirtualServers[0]
	rs := vs.RealServers[0]
	var built []checks.Checker
	for _, c := range rs.Checks {
		chk, err := newChecker(vs, rs, c)
		if err != nil {
			t.Fatalf("%s: %v", c.Kind, err)
		}
		built = append(built, chk)
	}
	run := func(c checks.Checker) checks.Result {
		ctx, cancel := checks.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return c.Check(ctx)
	}
	if res := run(built[0]); !res.OK {
		t.Errorf("udp with a matching pattern: %s", res.Reason)
	}
	if res := run(built[1]); res.OK || !strings.Contains(res.Reason, "want 0a 0b 0d") {
		t.Errorf("udp with another pattern: OK=%v %s", res.OK, res.Reason)
	}
}
