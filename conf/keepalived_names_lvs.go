package conf

// lvsKeywords are the keepalived keywords of virtual_server_group, the notify and quorum
// commands and the DNS_CHECK, UDP_CHECK, PING_CHECK and SMTP_CHECK checkers (their
// connection and timing keywords are checkerKeywords').
func lvsKeywords() []KeepalivedKeyword {
	const (
		dns  = kaRS + "/DNS_CHECK"
		udp  = kaRS + "/UDP_CHECK"
		smtp = kaRS + "/SMTP_CHECK"
	)
	script := `An argv list, run without a shell and with no arguments appended, as keepalived runs it: notify_up "/path/script arg" is notify_up = ["/path/script", "arg"]; keepalived's "script user:group" user goes in notify_user.`
	return []KeepalivedKeyword{
		{In: "", Keyword: "virtual_server_group", VigilIn: "", Vigil: "virtual_server_group", Opens: true,
			Note: `The group's name becomes the block's label; its "IP PORT" lines become addresses = ["IP:PORT", ...] (ranges "a.b.c.N-M:PORT" and prefixes "a.b.c.d/len:PORT" as keepalived writes them), and a virtual server names it with group = "NAME".`},
		{In: "virtual_server_group", Keyword: "fwmark", VigilIn: "virtual_server_group", Vigil: "fwmarks",
			Note: `A list: fwmarks = [6, 7]; a group is of one family (family = "inet6").`},

		{In: kaVS, Keyword: "quorum_up", VigilIn: kaVS, Vigil: "quorum_up", Note: script},
		{In: kaVS, Keyword: "quorum_down", VigilIn: kaVS, Vigil: "quorum_down", Note: script},
		{In: kaRS, Keyword: "notify_up", VigilIn: vigilRS, Vigil: "notify_up", Note: script},
		{In: kaRS, Keyword: "notify_down", VigilIn: vigilRS, Vigil: "notify_down", Note: script},

		{In: kaRS, Keyword: "DNS_CHECK", VigilIn: vigilRS, Vigil: `check "dns"`, Opens: true},
		{In: kaRS, Keyword: "UDP_CHECK", VigilIn: vigilRS, Vigil: `check "udp"`, Opens: true},
		{In: kaRS, Keyword: "PING_CHECK", VigilIn: vigilRS, Vigil: `check "ping"`, Opens: true},
		{In: kaRS, Keyword: "SMTP_CHECK", VigilIn: vigilRS, Vigil: `check "smtp"`, Opens: true},

		{In: dns, Keyword: "type", VigilIn: vigilRS + `/check "dns"`, Vigil: "query_type", Note: "keepalived's list of types; the default is SOA in both."},
		{In: dns, Keyword: "name", VigilIn: vigilRS + `/check "dns"`, Vigil: "query_name", Note: `The default is "." in both.`},
		{In: udp, Keyword: "require_reply", VigilIn: vigilRS + `/check "udp"`, Vigil: "require_reply",
			Note: `keepalived's "require_reply HEX" is expect = "HEX" (X for any nibble); a bare require_reply is require_reply = true.`},
		{In: smtp, Keyword: "host", VigilIn: vigilRS, Vigil: `check "smtp"`,
			Note: "keepalived's deprecated host blocks are one smtp check each, with connect_address and connect_port."},
	}
}
