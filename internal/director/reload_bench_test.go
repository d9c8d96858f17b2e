package director

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigil-lb/vigil/conf"
	"github.com/vigil-lb/vigil/ipvs/ipvstest"
)

// BenchmarkReloadUnchanged1000x4 is the apply half of issue 6's reload figure: the
// director re-applying an unchanged configuration of 1,000 virtual servers x 4 real
// servers with checks (parsing excluded), against the in-memory table.
func BenchmarkReloadUnchanged1000x4(b *testing.B) {
	src := benchSource()
	cfg := parseBench(b, src)
	d := New(Options{Table: ipvstest.New(), Logger: slog.New(slog.DiscardHandler)})
	ctx := context.Background()
	if err := d.Start(ctx, cfg); err != nil {
		b.Fatal(err)
	}
	defer d.Stop(ctx, false)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		next := parseBench(b, src) // a reload parses anew
		b.StartTimer()
		if err := d.Reload(ctx, next); err != nil {
			b.Fatal(err)
		}
	}
}

// benchSource is the benchmarks' configuration: 1,000 virtual servers x 4 real servers,
// each with a tcp check every hour.
func benchSource() string {
	var src strings.Builder
	src.WriteString("global {\n  resync_interval = \"24h\"\n}\n")
	for p := range 1000 {
		fmt.Fprintf(&src, "virtual_server \"vs%d\" {\n  address = \"198.18.1.1:%d\"\n  protocol = \"tcp\"\n", p, 10000+p)
		for i := range 4 {
			fmt.Fprintf(&src, "  real_server \"rs%d\" {\n    address = \"198.18.2.%d:%d\"\n    check \"tcp\" {\n      interval = \"1h\"\n    }\n  }\n", i, 21+i, 10000+p)
		}
		src.WriteString("}\n")
	}
	return src.String()
}

func parseBench(b *testing.B, src string) *conf.Config {
	b.Helper()
	cfg, diags := conf.Parse([]byte(src), "bench.hcl")
	if diags.HasErrors() {
		b.Fatal(diags)
	}
	return cfg
}
