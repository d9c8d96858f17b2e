package conf

import (
	"log/slog"
	"net/netip"
	"regexp"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a whole, validated vigil configuration with every default filled in.
// Slices keep the order of the file.
type Config struct {
	Global              Global                `json:"global"`
	VirtualServerGroups []*VirtualServerGroup `json:"virtual_server_groups"`
	VirtualServers      []*VirtualServer      `json:"virtual_servers"`
	VRRPInstances       []*VRRPInstance       `json:"vrrp_instances"`
	SyncGroups          []*SyncGroup          `json:"vrrp_sync_groups"`
	// The tracked items that vrrp_instance and vrrp_sync_group blocks name.
	VRRPScripts    []*VRRPScript   `json:"vrrp_scripts"`
	TrackProcesses []*TrackProcess `json:"track_processes"`
	TrackFiles     []*TrackFile    `json:"track_files"`
	// BGP is the bgp block (bgp.go); nil when there is none.
	BGP *BGP `json:"bgp,omitempty"`
	// IPVSSync is the top-level ipvs_sync block (ipvs_sync.go): both sync daemons on
	// every director, for N active directors. nil when there is none.
	IPVSSync *IPVSSync `json:"ipvs_sync,omitempty"`
}

// VirtualServer returns the virtual server called name, or nil.
func (c *Config) VirtualServer(name string) *VirtualServer {
	for _, vs := range c.VirtualServers {
		if vs.Name == name {
			return vs
		}
	}
	return nil
}

// VRRPInstance returns the VRRP instance called name, or nil.
func (c *Config) VRRPInstance(name string) *VRRPInstance {
	for _, vi := range c.VRRPInstances {
		if vi.Name == name {
			return vi
		}
	}
	return nil
}

// LogLevel is the minimum level of log records written.
type LogLevel string

// Log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// SlogLevel returns the log/slog level of l (info for an unknown value).
func (l LogLevel) SlogLevel() slog.Level {
	switch l {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// LogFormat is the encoding of log records.
type LogFormat string

// Log formats.
const (
	LogText LogFormat = "text"
	LogJSON LogFormat = "json"
)

// Dataplane selects what carries the balanced traffic.
type Dataplane string

// Data planes.
const (
	DataplaneAuto      Dataplane = "auto"      // kernel when IPVS is available, else userspace
	DataplaneKernel    Dataplane = "kernel"    // kernel IPVS; fail when it is missing
	DataplaneUserspace Dataplane = "userspace" // the embedded L4 proxy
)

// Global holds the daemon-wide settings of the global block.
type Global struct {
	// RouterID names this director in logs and status; default: the host name.
	RouterID string `json:"router_id"`
	// Listen is the address of /metrics, /status and /healthz. Invalid (zero) when the
	// operator disabled it with listen = "".
	Listen    netip.AddrPort `json:"listen"`
	LogLevel  LogLevel       `json:"log_level"`
	LogFormat LogFormat      `json:"log_format"`
	Dataplane Dataplane      `json:"dataplane"`
	// ResyncInterval is how often the kernel table is compared with the desired state and
	// repaired.
	ResyncInterval time.Duration `json:"resync_interval"`
	// ManageSysctls lets vigil set net.ipv4.vs.expire_quiescent_template (persistent
	// services that quiesce) and net.ipv4.vs.expire_nodest_conn (on_failure = remove).
	ManageSysctls bool `json:"manage_sysctls"`
	// IPVSTimeouts are set with the equivalent of ipvsadm --set when non-zero.
	IPVSTimeouts IPVSTimeouts `json:"ipvs_timeouts"`
	// RemoveOnShutdown deletes vigil's virtual servers from the kernel when the daemon stops.
	// False (default) leaves IPVS in place so traffic keeps flowing across a restart.
	RemoveOnShutdown bool `json:"remove_on_shutdown"`
	// ControlSocket is the unix socket of vigil drain / maint / ready / plan (mode 0600:
	// root's); "" turns it off. Default DefaultControlSocket.
	ControlSocket string `json:"control_socket"`
	// StateDir holds the state file (administrative states, owned services); "" keeps
	// them in memory only. Default DefaultStateDir.
	StateDir string `json:"state_dir"`
	// Include are the glob patterns of the files read beside this one (relative to the
	// directory of the file that names them), as written.
	Include []string `json:"include,omitempty"`

	DeclRange hcl.Range `json:"-"` // the global block, or the start of the file when absent
}

// IPVSTimeouts are the kernel's connection timeouts. Zero leaves a value as it is.
type IPVSTimeouts struct {
	TCP    time.Duration `json:"tcp"`
	TCPFin time.Duration `json:"tcpfin"`
	UDP    time.Duration `json:"udp"`
}

// Protocol is the transport protocol of a virtual server.
type Protocol string

// Protocols.
const (
	TCP  Protocol = "tcp"
	UDP  Protocol = "udp"
	SCTP Protocol = "sctp"
)

// Family is an address family.
type Family string

// Families.
const (
	Inet  Family = "inet"
	Inet6 Family = "inet6"
)

// FamilyOf returns the family of a.
func FamilyOf(a netip.Addr) Family {
	if a.Unmap().Is4() {
		return Inet
	}
	return Inet6
}

// Scheduler is an IPVS scheduler by its kernel name.
type Scheduler string

// The 13 IPVS schedulers.
const (
	RoundRobin                 Scheduler = "rr"
	WeightedRoundRobin         Scheduler = "wrr"
	LeastConnection            Scheduler = "lc"
	WeightedLeastConnection    Scheduler = "wlc"
	LocalityLeastConnection    Scheduler = "lblc"
	LocalityLeastConnectionRep Scheduler = "lblcr"
	DestinationHashing         Scheduler = "dh"
	SourceHashing              Scheduler = "sh"
	ShortestExpectedDelay      Scheduler = "sed"
	NeverQueue                 Scheduler = "nq"
	WeightedFailover           Scheduler = "fo"
	WeightedOverflow           Scheduler = "ovf"
	MaglevHashing              Scheduler = "mh"
)

// Schedulers lists every valid Scheduler.
var Schedulers = []Scheduler{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"}

// SchedulerFlag is a scheduler flag or one-packet scheduling.
type SchedulerFlag string

// Scheduler flags. sh-* only with sh, mh-* only with mh, ops only with udp.
const (
	SHFallback SchedulerFlag = "sh-fallback" // IP_VS_SVC_F_SCHED1
	SHPort     SchedulerFlag = "sh-port"     // IP_VS_SVC_F_SCHED2
	MHFallback SchedulerFlag = "mh-fallback" // IP_VS_SVC_F_SCHED1
	MHPort     SchedulerFlag = "mh-port"     // IP_VS_SVC_F_SCHED2
	OnePacket  SchedulerFlag = "ops"         // IP_VS_SVC_F_ONEPACKET
)

// Forwarding is how the director hands packets to a real server.
type Forwarding string

// Forwarding methods.
const (
	NAT    Forwarding = "nat" // masquerading (ipvsadm -m)
	DR     Forwarding = "dr"  // direct routing (ipvsadm -g)
	Tunnel Forwarding = "tun" // IP-in-IP (ipvsadm -i)
)

// OnFailure is what happens to a real server whose checks fail.
type OnFailure string

// Failure actions.
const (
	Quiesce OnFailure = "quiesce" // weight 0: existing connections finish, no new ones
	Remove  OnFailure = "remove"  // the destination is deleted
)

// VirtualServer is one virtual_server block: an IPVS service and its real servers.
type VirtualServer struct {
	Name string `json:"name"`
	// Address is the service address for an address service; invalid for a fwmark service.
	Address netip.AddrPort `json:"address"`
	// FWMark is the firewall mark for a fwmark service; 0 for an address service.
	FWMark uint32 `json:"fwmark"`
	// Group names the virtual_server_group this virtual server balances (Address and FWMark
	// are then unset), and GroupMembers are its services; see Services.
	Group        string    `json:"group,omitempty"`
	GroupMembers []Service `json:"group_members,omitempty"`
	// Family is always set: derived from Address, the group, or the family attribute of a
	// fwmark service.
	Family Family `json:"family"`
	// Protocol is required for an address service. For a fwmark service it is optional
	// ("" when unset); it only allows ops (udp) and documents the service.
	Protocol       Protocol        `json:"protocol"`
	Scheduler      Scheduler       `json:"scheduler"`
	SchedulerFlags []SchedulerFlag `json:"scheduler_flags"`
	// Forwarding is the default for real servers that do not set their own.
	Forwarding Forwarding `json:"forwarding"`
	// Persistence is nil when the service is not persistent.
	Persistence *Persistence `json:"persistence"`
	OnFailure   OnFailure    `json:"on_failure"`
	// Quorum is the sum of healthy real-server weights the service needs to count as up;
	// Hysteresis widens it in both directions (keepalived semantics).
	Quorum     uint32 `json:"quorum"`
	Hysteresis uint32 `json:"hysteresis"`
	// SorryServer replaces the real servers while the quorum is lost; invalid when unset.
	// Its port defaults to the service port (0 for a fwmark service without one).
	SorryServer netip.AddrPort `json:"sorry_server"`
	// QuorumUp and QuorumDown run (argv, nil for none) when the quorum is gained or lost;
	// NotifyTimeout bounds each run (0 when there is no command), NotifyUser runs them as
	// that user ("": vigil's own).
	QuorumUp      []string      `json:"quorum_up,omitempty"`
	QuorumDown    []string      `json:"quorum_down,omitempty"`
	NotifyTimeout time.Duration `json:"notify_timeout,omitempty"`
	NotifyUser    string        `json:"notify_user,omitempty"`
	RealServers   []*RealServer `json:"real_servers"`
	// Announce advertises the virtual server's address over BGP while it is up (bgp.go).
	Announce bool `json:"announce,omitempty"`

	DeclRange     hcl.Range `json:"-"`
	announceRange hcl.Range
}

// IsFWMark reports whether vs is a firewall-mark service.
func (vs *VirtualServer) IsFWMark() bool { return vs.FWMark != 0 }

// RealServer returns the real server of vs called name, or nil.
func (vs *VirtualServer) RealServer(name string) *RealServer {
	for _, rs := range vs.RealServers {
		if rs.Name == name {
			return rs
		}
	}
	return nil
}

// Persistence makes a client stick to one real server.
type Persistence struct {
	Timeout time.Duration `json:"timeout"`
	// Netmask is the client granularity as a prefix length: clients in the same prefix
	// share a real server. Default: a whole host (32 or 128).
	Netmask int `json:"netmask"`
}

// RealServer is one real_server block.
type RealServer struct {
	Name string `json:"name"`
	// Address has its port filled from the virtual server when the file gives only an IP.
	// The port is 0 for a fwmark service whose real server gives none.
	Address netip.AddrPort `json:"address"`
	Weight  int            `json:"weight"` // 0..65535
	// Forwarding is effective: the real server's own, else the virtual server's.
	Forwarding     Forwarding `json:"forwarding"`
	UpperThreshold uint32     `json:"upper_threshold"` // 0: none
	LowerThreshold uint32     `json:"lower_threshold"` // 0: none
	Checks         []*Check   `json:"checks"`
	// NotifyUp and NotifyDown run (argv, nil for none) when the real server comes up or goes
	// down; NotifyTimeout (0 when there is no command) and NotifyUser as the virtual server's.
	NotifyUp      []string      `json:"notify_up,omitempty"`
	NotifyDown    []string      `json:"notify_down,omitempty"`
	NotifyTimeout time.Duration `json:"notify_timeout,omitempty"`
	NotifyUser    string        `json:"notify_user,omitempty"`

	DeclRange    hcl.Range `json:"-"`
	AddressRange hcl.Range `json:"-"` // the address attribute's value
}

// CheckKind names a health checker.
type CheckKind string

// Checker kinds. https is http with tls = true.
const (
	CheckHTTP  CheckKind = "http"
	CheckTCP   CheckKind = "tcp"
	CheckMySQL CheckKind = "mysql"
	CheckExec  CheckKind = "exec"
	CheckDNS   CheckKind = "dns"
	CheckUDP   CheckKind = "udp"
	CheckPing  CheckKind = "ping"
	CheckSMTP  CheckKind = "smtp"
)

// CheckKinds lists every valid CheckKind.
var CheckKinds = []CheckKind{CheckHTTP, CheckTCP, CheckMySQL, CheckExec, CheckDNS, CheckUDP, CheckPing, CheckSMTP}

// Check is one check "KIND" block. Exactly one of HTTP, TCP, MySQL, Exec, DNS, UDP, Ping,
// SMTP is non-nil, the one that matches Kind.
type Check struct {
	Kind     CheckKind     `json:"kind"`
	Interval time.Duration `json:"interval"`
	Timeout  time.Duration `json:"timeout"` // 0 < Timeout <= Interval
	Rise     int           `json:"rise"`    // consecutive successes to go up
	Fall     int           `json:"fall"`    // consecutive failures to go down

	// Target is where a network check connects: connect_address / connect_port, else the
	// real server's address and port. Invalid for exec checks; the port is 0 for ping.
	Target netip.AddrPort `json:"target"`
	// Source is the local address to bind (source_address); invalid when unset.
	Source netip.Addr `json:"source"`

	HTTP  *HTTPCheck  `json:"http,omitempty"`
	TCP   *TCPCheck   `json:"tcp,omitempty"`
	MySQL *MySQLCheck `json:"mysql,omitempty"`
	Exec  *ExecCheck  `json:"exec,omitempty"`
	DNS   *DNSCheck   `json:"dns,omitempty"`
	UDP   *UDPCheck   `json:"udp,omitempty"`
	Ping  *PingCheck  `json:"ping,omitempty"`
	SMTP  *SMTPCheck  `json:"smtp,omitempty"`

	DeclRange hcl.Range `json:"-"`
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct {
	Min int `json:"min"`
	Max int `json:"max"`
}

// HTTPCheck requests a URL and judges the response.
type HTTPCheck struct {
	Method string `json:"method"` // default GET
	Path   string `json:"path"`   // default "/"
	// Host is the Host header; "" means the target address.
	Host    string            `json:"host"`
	Headers map[string]string `json:"headers"`
	// ExpectStatus passes when the status is in any range; default 200-299.
	ExpectStatus []StatusRange `json:"expect_status"`
	// ExpectBody must match somewhere in the body (first MaxBodyBytes); nil: not checked.
	ExpectBody *regexp.Regexp `json:"expect_body"`
	// ExpectDigest is the lowercase hex MD5 of the body; "" when not checked.
	ExpectDigest string `json:"expect_digest"`
	// TLS is nil for plain HTTP.
	TLS          *TLS  `json:"tls"`
	MaxBodyBytes int64 `json:"max_body_bytes"`
}

// TLS configures a TLS client.
type TLS struct {
	CAFile     string `json:"ca_file"`     // "" : system roots
	ServerName string `json:"server_name"` // "" : Host, else the target IP
	CertFile   string `json:"cert_file"`   // client certificate, with KeyFile
	KeyFile    string `json:"key_file"`
	SkipVerify bool   `json:"skip_verify"`
}

// TCPCheck connects, optionally sends a payload and matches the reply.
type TCPCheck struct {
	Send string `json:"send"`
	// Expect must match what the server sends (read until match, EOF or timeout); nil: a
	// successful connect is enough.
	Expect *regexp.Regexp `json:"expect"`
}

// MySQLTLS is the TLS mode of a MySQL check (go-sql-driver/mysql's tls parameter).
type MySQLTLS string

// MySQL TLS modes.
const (
	MySQLTLSOff        MySQLTLS = "false"
	MySQLTLSOn         MySQLTLS = "true"
	MySQLTLSSkipVerify MySQLTLS = "skip-verify"
)

// MySQLCheck logs in to a MySQL/MariaDB server and runs a query.
type MySQLCheck struct {
	User     string   `json:"user"`
	Password Secret   `json:"password"`
	Database string   `json:"database"`
	TLS      MySQLTLS `json:"tls"`
	// Query runs after the login and must succeed; default "SELECT 1"; "" logs in and
	// pings only.
	Query string `json:"query"`
	// Expect must equal the first column of the first row (as text); "": any successful
	// query passes.
	Expect string `json:"expect"`
}

// ExecCheck runs a program: exit 0 is up, anything else is down.
type ExecCheck struct {
	// Command is the argv to execute. With shell = true it is ["/bin/sh", "-c", script].
	Command []string `json:"command"`
	Shell   bool     `json:"shell"`
	// User runs the command as this user ("" : vigil's own user).
	User string `json:"user"`
	// DynamicWeight: exit 0 up with the configured weight, 1 down, 2..255 up with weight
	// code-2 (keepalived's misc_dynamic).
	DynamicWeight bool              `json:"dynamic_weight"`
	Env           map[string]string `json:"env"`
}

// VRRPInstance is one vrrp_instance block: a virtual router on one interface.
type VRRPInstance struct {
	Name            string `json:"name"`
	Interface       string `json:"interface"`
	VirtualRouterID uint8  `json:"virtual_router_id"` // 1..255
	Priority        uint8  `json:"priority"`          // 1..254 (255, address owner, is rejected)
	Version         int    `json:"version"`           // 2 or 3
	// Family of the virtual addresses (and of unicast_src / unicast_peers).
	Family         Family        `json:"family"`
	AdvertInterval time.Duration `json:"advert_interval"`
	Preempt        bool          `json:"preempt"`
	PreemptDelay   time.Duration `json:"preempt_delay"`
	// Accept is RFC 5798 Accept_Mode: accept packets addressed to the virtual addresses
	// while master. Always true: a director must, for IPVS to see the traffic.
	Accept bool `json:"accept"`
	// Handover: on a clean stop the master keeps its addresses until the new master
	// advertises (make-before-break), at most 3 x advert_interval + skew.
	Handover           bool           `json:"handover"`
	VirtualIPAddresses []netip.Prefix `json:"virtual_ipaddresses"`
	// VIPDevices are the entries of VirtualIPAddresses with a dev or label.
	VIPDevices []VIPDevice `json:"virtual_ipaddress_devices"`
	// UnicastSource is invalid when unset (the interface's primary address is used).
	UnicastSource netip.Addr `json:"unicast_src"`
	// UnicastPeers empty means multicast (224.0.0.18 / ff02::12).
	UnicastPeers        []netip.Addr         `json:"unicast_peers"`
	TrackInterfaces     []TrackInterface     `json:"track_interfaces"`
	TrackVirtualServers []TrackVirtualServer `json:"track_virtual_servers"`
	// Tracking holds the track_script, track_process and track_file blocks.
	Tracking Tracking `json:"tracking"`
	// IPVSSync, when set, runs the kernel's connection-synchronisation daemons by this
	// instance's state: master while master, backup otherwise.
	IPVSSync *IPVSSync `json:"ipvs_sync,omitempty"`
	Notify   Notify    `json:"notify"`
	GARP     GARP      `json:"garp"`
	// Authentication is VRRPv2's (keepalived's PASS or AH); nil: none.
	Authentication *Authentication `json:"authentication,omitempty"`

	DeclRange hcl.Range `json:"-"`
}

// TrackInterface lowers the priority by -Weight while the interface is down; Weight 0
// puts the instance in FAULT instead.
type TrackInterface struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"` // -253..253

	DeclRange hcl.Range `json:"-"`
}

// TrackVirtualServer changes the priority by Weight while the named virtual server is down
// (no quorum); Weight 0 puts the instance in FAULT instead.
type TrackVirtualServer struct {
	Name   string `json:"name"`
	Weight int    `json:"weight"` // -253..253

	DeclRange hcl.Range `json:"-"`
}

// Notify holds commands (argv) run on state changes. Nil: none.
type Notify struct {
	Master []string `json:"master"`
	Backup []string `json:"backup"`
	Fault  []string `json:"fault"`
	// Any runs on every change with 3 extra arguments: "INSTANCE", name, new state
	// ("MASTER", "BACKUP", "FAULT"), and the priority as a 4th.
	Any     []string      `json:"any"`
	Timeout time.Duration `json:"timeout"` // a command still running then is killed
}

// GARP controls gratuitous ARP / unsolicited neighbour advertisements sent on becoming
// master.
type GARP struct {
	// MasterRepeat is how many are sent at once on becoming master.
	MasterRepeat int `json:"master_repeat"`
	// MasterDelay is when a second burst follows (0: none).
	MasterDelay time.Duration `json:"master_delay"`
	// MasterRefresh repeats a burst periodically while master (0: off).
	MasterRefresh time.Duration `json:"master_refresh"`
}

// SyncGroup is a vrrp_sync_group: its instances change state together.
type SyncGroup struct {
	Name      string   `json:"name"`
	Instances []string `json:"instances"`
	// Tracking applies to every member.
	Tracking Tracking `json:"tracking"`

	DeclRange hcl.Range `json:"-"`
}

// Secret is a string that is never printed: formatting, JSON, text and slog all render it
// as "<redacted>" (or "" when empty). Reveal returns the value.
type Secret string

const redacted = "<redacted>"

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Reveal returns the secret's value, for the one place that must use it.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer.
func (s Secret) String() string { return s.mask() }

// GoString implements fmt.GoStringer, so %#v does not leak it either.
func (s Secret) GoString() string { return `"` + s.mask() + `"` }

// MarshalText implements encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.mask() + `"`), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }

// IPVSSync is an ipvs_sync block: a vrrp_instance's (the daemons follow its state) or
// the top-level one (Active: both daemons always).
type IPVSSync struct {
	// Interface the sync messages go out on / are received on (224.0.0.81, UDP 8848).
	Interface string `json:"interface"`
	// SyncID pairs a master with its backups (0..255; in an instance, default
	// virtual_router_id).
	SyncID uint8 `json:"sync_id"`
	// Active is the top-level block's: the master and the backup daemon run at once on
	// every director, each sending its own connections and installing the others'.
	Active    bool      `json:"active,omitempty"`
	DeclRange hcl.Range `json:"-"`
}
