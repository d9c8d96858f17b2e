package conf

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// KeepalivedKeyword maps one keepalived.conf keyword, in the block keepalived takes it in,
// to vigil's configuration. KeepalivedKeywords is the one such table: diagnostics use it
// to explain keepalived's names written in a vigil file, and `vigil import` to translate.
type KeepalivedKeyword struct {
	// In is the keepalived block the keyword is written in: the block keywords from the
	// top, "/"-separated, e.g. "vrrp_instance/authentication",
	// "virtual_server/real_server/HTTP_GET/url"; "" is the top level.
	In string
	// Keyword is keepalived's keyword.
	Keyword string
	// VigilIn is the vigil block the equivalent is written in, in the same form over
	// vigil's block types, a check block being `check "KIND"` (`check` alone: every check);
	// Vigil is the attribute or block there, "" when vigil has no equivalent.
	VigilIn, Vigil string
	// Opens: the keyword opens a block in keepalived, whose keywords have In =
	// In/Keyword. Its vigil counterpart is the block Vigil (or, when Vigil is "", the
	// keywords inside go straight into VigilIn).
	Opens bool
	// Note says what differs (unit, form, meaning), or why vigil has no equivalent.
	Note string
}

// Block paths of both sides, for the table below.
const (
	kaVS     = "virtual_server"
	kaRS     = "virtual_server/real_server"
	vigilRS  = "virtual_server/real_server"
	kaVI     = "vrrp_instance"
	noMail   = "vigil sends no mail: run a command from notify_master, notify_backup or notify_fault, or alert on /metrics."
	strictly = "vigil never adds keepalived's strict-mode firewall drop: a director's master must accept its virtual addresses' traffic for IPVS (accept = true)."
)

