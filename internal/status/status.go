// Package status is the read-only snapshot of a running director that /status, /metrics
// and `vigil status` render.
package status

import (
	"time"
)

// Snapshot is everything an operator can ask a running vigil. It never holds a secret.
type Snapshot struct {
	Version        string          `json:"version"`
	PID            int             `json:"pid,omitempty"` // of `vigil run`, for `vigil reload -f`
	RouterID       string          `json:"router_id"`
	Dataplane      string          `json:"dataplane"` // "kernel" or "userspace"
	Started        time.Time       `json:"started"`
	Config         ConfigStatus    `json:"config"`
	VirtualServers []VirtualServer `json:"virtual_servers"`
	VRRP           []VRRPInstance  `json:"vrrp_instances"`
	IPVS           IPVSCounters    `json:"ipvs"`
	Warnings       []string        `json:"warnings,omitempty"`
	BGP            *BGP            `json:"bgp,omitempty"` // nil without a bgp block
	// IPVSSync is the top-level ipvs_sync block's daemons (both roles); nil without it. An
	// instance's ipvs_sync is in its VRRPInstance.
	IPVSSync *IPVSSync `json:"ipvs_sync,omitempty"`
}

// ConfigStatus describes the loaded configuration and the reloads.
type ConfigStatus struct {
	Path          string    `json:"path"`
	Generation    uint64    `json:"generation"` // 1 after the first load, +1 per successful reload
	LoadedAt      time.Time `json:"loaded_at"`
	ReloadsOK     uint64    `json:"reloads_ok"`
	ReloadsFailed uint64    `json:"reloads_failed"`
	// The last reload: all absent before the first one.
	LastReloadAt time.Time `json:"last_reload_at,omitzero"`
	LastReloadOK *bool     `json:"last_reload_ok,omitempty"`
	// LastReloadResult is ReloadApplied, ReloadPartial or ReloadRejected.
	LastReloadResult string `json:"last_reload_result,omitempty"`
	// LastReloadErr is why the last reload failed: for a rejected file, its diagnostics as
	// `vigil check` prints them (at most 50, lines cut at 200 characters, no secret).
	LastReloadErr  string   `json:"last_reload_error,omitempty"`
	LastReloadDiff []string `json:"last_reload_diff,omitempty"`
	// LastReloadDuration is how long applying the last reload took (validation excluded).
	LastReloadDuration time.Duration `json:"last_reload_duration_ns"`
}

// Results of a reload (ConfigStatus.LastReloadResult).
const (
	ReloadApplied  = "applied"             // the new configuration runs
	ReloadPartial  = "applied_with_errors" // it runs, but the table refused some writes (the next resync retries them)
	ReloadRejected = "rejected"            // it did not validate; the old one keeps running
)

// IPVSCounters count the director's writes to its table and the drift it repaired.
type IPVSCounters struct {
	Writes        uint64    `json:"writes"`       // adds, updates and deletes the table accepted
	WriteErrors   uint64    `json:"write_errors"` // writes the table refused
	Resyncs       uint64    `json:"resyncs"`      // periodic comparisons run
	Repairs       uint64    `json:"repairs"`      // drift repaired by resync
	LastResyncAt  time.Time `json:"last_resync_at,omitzero"`
	LastResyncErr string    `json:"last_resync_error,omitempty"`
}

// VirtualServer is one configured virtual server and what the table holds for it.
type VirtualServer struct {
	Name        string   `json:"name"`
	Key         string   `json:"key"` // ipvsadm form: "TCP 198.18.0.254:80", "FWM 6666"
	Protocol    string   `json:"protocol,omitempty"`
	Address     string   `json:"address,omitempty"` // ip:port, empty for fwmark
	FWMark      uint32   `json:"fwmark,omitempty"`
	Family      string   `json:"family"`
	Scheduler   string   `json:"scheduler"`
	Flags       []string `json:"scheduler_flags,omitempty"`
	Persistence string   `json:"persistence,omitempty"` // e.g. "300s"
	// MHFingerprint digests the Maglev table the kernel builds for an mh service from its
	// destination list (ipvs.MaglevFingerprint): directors showing the same one send every
	// client to the same real server. Empty for other schedulers and groups.
	MHFingerprint string `json:"mh_fingerprint,omitempty"`
	OnFailure     string `json:"on_failure"`
	Healthy       int    `json:"healthy_real_servers"`
	Total         int    `json:"real_servers"`
	// Ready counts the real servers in administrative state ready: 0 with some configured
	// means the operator drained the whole virtual server.
	Ready       int          `json:"ready_real_servers"`
	QuorumUp    bool         `json:"quorum_up"`
	SorryActive bool         `json:"sorry_server_active,omitempty"`
	Present     bool         `json:"in_table"` // the table holds the service
	Stats       Stats        `json:"stats"`
	RealServers []RealServer `json:"real_servers_detail"`
	// Group names the virtual_server_group the virtual server balances. Services then lists
	// its IPVS services; Present means the table holds all of them, Stats and the real
	// servers' connections and counters add them up, a real server is InTable when every
	// service holds it and its AppliedWeight is the lowest the services hold.
	Group    string    `json:"group,omitempty"`
	Services []Service `json:"services,omitempty"`
	Accepts
}

// Service is one IPVS service of a group's virtual server, with its destinations.
type Service struct {
	Key          string        `json:"key"` // ipvsadm form: "TCP 198.18.0.10:80", "FWM 6"
	Protocol     string        `json:"protocol,omitempty"`
	Address      string        `json:"address,omitempty"`
	FWMark       uint32        `json:"fwmark,omitempty"`
	Present      bool          `json:"in_table"`
	Stats        Stats         `json:"stats"`
	Destinations []Destination `json:"destinations"`
	Accepts
}

