package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-lb/vigil/internal/status"
)

// vigil status notes a userspace listener's failed accepts on its virtual server's line,
// only when there were some, and says so loudly while its accepts pause.
func TestRenderStatusAccepts(t *testing.T) {
	for _, tt := range []struct {
		name string
		acc  status.Accepts
		want string // the notes of the virtual server's line
	}{
		{"kernel IPVS", status.Accepts{}, ""},
		{"no failure", status.Accepts{AcceptErrors: new(uint64(0))}, ""},
		{"failed", status.Accepts{AcceptErrors: new(uint64(12))}, "accept errors 12"},
		{"paused", status.Accepts{AcceptErrors: new(uint64(13)), AcceptsPaused: true}, "accept errors 13, ACCEPTS PAUSED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vs := status.VirtualServer{Name: "web", Protocol: "tcp", Address: "198.18.0.10:80", Scheduler: "rr",
				Present: true, QuorumUp: true, Accepts: tt.acc}
			if got := vsNotes(vs); got != tt.want {
				t.Errorf("notes %q, want %q", got, tt.want)
			}
			var out bytes.Buffer
			renderStatus(&out, status.Snapshot{VirtualServers: []status.VirtualServer{vs}})
			for line := range strings.Lines(out.String()) {
				if strings.HasPrefix(line, "TCP  198.18.0.10:80") && !strings.HasSuffix(line, cmp.Or(tt.want, "0/0")+"\n") {
					t.Errorf("the virtual server's line %q does not end in %q", line, tt.want)
				}
			}
		})
	}
}

// /status carries accept_errors from 0 where the table has a listener, and
// accepts_paused only while a pause runs; kernel IPVS's services have neither.
func TestStatusJSONAccepts(t *testing.T) {
	snap := status.Snapshot{Dataplane: "userspace", VirtualServers: []status.VirtualServer{
		{Name: "idle", Accepts: status.Accepts{AcceptErrors: new(uint64(0))}},
		{Name: "paused", Accepts: status.Accepts{AcceptErrors: new(uint64(7)), AcceptsPaused: true}},
		{Name: "kernel"},
	}}
	addr := serveFake(t, &fakeDirector{snap: snap})
	var stdout, stderr bytes.Buffer
	if code := cmdStatus([]string{"--addr", addr, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, stderr.String())
	}
	var raw struct {
		VirtualServers []map[string]any `json:"virtual_servers"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	got := map[string][2]any{}
	for _, vs := range raw.VirtualServers {
		got[vs["name"].(string)] = [2]any{vs["accept_errors"], vs["accepts_paused"]}
	}
	want := map[string][2]any{"idle": {0.0, nil}, "paused": {7.0, true}, "kernel": {nil, nil}}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("accept_errors, accepts_paused per virtual server (-want +got):\n%s", diff)
	}
}