// KeepalivedKeywords is keepalived 2.2's configuration keywords that vigil maps, or
// deliberately does not.
var KeepalivedKeywords = append([]KeepalivedKeyword{
	// The top level.
	{In: "", Keyword: "global_defs", VigilIn: "", Vigil: "global", Opens: true},
	{In: "", Keyword: "vrrp_instance", VigilIn: "", Vigil: "vrrp_instance", Opens: true,
		Note: `The instance's name becomes the block's label: vrrp_instance "VI_1" { ... }.`},
	{In: "", Keyword: "vrrp_sync_group", VigilIn: "", Vigil: "vrrp_sync_group", Opens: true},
	{In: "", Keyword: "virtual_server", VigilIn: "", Vigil: "virtual_server", Opens: true,
		Note: `keepalived's "virtual_server IP PORT" becomes a named block with address = "IP:PORT" (or fwmark = N, or group = "NAME" for "virtual_server group NAME").`},
	{In: "", Keyword: "static_ipaddress", Note: "Configure the host's own addresses with the system's network setup; vigil manages only virtual addresses."},
	{In: "", Keyword: "static_routes", Note: "Configure routes with the system's network setup; vigil manages only virtual addresses."},

	// global_defs.
	{In: "global_defs", Keyword: "router_id", VigilIn: "global", Vigil: "router_id"},
	{In: "global_defs", Keyword: "vrrp_version", VigilIn: kaVI, Vigil: "version",
		Note: "vigil sets it per instance; keepalived's default is 2, vigil's 3."},
	{In: "global_defs", Keyword: "lvs_timeouts", VigilIn: "global", Vigil: "ipvs_timeouts",
		Note: `A block of durations: ipvs_timeouts { tcp = "900s", tcpfin = "120s", udp = "300s" }.`},
	{In: "global_defs", Keyword: "lvs_sync_daemon", VigilIn: kaVI, Vigil: "ipvs_sync",
		Note: "An ipvs_sync { interface = ... } block in the instance whose state drives the sync daemons."},
	{In: "global_defs", Keyword: "vrrp_garp_master_delay", VigilIn: kaVI, Vigil: "garp_master_delay", Note: `Per instance, a duration ("5s").`},
	{In: "global_defs", Keyword: "vrrp_garp_master_repeat", VigilIn: kaVI, Vigil: "garp_master_repeat", Note: "Per instance."},
	{In: "global_defs", Keyword: "vrrp_garp_master_refresh", VigilIn: kaVI, Vigil: "garp_master_refresh", Note: `Per instance, a duration ("60s").`},
	{In: "global_defs", Keyword: "vrrp_strict", Note: strictly},
	{In: "global_defs", Keyword: "vrrp_skip_check_adv_addr", Note: "vigil always checks that an advert's addresses are its own (RFC 5798 §7.1), so both sides must list the same."},
	{In: "global_defs", Keyword: "vrrp_check_unicast_src", Note: "vigil always drops a unicast advert from an address that is not in unicast_peers."},
	{In: "global_defs", Keyword: "vrrp_mcast_group4", Note: "vigil uses RFC 5798's group, 224.0.0.18."},
	{In: "global_defs", Keyword: "vrrp_mcast_group6", Note: "vigil uses RFC 5798's group, ff02::12."},
	{In: "global_defs", Keyword: "vrrp_rt_priority", Note: "vigil runs VRRP at SCHED_RR priority 10 already (vigil run --no-realtime turns that off)."},
	{In: "global_defs", Keyword: "max_auto_priority", Note: "vigil runs VRRP at SCHED_RR priority 10 already (vigil run --no-realtime turns that off)."},
	{In: "global_defs", Keyword: "script_user", VigilIn: vigilRS + `/check "exec"`, Vigil: "user", Note: "vigil sets the user of each command."},
	{In: "global_defs", Keyword: "enable_script_security", Note: "vigil runs commands as argv lists without a shell unless shell = true, as the user each one names."},
	{In: "global_defs", Keyword: "notification_email", Note: noMail},
	{In: "global_defs", Keyword: "notification_email_from", Note: noMail},
	{In: "global_defs", Keyword: "smtp_server", Note: noMail},
	{In: "global_defs", Keyword: "smtp_connect_timeout", Note: noMail},

	// vrrp_instance.
	{In: kaVI, Keyword: "state", Note: "vigil has no initial state: every instance starts as backup and the highest priority becomes master (keepalived's state MASTER only skips the first wait). Give the intended master the higher priority."},
	{In: kaVI, Keyword: "interface", VigilIn: kaVI, Vigil: "interface"},
	{In: kaVI, Keyword: "virtual_router_id", VigilIn: kaVI, Vigil: "virtual_router_id"},
	{In: kaVI, Keyword: "priority", VigilIn: kaVI, Vigil: "priority"},
	{In: kaVI, Keyword: "version", VigilIn: kaVI, Vigil: "version", Note: "keepalived's default is 2, vigil's 3."},
	{In: kaVI, Keyword: "advert_int", VigilIn: kaVI, Vigil: "advert_interval", Note: `It is a duration: advert_int 1 is advert_interval = "1s".`},
	{In: kaVI, Keyword: "nopreempt", VigilIn: kaVI, Vigil: "preempt", Note: "Write preempt = false."},
	{In: kaVI, Keyword: "preempt_delay", VigilIn: kaVI, Vigil: "preempt_delay", Note: `A duration: preempt_delay = "10s".`},
	{In: kaVI, Keyword: "virtual_ipaddress", VigilIn: kaVI, Vigil: "virtual_ipaddresses", Note: `It is a list: virtual_ipaddresses = ["198.18.0.254/24"].`},
	{In: kaVI, Keyword: "virtual_ipaddress_excluded", Note: "vigil advertises every virtual address, and a keepalived peer compares the list: both sides must list the same addresses."},
	{In: kaVI, Keyword: "unicast_src_ip", VigilIn: kaVI, Vigil: "unicast_src"},
	{In: kaVI, Keyword: "unicast_peer", VigilIn: kaVI, Vigil: "unicast_peers", Note: `It is a list: unicast_peers = ["198.18.0.12"].`},
	{In: kaVI, Keyword: "mcast_src_ip", Note: "vigil sends multicast adverts from the interface's primary address, as keepalived does without mcast_src_ip."},
	{In: kaVI, Keyword: "track_interface", VigilIn: kaVI, Vigil: "track_interface", Note: `One block per interface: track_interface "eth1" { weight = -50 }.`},
	{In: kaVI, Keyword: "authentication", VigilIn: kaVI, Vigil: "authentication", Opens: true, Note: "VRRP version 2 only."},
	{In: kaVI, Keyword: "notify_master", VigilIn: kaVI, Vigil: "notify_master", Note: `An argv list: notify_master = ["/etc/vigil/master.sh"].`},
	{In: kaVI, Keyword: "notify_backup", VigilIn: kaVI, Vigil: "notify_backup", Note: "An argv list."},
	{In: kaVI, Keyword: "notify_fault", VigilIn: kaVI, Vigil: "notify_fault", Note: "An argv list."},
	{In: kaVI, Keyword: "notify", VigilIn: kaVI, Vigil: "notify", Note: "An argv list; it gets keepalived's arguments: INSTANCE, the name, the state, the priority."},
	{In: kaVI, Keyword: "notify_stop", Note: "vigil runs notify_backup when it stops as master."},
	{In: kaVI, Keyword: "smtp_alert", Note: noMail},
	{In: kaVI, Keyword: "garp_master_delay", VigilIn: kaVI, Vigil: "garp_master_delay", Note: `A duration ("5s").`},
	{In: kaVI, Keyword: "garp_master_repeat", VigilIn: kaVI, Vigil: "garp_master_repeat"},
	{In: kaVI, Keyword: "garp_master_refresh", VigilIn: kaVI, Vigil: "garp_master_refresh", Note: `A duration ("60s").`},
	{In: kaVI, Keyword: "lvs_sync_daemon_interface", VigilIn: kaVI, Vigil: "ipvs_sync", Note: `A block: ipvs_sync { interface = "eth1" }.`},
	{In: kaVI, Keyword: "use_vmac", Note: "vigil sends from the interface's own MAC, keepalived's default; gratuitous ARPs move the neighbours."},
	{In: kaVI, Keyword: "dont_track_primary", Note: "vigil always goes to FAULT while its interface is down."},
	{In: kaVI, Keyword: "accept", VigilIn: kaVI, Vigil: "accept"},
	{In: kaVI, Keyword: "no_accept", VigilIn: kaVI, Vigil: "accept", Note: "vigil supports only accept = true: IPVS must see the virtual addresses' traffic."},
	{In: kaVI, Keyword: "strict_mode", Note: strictly},
	{In: kaVI, Keyword: "debug", VigilIn: "global", Vigil: "log_level", Note: `One level for the daemon: log_level = "debug".`},

	// authentication.
	{In: kaVI + "/authentication", Keyword: "auth_type", VigilIn: kaVI + "/authentication", Vigil: "type", Note: `In lower case: "pass" or "ah".`},
	{In: kaVI + "/authentication", Keyword: "auth_pass", VigilIn: kaVI + "/authentication", Vigil: "password",
		Note: "1 to 8 characters: keepalived uses only the first 8, and \"!\" or \"#\" starts a comment in keepalived.conf."},

	// vrrp_sync_group.
	{In: "vrrp_sync_group", Keyword: "group", VigilIn: "vrrp_sync_group", Vigil: "instances", Note: `A list of the instances' names: instances = ["VI_1", "VI_2"].`},
	{In: "vrrp_sync_group", Keyword: "notify_master", Note: "vigil runs notify commands per instance: put them in the instances."},
	{In: "vrrp_sync_group", Keyword: "notify_backup", Note: "vigil runs notify commands per instance: put them in the instances."},
	{In: "vrrp_sync_group", Keyword: "notify_fault", Note: "vigil runs notify commands per instance: put them in the instances."},
	{In: "vrrp_sync_group", Keyword: "notify", Note: "vigil runs notify commands per instance: put them in the instances."},
	{In: "vrrp_sync_group", Keyword: "smtp_alert", Note: noMail},

	// virtual_server.
	{In: kaVS, Keyword: "lb_algo", VigilIn: kaVS, Vigil: "scheduler"},
	{In: kaVS, Keyword: "lvs_sched", VigilIn: kaVS, Vigil: "scheduler"},
	{In: kaVS, Keyword: "lb_kind", VigilIn: kaVS, Vigil: "forwarding", Note: `In lower case: "nat", "dr" or "tun".`},
	{In: kaVS, Keyword: "lvs_method", VigilIn: kaVS, Vigil: "forwarding", Note: `In lower case: "nat", "dr" or "tun".`},
	{In: kaVS, Keyword: "protocol", VigilIn: kaVS, Vigil: "protocol", Note: `In lower case: "tcp", "udp" or "sctp".`},
	{In: kaVS, Keyword: "persistence_timeout", VigilIn: kaVS + "/persistence", Vigil: "timeout", Note: `A block: persistence { timeout = "300s" }.`},
	{In: kaVS, Keyword: "persistence_granularity", VigilIn: kaVS + "/persistence", Vigil: "netmask", Note: `In the persistence block: persistence { netmask = "255.255.255.0" }.`},
	{In: kaVS, Keyword: "ops", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `scheduler_flags = ["ops"].`},
	{In: kaVS, Keyword: "sh-port", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `scheduler_flags = ["sh-port"].`},
	{In: kaVS, Keyword: "sh-fallback", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `scheduler_flags = ["sh-fallback"].`},
	{In: kaVS, Keyword: "sorry_server", VigilIn: kaVS, Vigil: "sorry_server", Note: `One address: sorry_server = "198.18.0.30:80".`},
	{In: kaVS, Keyword: "quorum", VigilIn: kaVS, Vigil: "quorum"},
	{In: kaVS, Keyword: "hysteresis", VigilIn: kaVS, Vigil: "hysteresis"},
	{In: kaVS, Keyword: "inhibit_on_failure", VigilIn: kaVS, Vigil: "on_failure",
		Note: `vigil's default, on_failure = "quiesce" (weight 0), is keepalived's inhibit_on_failure; keepalived without it removes the server: on_failure = "remove".`},
	{In: kaVS, Keyword: "alpha", Note: "vigil gives a new real server no traffic until its first check passes, as keepalived's alpha."},
	{In: kaVS, Keyword: "omega", Note: "vigil runs notify_down and quorum_down when health changes, not at shutdown."},
	{In: kaVS, Keyword: "ha_suspend", Note: "vigil runs checks whatever the VRRP state, so a new master has current health at once."},
	{In: kaVS, Keyword: "virtualhost", VigilIn: vigilRS + `/check "http"`, Vigil: "host", Note: "Per HTTP check."},
	{In: kaVS, Keyword: "delay_loop", VigilIn: vigilRS + "/check", Vigil: "interval", Note: `In each check block, a duration: interval = "6s".`},
	{In: kaVS, Keyword: "retry", VigilIn: vigilRS + "/check", Vigil: "fall", Note: "In each check block: keepalived marks a server down after retry + 1 failures, so fall = retry + 1."},
	{In: kaVS, Keyword: "delay_before_retry", Note: "vigil retries at the check's interval."},
	{In: kaVS, Keyword: "real_server", VigilIn: kaVS, Vigil: "real_server", Opens: true,
		Note: `keepalived's "real_server IP PORT" becomes a named block with address = "IP:PORT".`},

	// real_server.
	{In: kaRS, Keyword: "weight", VigilIn: vigilRS, Vigil: "weight"},
	{In: kaRS, Keyword: "inhibit_on_failure", VigilIn: kaVS, Vigil: "on_failure",
		Note: `vigil sets it per virtual server; its default, on_failure = "quiesce" (weight 0), is keepalived's inhibit_on_failure.`},
	{In: kaRS, Keyword: "uthreshold", VigilIn: vigilRS, Vigil: "upper_threshold"},
	{In: kaRS, Keyword: "lthreshold", VigilIn: vigilRS, Vigil: "lower_threshold"},
	{In: kaRS, Keyword: "delay_loop", VigilIn: vigilRS + "/check", Vigil: "interval", Note: `In each check block, a duration: interval = "6s".`},
	{In: kaRS, Keyword: "retry", VigilIn: vigilRS + "/check", Vigil: "fall", Note: "In each check block: keepalived marks a server down after retry + 1 failures, so fall = retry + 1."},
	{In: kaRS, Keyword: "delay_before_retry", Note: "vigil retries at the check's interval."},
	{In: kaRS, Keyword: "HTTP_GET", VigilIn: vigilRS, Vigil: `check "http"`, Opens: true},
	{In: kaRS, Keyword: "SSL_GET", VigilIn: vigilRS, Vigil: `check "https"`, Opens: true},
	{In: kaRS, Keyword: "TCP_CHECK", VigilIn: vigilRS, Vigil: `check "tcp"`, Opens: true},
	{In: kaRS, Keyword: "MISC_CHECK", VigilIn: vigilRS, Vigil: `check "exec"`, Opens: true},

	// HTTP_GET and SSL_GET (their shared keywords are added below).
	{In: kaRS + "/HTTP_GET", Keyword: "url", VigilIn: vigilRS + `/check "http"`, Opens: true,
		Note: "A vigil check has one URL, whose path, expect_status and expect_digest are attributes of the check: another url block is another check."},
	{In: kaRS + "/SSL_GET", Keyword: "url", VigilIn: vigilRS + `/check "https"`, Opens: true,
		Note: "A vigil check has one URL, whose path, expect_status and expect_digest are attributes of the check: another url block is another check."},
	{In: kaRS + "/HTTP_GET", Keyword: "virtualhost", VigilIn: vigilRS + `/check "http"`, Vigil: "host"},
	{In: kaRS + "/SSL_GET", Keyword: "virtualhost", VigilIn: vigilRS + `/check "https"`, Vigil: "host"},
	{In: kaRS + "/SSL_GET", Keyword: "sni_name", VigilIn: vigilRS + `/check "https"`, Vigil: "tls_server_name"},

	// MISC_CHECK.
	{In: kaRS + "/MISC_CHECK", Keyword: "misc_path", VigilIn: vigilRS + `/check "exec"`, Vigil: "command",
		Note: `An argv list, run without a shell: command = ["/usr/local/bin/check", "arg"] (or a string with shell = true).`},
	{In: kaRS + "/MISC_CHECK", Keyword: "misc_timeout", VigilIn: vigilRS + `/check "exec"`, Vigil: "timeout", Note: `A duration ("5s").`},
	{In: kaRS + "/MISC_CHECK", Keyword: "misc_dynamic", VigilIn: vigilRS + `/check "exec"`, Vigil: "dynamic_weight", Note: "dynamic_weight = true."},
	{In: kaRS + "/MISC_CHECK", Keyword: "user", VigilIn: vigilRS + `/check "exec"`, Vigil: "user"},
	{In: kaRS + "/MISC_CHECK", Keyword: "delay_loop", VigilIn: vigilRS + `/check "exec"`, Vigil: "interval", Note: `A duration ("6s").`},
	{In: kaRS + "/MISC_CHECK", Keyword: "retry", VigilIn: vigilRS + `/check "exec"`, Vigil: "fall", Note: "keepalived marks a server down after retry + 1 failures, so fall = retry + 1."},
	{In: kaRS + "/MISC_CHECK", Keyword: "delay_before_retry", Note: "vigil retries at the check's interval."},
}, append(append(checkerKeywords(), lvsKeywords()...), trackKeywords()...)...)

