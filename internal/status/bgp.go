package status

import "time"

// BGP is the BGP speaker's state: the sessions and the routes.
type BGP struct {
	ASN       uint32     `json:"asn"`
	RouterID  string     `json:"router_id,omitempty"`
	Neighbors []BGPPeer  `json:"neighbors"`
	Routes    []BGPRoute `json:"routes"`
	// Error is why the speaker is not running ("" while it runs).
	Error string `json:"error,omitempty"`
}

// BGPPeer is one neighbor's session.
type BGPPeer struct {
	Address string `json:"address"`
	ASN     uint32 `json:"asn"`
	// State: idle, connect, active, opensent, openconfirm or established.
	State       string    `json:"state"`
	Since       time.Time `json:"since,omitzero"`
	LastDown    string    `json:"last_down_reason,omitempty"`
	Established uint64    `json:"established_count"`
	BFD         bool      `json:"bfd"`
}

// BGPRoute is one virtual IP that a virtual server announces.
type BGPRoute struct {
	Prefix    string `json:"prefix"`
	Announced bool   `json:"announced"`
	// Reason says why it is announced or withdrawn: "up", "quorum lost on web", ...
	Reason         string    `json:"reason"`
	Since          time.Time `json:"since,omitzero"`
	VirtualServers []string  `json:"virtual_servers"`
}