// Accepts are the failed accepts of a service's listener in the userspace data plane
// (EMFILE, ENFILE, ENOBUFS, ENOMEM, ...), each of which paused its accepts: a group's
// services added up. Absent with kernel IPVS, which accepts nothing, and for UDP.
type Accepts struct {
	AcceptErrors  *uint64 `json:"accept_errors,omitempty"`
	AcceptsPaused bool    `json:"accepts_paused,omitempty"` // a pause runs now
}

// Destination is one real server in one service of a group.
type Destination struct {
	RealServer    string `json:"real_server"`
	Address       string `json:"address"`
	Sorry         bool   `json:"sorry_server,omitempty"`
	InTable       bool   `json:"in_table"`
	AppliedWeight *int   `json:"applied_weight,omitempty"` // absent when it is not in the table
	ActiveConns   uint32 `json:"active_connections"`
	InactiveConns uint32 `json:"inactive_connections"`
	Stats         Stats  `json:"stats"`
}

// RealServer is one real server: its health, weights and connections.
type RealServer struct {
	Name             string  `json:"name"`
	Address          string  `json:"address"`
	Forwarding       string  `json:"forwarding"` // nat | dr | tun
	Health           string  `json:"health"`     // up | down | unknown
	ConfiguredWeight int     `json:"configured_weight"`
	DynamicWeight    *int    `json:"dynamic_weight,omitempty"` // set only by an exec check with dynamic_weight
	AppliedWeight    *int    `json:"applied_weight,omitempty"` // the weight in the table; absent when it is not there
	InTable          bool    `json:"in_table"`
	Sorry            bool    `json:"sorry_server,omitempty"`
	ActiveConns      uint32  `json:"active_connections"`
	InactiveConns    uint32  `json:"inactive_connections"`
	Stats            Stats   `json:"stats"`
	Checks           []Check `json:"checks,omitempty"`
	// AdminState is the operator's: ready (the weight follows health), drain or maint
	// (vigil drain / maint / ready); AdminSince is when it was set.
	AdminState  string    `json:"admin_state"`
	AdminRemove bool      `json:"admin_remove,omitempty"` // maint --remove: out of the table
	AdminSince  time.Time `json:"admin_since,omitzero"`
	// PersistConns are the persistence templates the table holds for it (kernel IPVS).
	PersistConns uint32 `json:"persistent_connections,omitempty"`
	// HealthSince is when Health last changed (or the real server appeared); Flaps counts
	// its changes between up and down; History holds its last 20 transitions of health and
	// administrative state, oldest first.
	HealthSince time.Time    `json:"health_since,omitzero"`
	Flaps       uint64       `json:"flaps"`
	History     []Transition `json:"history,omitempty"`
}

// Transition is one change of a real server's health or administrative state.
type Transition struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"` // health | admin
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"` // the check and what it saw, or who set it
}

// Check is one health check of a real server.
type Check struct {
	Kind        string        `json:"kind"`
	State       string        `json:"state"` // up | down | unknown
	LastOK      bool          `json:"last_ok"`
	LastReason  string        `json:"last_reason,omitempty"`
	LastLatency time.Duration `json:"last_latency_ns"`
	LastAt      time.Time     `json:"last_at,omitzero"`
	Probes      uint64        `json:"probes"`
	Failures    uint64        `json:"failures"`
	Transitions uint64        `json:"transitions"`
	Interval    time.Duration `json:"interval_ns"`
	Timeout     time.Duration `json:"timeout_ns"`
	Rise        int           `json:"rise"`
	Fall        int           `json:"fall"`
}

// Stats are traffic counters in the kernel's terms.
type Stats struct {
	Conns    uint64 `json:"connections"`
	InPkts   uint64 `json:"in_packets"`
	OutPkts  uint64 `json:"out_packets"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
}

// VRRPInstance is one VRRP instance.
type VRRPInstance struct {
	Name              string            `json:"name"`
	Interface         string            `json:"interface"`
	VRID              int               `json:"virtual_router_id"`
	Version           int               `json:"version"`
	State             string            `json:"state"` // init | backup | master | fault
	BasePriority      int               `json:"priority"`
	EffectivePriority int               `json:"effective_priority"`
	MasterAddr        string            `json:"master_address,omitempty"`
	VIPs              []string          `json:"virtual_ipaddresses"`
	SyncGroup         string            `json:"sync_group,omitempty"`
	Transitions       uint64            `json:"transitions"`
	AdvertsSent       uint64            `json:"adverts_sent"`
	AdvertsReceived   uint64            `json:"adverts_received"`
	Invalid           map[string]uint64 `json:"invalid_adverts,omitempty"`
	Tracked           []Tracked         `json:"tracked,omitempty"`
	IPVSSync          *IPVSSync         `json:"ipvs_sync,omitempty"`
}

// IPVSSync is the kernel connection-sync daemons a VRRP instance drives, or the
// top-level ipvs_sync block runs (ipvs_sync).
type IPVSSync struct {
	Interface string `json:"interface"`
	SyncID    int    `json:"sync_id"`
	Daemon    string `json:"daemon"` // master | backup | master+backup | none: what runs now
	Error     string `json:"error,omitempty"`
}

// Tracked is one item a VRRP instance tracks.
type Tracked struct {
	Kind   string `json:"kind"` // interface | virtual_server
	Name   string `json:"name"`
	Up     bool   `json:"up"`
	Weight int    `json:"weight"`
}

// VRRP state numbers as the keepalived exporters use them (vigil_vrrp_state).
var VRRPStateNumber = map[string]int{"init": 0, "backup": 1, "master": 2, "fault": 3}