// checkerKeywords are the keywords HTTP_GET, SSL_GET and TCP_CHECK share, and the url
// block of the first two.
func checkerKeywords() []KeepalivedKeyword {
	var out []KeepalivedKeyword
	for _, c := range []struct{ ka, vigil string }{{"HTTP_GET", "http"}, {"SSL_GET", "https"}, {"TCP_CHECK", "tcp"},
		{"DNS_CHECK", "dns"}, {"UDP_CHECK", "udp"}, {"PING_CHECK", "ping"}, {"SMTP_CHECK", "smtp"}} {
		in, vin := kaRS+"/"+c.ka, vigilRS+`/check "`+c.vigil+`"`
		port := KeepalivedKeyword{In: in, Keyword: "connect_port", VigilIn: vin, Vigil: "connect_port"}
		if c.ka == "PING_CHECK" {
			port = KeepalivedKeyword{In: in, Keyword: "connect_port", Note: "ICMP echo has no port."}
		}
		out = append(out,
			KeepalivedKeyword{In: in, Keyword: "connect_ip", VigilIn: vin, Vigil: "connect_address"},
			port,
			KeepalivedKeyword{In: in, Keyword: "bindto", VigilIn: vin, Vigil: "source_address"},
			KeepalivedKeyword{In: in, Keyword: "connect_timeout", VigilIn: vin, Vigil: "timeout", Note: `A duration ("3s").`},
			KeepalivedKeyword{In: in, Keyword: "delay_loop", VigilIn: vin, Vigil: "interval", Note: `A duration ("6s").`},
			KeepalivedKeyword{In: in, Keyword: "retry", VigilIn: vin, Vigil: "fall", Note: "keepalived marks a server down after retry + 1 failures, so fall = retry + 1."},
			KeepalivedKeyword{In: in, Keyword: "nb_get_retry", VigilIn: vin, Vigil: "fall", Note: "keepalived marks a server down after nb_get_retry + 1 failures, so fall = nb_get_retry + 1."},
			KeepalivedKeyword{In: in, Keyword: "delay_before_retry", Note: "vigil retries at the check's interval."},
			KeepalivedKeyword{In: in, Keyword: "warmup", Note: "vigil spreads the first checks with jitter by itself."},
		)
		if c.ka != "HTTP_GET" && c.ka != "SSL_GET" {
			continue
		}
		out = append(out,
			KeepalivedKeyword{In: in + "/url", Keyword: "path", VigilIn: vin, Vigil: "path"},
			KeepalivedKeyword{In: in + "/url", Keyword: "status_code", VigilIn: vin, Vigil: "expect_status", Note: `A list: expect_status = [200] (or ranges, "200-299").`},
			KeepalivedKeyword{In: in + "/url", Keyword: "digest", VigilIn: vin, Vigil: "expect_digest"},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex", VigilIn: vin, Vigil: "expect_body", Note: "A regular expression the body must match."},
		)
	}
	return out
}

