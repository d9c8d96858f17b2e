package ipvs

import (
	"testing"
)

// kernelDaemonMsg builds a GET_DAEMON dump message as ip_vs_genl_dump_daemon does
// (state, interface, sync id, then the attributes vigil does not read).
func kernelDaemonMsg(d SyncDaemon) []byte {
	in := appendAttr(nil, daemonAttrState, u32(uint32(d.State)))
	in = appendAttr(in, daemonAttrMcastIfn, append([]byte(d.Interface), 0))
	in = appendAttr(in, daemonAttrSyncID, u32(uint32(d.SyncID)))
	in = appendAttr(in, 4, u16(1472))          // IPVS_DAEMON_ATTR_SYNC_MAXLEN
	in = appendAttr(in, 7, []byte{0x22, 0x90}) // IPVS_DAEMON_ATTR_MCAST_PORT 8848
	in = appendAttr(in, 8, []byte{1})          // IPVS_DAEMON_ATTR_MCAST_TTL
	return append([]byte{ipvsCmdNewDaemon, 1, 0, 0}, appendAttr(nil, ipvsCmdAttrDaemon, in)...)
}

func TestSyncDaemonCodec(t *testing.T) {
	for _, d := range []SyncDaemon{
		{State: SyncMaster, Interface: "eth0", SyncID: 51},
		{State: SyncBackup, Interface: "bond0.1234", SyncID: 255},
	} {
		got, err := decodeSyncDaemon(kernelDaemonMsg(d))
		if err != nil || got != d {
			t.Errorf("decode(%+v) = %+v, %v", d, got, err)
		}
		// What vigil sends decodes to the same daemon.
		attrs, err := daemonAttrs(d, true)
		if err != nil {
			t.Fatal(err)
		}
		got, err = decodeSyncDaemon(append([]byte{ipvsCmdNewDaemon, 1, 0, 0}, attrs...))
		if err != nil || got != d {
			t.Errorf("round trip %+v = %+v, %v", d, got, err)
		}
	}
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"no daemon attribute", []byte{ipvsCmdNewDaemon, 1, 0, 0}},
		{"unknown state", kernelDaemonMsg(SyncDaemon{State: 3, Interface: "eth0"})},
		{"sync id above 255", append([]byte{ipvsCmdNewDaemon, 1, 0, 0}, appendAttr(nil, ipvsCmdAttrDaemon,
			appendAttr(appendAttr(nil, daemonAttrState, u32(1)), daemonAttrSyncID, u32(256)))...)},
		{"short state", append([]byte{ipvsCmdNewDaemon, 1, 0, 0}, appendAttr(nil, ipvsCmdAttrDaemon, appendAttr(nil, daemonAttrState, u16(1)))...)},
	} {
		if d, err := decodeSyncDaemon(tc.msg); err == nil {
			t.Errorf("%s: decoded %+v, want an error", tc.name, d)
		}
	}
	for _, name := range []string{"", "a-name-of-16-chr"} {
		if _, err := daemonAttrs(SyncDaemon{State: SyncMaster, Interface: name}, true); err == nil {
			t.Errorf("interface %q accepted", name)
		}
	}
}

func FuzzDecodeSyncDaemon(f *testing.F) {
	f.Add(kernelDaemonMsg(SyncDaemon{State: SyncMaster, Interface: "eth0", SyncID: 51}))
	f.Add(kernelDaemonMsg(SyncDaemon{State: SyncBackup, Interface: "", SyncID: 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeSyncDaemon(b)
		if err != nil {
			return
		}
		if d.State != SyncMaster && d.State != SyncBackup {
			t.Fatalf("decoded state %d", d.State)
		}
		if len(d.Interface) > 1<<16 {
			t.Fatal("interface longer than any attribute")
		}
	})
}
