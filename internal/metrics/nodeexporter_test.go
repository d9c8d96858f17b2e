package metrics

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// nodeExporterIPVS is what node_exporter's ipvs collector serves for richSnapshot's table
// on the same host: its six labels as it values them (/proc/net/ip_vs through procfs: the
// fwmark as %08X, no local address for a fwmark service, IPv6 without brackets).
const nodeExporterIPVS = `# TYPE node_ipvs_backend_connections_active gauge
node_ipvs_backend_connections_active{local_address="",local_mark="00001A0A",local_port="0",proto="FWM",remote_address="198.18.0.31",remote_port="0"} 0
node_ipvs_backend_connections_active{local_address="198.18.0.254",local_mark="",local_port="80",proto="TCP",remote_address="198.18.0.21",remote_port="80"} 3
node_ipvs_backend_connections_active{local_address="198.18.0.254",local_mark="",local_port="80",proto="TCP",remote_address="198.18.0.22",remote_port="80"} 0
node_ipvs_backend_connections_active{local_address="2001:db8::1",local_mark="",local_port="443",proto="TCP",remote_address="2001:db8::21",remote_port="443"} 0
`

// TestInfoJoinsNodeExporter: each node_ipvs_backend_* series finds exactly one
// vigil_real_server_info on node_exporter's six labels (an empty label being no label, as
// in Prometheus), which names its virtual server and real server: the PromQL
// `node_ipvs_backend_connections_active * on (local_address, local_port, local_mark, proto,
// remote_address, remote_port) group_left (virtual_server, real_server) vigil_real_server_info`.
func TestInfoJoinsNodeExporter(t *testing.T) {
	six := []string{"local_address", "local_port", "local_mark", "proto", "remote_address", "remote_port"}
	key := func(labels map[string]string) string {
		k := ""
		for _, l := range six {
			k += l + "=" + labels[l] + ","
		}
		return k
	}
	labelsOf := func(text, name string) []map[string]string {
		var out []map[string]string
		for _, m := range parse(t, text)[name].GetMetric() {
			ls := map[string]string{}
			for _, lp := range m.GetLabel() {
				if lp.GetValue() != "" { // Prometheus keeps no empty label
					ls[lp.GetName()] = lp.GetValue()
				}
			}
			out = append(out, ls)
		}
		return out
	}
	info := map[string][]string{}
	for _, ls := range labelsOf(scrape(t, New(&fakeSource{s: richSnapshot()}, BuildInfo{}).Handler()), "vigil_real_server_info") {
		info[key(ls)] = append(info[key(ls)], ls["virtual_server"]+"/"+ls["real_server"])
	}
	got := map[string]string{}
	for _, ls := range labelsOf(nodeExporterIPVS, "node_ipvs_backend_connections_active") {
		m := info[key(ls)]
		if len(m) != 1 {
			t.Errorf("node_exporter's %v matches %v, want one vigil_real_server_info", ls, m)
			continue
		}
		got[ls["remote_address"]] = m[0]
	}
	want := map[string]string{"198.18.0.31": "fw/a", "198.18.0.21": "web/rs1", "198.18.0.22": "web/rs2", "2001:db8::21": "web6/v6a"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("joined (-want +got):\n%s", diff)
	}
}