// LookupKeepalived returns the table's entry for keyword in keepalived's block in.
func LookupKeepalived(in, keyword string) (KeepalivedKeyword, bool) {
	for _, e := range KeepalivedKeywords {
		if e.In == in && e.Keyword == keyword {
			return e, true
		}
	}
	return KeepalivedKeyword{}, false
}

// keepalivedBlock returns the keepalived block that corresponds to a vigil block path,
// following the table's block entries (the first keepalived block of a vigil block: a
// check "http" is HTTP_GET).
func keepalivedBlock(vigilPath []string) (string, bool) {
	ka, vigil := "", ""
next:
	for _, seg := range vigilPath {
		for _, e := range KeepalivedKeywords {
			if e.Opens && e.In == ka && e.VigilIn == vigil && e.Vigil == seg {
				ka, vigil = joinPath(ka, e.Keyword), joinPath(vigil, seg)
				continue next
			}
		}
		return "", false
	}
	return ka, true
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

// explain says what a keepalived keyword written in the vigil block vigilIn is in vigil.
func (e KeepalivedKeyword) explain(vigilIn string) string {
	var s string
	if e.Vigil == "" {
		s = fmt.Sprintf("`%s` is keepalived's; vigil has no equivalent.", e.Keyword)
	} else {
		where := ""
		if e.VigilIn != vigilIn {
			where = " at the top level"
			if e.VigilIn != "" {
				where = fmt.Sprintf(" in the `%s` block", e.VigilIn[strings.LastIndexByte(e.VigilIn, '/')+1:])
			}
		}
		s = fmt.Sprintf("`%s` is keepalived's name; vigil's is `%s`%s.", e.Keyword, e.Vigil, where)
	}
	if e.Note != "" {
		s += " " + e.Note
	}
	return s
}

// explainKeepalivedNames rewrites HCL's "not expected here" for a keepalived keyword
// written in a vigil block into what vigil calls it.
func explainKeepalivedNames(body *hclsyntax.Body, diags hcl.Diagnostics) {
	wanted := map[nameAt]*hcl.Diagnostic{}
	for _, d := range diags {
		if d.Subject != nil && (d.Summary == "Unsupported argument" || d.Summary == "Unsupported block type") {
			wanted[nameAt{d.Subject.Filename, d.Subject.Start.Byte, d.Subject.End.Byte}] = d
		}
	}
	if len(wanted) == 0 {
		return
	}
	// One walk of the file for all of them: a file of 100,000 unknown attributes is
	// walked once, not once per diagnostic.
	locateNames(body, nil, func(at nameAt, path []string, name string) {
		d, ok := wanted[at]
		if !ok {
			return
		}
		if e, ok := keepalivedKeywordIn(path, name); ok {
			d.Detail = e.explain(strings.Join(path, "/"))
		}
	})
}

// nameAt is where an attribute's or a block's name is written.
type nameAt struct {
	file       string
	start, end int
}

func rangeAt(r hcl.Range) nameAt { return nameAt{r.Filename, r.Start.Byte, r.End.Byte} }

// keepalivedKeywordIn finds keyword among the keywords keepalived takes in the block that
// corresponds to the vigil block path, or whose vigil equivalent is written there.
func keepalivedKeywordIn(path []string, keyword string) (KeepalivedKeyword, bool) {
	if ka, ok := keepalivedBlock(path); ok {
		if e, ok := LookupKeepalived(ka, keyword); ok {
			return e, true
		}
	}
	vigilIn := strings.Join(path, "/")
	for _, e := range KeepalivedKeywords {
		if e.Keyword == keyword && e.VigilIn == vigilIn && e.Vigil != "" {
			return e, true
		}
	}
	return KeepalivedKeyword{}, false
}

// locateNames calls found with every attribute's and block's name in body and the path of
// the vigil blocks it is written in (a check as `check "KIND"`).
func locateNames(body *hclsyntax.Body, path []string, found func(at nameAt, path []string, name string)) {
	for name, a := range body.Attributes {
		found(rangeAt(a.NameRange), path, name)
	}
	for _, b := range body.Blocks {
		found(rangeAt(b.TypeRange), path, b.Type)
		seg := b.Type
		if b.Type == "check" && len(b.Labels) == 1 {
			seg = `check "` + b.Labels[0] + `"`
		}
		locateNames(b.Body, append(path[:len(path):len(path)], seg), found)
	}
}
