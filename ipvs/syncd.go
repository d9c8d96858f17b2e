package ipvs

import (
	"context"
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
