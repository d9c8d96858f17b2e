package translate

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/vigil-lb/vigil/conf/keepalived"
)

// bigConf is bench/import/run.sh's keepalived.conf: 1,000 virtual servers x 4 real
// servers with HTTP_GET checks, and a VRRP instance.
func bigConf() []byte { return bigConfN(1000) }

// bigConfN is bigConf with n virtual servers.
func bigConfN(n int) []byte {
	var b strings.Builder
	b.WriteString("global_defs {\n  router_id bench\n}\nvrrp_instance VI_1 {\n  interface vk0\n  virtual_router_id 51\n  priority 100\n  virtual_ipaddress {\n    198.18.0.254\n  }\n}\n")
	for p := range n {
		fmt.Fprintf(&b, "virtual_server 198.18.0.254 %d {\n  delay_loop 6\n  lb_algo wrr\n  lb_kind NAT\n  protocol TCP\n", 10000+p)
		for i := range 4 {
			fmt.Fprintf(&b, "  real_server 198.18.1.%d %d {\n    weight 1\n    HTTP_GET {\n      url {\n        path /health\n        status_code 200\n      }\n      connect_timeout 3\n      retry 3\n      delay_before_retry 3\n    }\n  }\n", 21+i, 10000+p)
		}
		b.WriteString("}\n")
	}
	return []byte(b.String())
}

// BenchmarkImport1000x4 reads and translates bigConf (issue 17's figure, measured as a
// command by bench/import/run.sh).
func BenchmarkImport1000x4(b *testing.B) {
	fsys := fstest.MapFS{"k/main.conf": {Data: bigConf()}}
	b.ReportAllocs()
	for b.Loop() {
		cfg, err := keepalived.Read("/k/main.conf", keepalived.Options{FS: keepalived.FromFS(fsys), ConfigID: "lb1"})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Translate(cfg); err != nil {
			b.Fatal(err)
		}
	}
}
