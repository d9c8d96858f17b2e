package ipvs

import (
	"context"
	"encoding/binary"
	"fmt"
)

// SyncState is the role of one of the kernel's IPVS connection-synchronisation daemons
// (IP_VS_STATE_MASTER / IP_VS_STATE_BACKUP). A namespace runs at most one of each: the
// master multicasts the connections its director creates, the backup installs the
// connections it hears, so that established connections survive a failover.
type SyncState uint32

const (
	SyncMaster SyncState = 1
	SyncBackup SyncState = 2
)

func (s SyncState) String() string {
	switch s {
	case SyncMaster:
		return "master"
	case SyncBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", uint32(s))
}

// SyncDaemon is one running sync daemon: its role, the interface it multicasts on or
// listens on (224.0.0.81, UDP 8848, the kernel's defaults), and the sync ID that pairs a
// master with its backups.
type SyncDaemon struct {
	State     SyncState `json:"state"`
	Interface string    `json:"interface"`
	SyncID    uint8     `json:"sync_id"`
}

// SyncDaemons is implemented by tables that can run the kernel's sync daemons (kernel
// IPVS; not the userspace data plane).
type SyncDaemons interface {
	// SyncDaemons lists the running daemons.
	SyncDaemons(ctx context.Context) ([]SyncDaemon, error)
	// StartSyncDaemon starts d (EEXIST if a daemon of that role runs).
	StartSyncDaemon(ctx context.Context, d SyncDaemon) error
	// StopSyncDaemon stops the daemon of that role (ESRCH if none runs).
	StopSyncDaemon(ctx context.Context, s SyncState) error
}

// Sync daemon commands and attributes (include/uapi/linux/ip_vs.h).
const (
	ipvsCmdNewDaemon = 9
	ipvsCmdDelDaemon = 10
	ipvsCmdGetDaemon = 11

	ipvsCmdAttrDaemon = 3

	daemonAttrState    = 1
	daemonAttrMcastIfn = 2
	daemonAttrSyncID   = 3
)

// maxIfnameLen is IP_VS_IFNAME_MAXLEN less its NUL.
const maxIfnameLen = 15

// daemonAttrs encodes IPVS_CMD_ATTR_DAEMON as ip_vs_genl_new_daemon reads it; a stop
// needs only the state.
func daemonAttrs(d SyncDaemon, start bool) ([]byte, error) {
	in := appendAttr(nil, daemonAttrState, binary.NativeEndian.AppendUint32(nil, uint32(d.State)))
	if start {
		if d.Interface == "" || len(d.Interface) > maxIfnameLen {
			return nil, fmt.Errorf("sync daemon interface %q: want 1-%d characters", d.Interface, maxIfnameLen)
		}
		in = appendAttr(in, daemonAttrMcastIfn, append([]byte(d.Interface), 0))
		in = appendAttr(in, daemonAttrSyncID, binary.NativeEndian.AppendUint32(nil, uint32(d.SyncID)))
	}
	return appendAttr(nil, ipvsCmdAttrDaemon, in), nil
}

// decodeSyncDaemon decodes one IPVS_CMD_GET_DAEMON reply (after the genl header).
func decodeSyncDaemon(msg []byte) (SyncDaemon, error) {
	if len(msg) < genlHdrLen {
		return SyncDaemon{}, errMalformed
	}
	in, err := nested(msg, ipvsCmdAttrDaemon)
	if err != nil {
		return SyncDaemon{}, err
	}
	var d SyncDaemon
	err = walkAttrs(in, func(typ uint16, v []byte) error {
		switch typ {
		case daemonAttrState:
			s, err := attrU32(v)
			d.State = SyncState(s)
			return err
		case daemonAttrMcastIfn:
			d.Interface = cString(v)
		case daemonAttrSyncID:
			id, err := attrU32(v)
			if err == nil && id > 255 {
				return errMalformed
			}
			d.SyncID = uint8(id)
			return err
		}
		return nil
	})
	if err == nil && d.State != SyncMaster && d.State != SyncBackup {
		err = fmt.Errorf("%w: sync daemon state %d", errMalformed, uint32(d.State))
	}
	return d, err
}
