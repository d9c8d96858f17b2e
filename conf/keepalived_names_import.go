package conf

// importKeywords are the keepalived keywords `vigil import` translates beyond those of
// the VRRP and LVS tables above: the tracked items' blocks, the keywords of every level
// that keepalived inherits downwards, and the checker options vigil does not have.
func importKeywords() []KeepalivedKeyword {
	const (
		script  = "vrrp_script"
		process = "vrrp_track_process"
		file    = "vrrp_track_file"
		smtp    = kaRS + "/SMTP_CHECK"
		udp     = kaRS + "/UDP_CHECK"
		inherit = "keepalived's virtual server setting is the default of its real servers, theirs of their checkers: vigil import writes the result in each check."
		noMark  = "vigil's probes carry no firewall mark, bind no source port and no interface."
		alpha   = "vigil gives a new real server no traffic until its first check passes, as keepalived's alpha; without alpha keepalived puts it in the table first."
		warmup  = "vigil spreads the first checks with jitter by itself."
		noSNMP  = "vigil has no SNMP: /metrics and /status name every virtual and real server."
		noMail  = "vigil sends no mail: run a command from notify_up or notify_down, or alert on /metrics."
	)
	vi := "vrrp_instance"
	out := []KeepalivedKeyword{
		// The tracked items, at the top level and where instances and sync groups name them.
		{In: "", Keyword: script, VigilIn: "", Vigil: script, Opens: true},
		{In: "", Keyword: process, VigilIn: "", Vigil: "track_process", Opens: true},
		{In: "", Keyword: file, VigilIn: "", Vigil: "track_file", Opens: true},
		{In: "", Keyword: "track_file", VigilIn: "", Vigil: "track_file", Opens: true, Note: "keepalived 2.2's name for vrrp_track_file."},
		{In: "", Keyword: "SSL", Opens: true, Note: "The client certificate of every SSL_GET: vigil import writes it into each https check."},
		{In: "SSL", Keyword: "certificate", VigilIn: vigilRS + `/check "https"`, Vigil: "tls_cert_file", Note: "In each https check."},
		{In: "SSL", Keyword: "key", VigilIn: vigilRS + `/check "https"`, Vigil: "tls_key_file", Note: "In each https check."},
		{In: "SSL", Keyword: "ca", Note: "keepalived's SSL_GET does not verify the server's certificate with it; vigil's https checks verify with tls_ca_file unless tls_skip_verify."},
		{In: "SSL", Keyword: "password", Note: "vigil reads only unencrypted key files: decrypt it (openssl pkey -in KEY -out KEY.plain)."},

		{In: script, Keyword: "script", VigilIn: script, Vigil: "command", Note: `An argv list, run without a shell, as keepalived 2 runs it: script "/usr/bin/pgrep -x haproxy" is command = ["/usr/bin/pgrep", "-x", "haproxy"].`},
		{In: script, Keyword: "interval", VigilIn: script, Vigil: "interval", Note: `A duration ("2s").`},
		{In: script, Keyword: "timeout", VigilIn: script, Vigil: "timeout", Note: `A duration ("2s").`},
		{In: script, Keyword: "weight", VigilIn: script, Vigil: "weight"},
		{In: script, Keyword: "rise", VigilIn: script, Vigil: "rise"},
		{In: script, Keyword: "fall", VigilIn: script, Vigil: "fall"},
		{In: script, Keyword: "user", VigilIn: script, Vigil: "user", Note: `"user" or "user:group".`},
		{In: script, Keyword: "init_fail", Note: "vigil's first run decides the first state, as keepalived's without init_fail; the instance waits for it."},

		{In: process, Keyword: "process", VigilIn: "track_process", Vigil: "process", Note: "The name; the words after it are args = [...]."},
		{In: process, Keyword: "quorum", VigilIn: "track_process", Vigil: "quorum"},
		{In: process, Keyword: "weight", VigilIn: "track_process", Vigil: "weight"},
		{In: process, Keyword: "delay", VigilIn: "track_process", Vigil: "delay", Note: `A duration ("2s").`},
		{In: process, Keyword: "quorum_max", Note: "vigil counts a process up at quorum or more, with no upper bound."},
		{In: process, Keyword: "param_match", Note: "vigil matches the arguments exactly when args is set (keepalived's default), else any."},
		{In: process, Keyword: "terminate_delay", Note: "vigil has one delay for both directions: delay."},
		{In: process, Keyword: "fork_delay", Note: "vigil has one delay for both directions: delay."},

		{In: vi, Keyword: "track_script", VigilIn: vi, Vigil: "track_script", Opens: true, Note: `One block per script: track_script "chk" { weight = -20 }.`},
		{In: vi, Keyword: "track_process", VigilIn: vi, Vigil: "track_process", Opens: true, Note: `One block per process: track_process "haproxy" {}.`},
		{In: vi, Keyword: "track_file", VigilIn: vi, Vigil: "track_file", Opens: true, Note: `One block per file: track_file "offset" {}.`},
		{In: "vrrp_sync_group", Keyword: "track_script", VigilIn: "vrrp_sync_group", Vigil: "track_script", Opens: true},
		{In: "vrrp_sync_group", Keyword: "track_process", VigilIn: "vrrp_sync_group", Vigil: "track_process", Opens: true},
		{In: "vrrp_sync_group", Keyword: "track_file", VigilIn: "vrrp_sync_group", Vigil: "track_file", Opens: true},

		// virtual_server.
		{In: kaVS, Keyword: "weight", VigilIn: vigilRS, Vigil: "weight", Note: "keepalived's default weight of the virtual server's real servers: vigil import writes it in each."},
		{In: kaVS, Keyword: "ip_family", VigilIn: kaVS, Vigil: "family", Note: `For a fwmark service: family = "inet6".`},
		{In: kaVS, Keyword: "connect_timeout", VigilIn: vigilRS + "/check", Vigil: "timeout", Note: inherit},
		{In: kaVS, Keyword: "warmup", Note: warmup},
		{In: kaVS, Keyword: "hashed", Note: "IPVS's hashed flag has no effect; vigil does not set it."},
		{In: kaVS, Keyword: "flag-1", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `For sh or mh: scheduler_flags = ["sh-fallback"] (or "mh-fallback").`},
		{In: kaVS, Keyword: "flag-2", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `For sh or mh: scheduler_flags = ["sh-port"] (or "mh-port").`},
		{In: kaVS, Keyword: "flag-3", Note: "No IPVS scheduler uses it."},
		{In: kaVS, Keyword: "mh-port", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `scheduler_flags = ["mh-port"].`},
		{In: kaVS, Keyword: "mh-fallback", VigilIn: kaVS, Vigil: "scheduler_flags", Note: `scheduler_flags = ["mh-fallback"].`},
		{In: kaVS, Keyword: "persistence_engine", Note: "vigil has no IPVS persistence engines (SIP): persistence is by client address."},
		{In: kaVS, Keyword: "sorry_server_inhibit", Note: "vigil deletes the sorry server when the quorum comes back, as keepalived without sorry_server_inhibit."},
		{In: kaVS, Keyword: "sorry_server_lvs_method", Note: "vigil forwards to the sorry server with the virtual server's forwarding."},
		{In: kaVS, Keyword: "smtp_alert", Note: noMail},
		{In: kaVS, Keyword: "snmp_name", Note: noSNMP},

		// real_server.
		{In: kaRS, Keyword: "lvs_method", VigilIn: vigilRS, Vigil: "forwarding", Note: `In lower case: "nat", "dr" or "tun".`},
		{In: kaRS, Keyword: "lb_kind", VigilIn: vigilRS, Vigil: "forwarding", Note: `keepalived 1's name of lvs_method; in lower case: "nat", "dr" or "tun".`},
		{In: kaRS, Keyword: "virtualhost", VigilIn: vigilRS + `/check "http"`, Vigil: "host", Note: "Per HTTP check."},
		{In: kaRS, Keyword: "connect_timeout", VigilIn: vigilRS + "/check", Vigil: "timeout", Note: inherit},
		{In: kaRS, Keyword: "warmup", Note: warmup},
		{In: kaRS, Keyword: "alpha", Note: alpha},
		{In: kaRS, Keyword: "smtp_alert", Note: noMail},
		{In: kaRS, Keyword: "snmp_name", Note: noSNMP},
		{In: kaRS + "/MISC_CHECK", Keyword: "warmup", Note: warmup},
		{In: kaRS + "/MISC_CHECK", Keyword: "alpha", Note: alpha},

		// SMTP_CHECK's host blocks, UDP_CHECK.
		{In: smtp, Keyword: "helo_name", VigilIn: vigilRS + `/check "smtp"`, Vigil: "helo_name"},
		{In: smtp + "/host", Keyword: "connect_ip", VigilIn: vigilRS + `/check "smtp"`, Vigil: "connect_address"},
		{In: smtp + "/host", Keyword: "connect_port", VigilIn: vigilRS + `/check "smtp"`, Vigil: "connect_port"},
		{In: smtp + "/host", Keyword: "bindto", VigilIn: vigilRS + `/check "smtp"`, Vigil: "source_address"},
		{In: udp, Keyword: "payload", VigilIn: vigilRS + `/check "udp"`, Vigil: "payload", Note: `Hex: "0a 0b 0c"; without it vigil sends an empty datagram (keepalived its own filler).`},
		{In: udp, Keyword: "min_reply_length", VigilIn: vigilRS + `/check "udp"`, Vigil: "min_reply_length"},
		{In: udp, Keyword: "max_reply_length", VigilIn: vigilRS + `/check "udp"`, Vigil: "max_reply_length", Note: "keepalived's default is 255, vigil's 65507."},

		// HTTP_GET and SSL_GET.
		{In: kaRS + "/SSL_GET", Keyword: "enable_sni", VigilIn: vigilRS + `/check "https"`, Vigil: "tls_server_name", Note: "vigil sends the host as SNI by itself."},
	}
	for _, c := range []string{"HTTP_GET", "SSL_GET"} {
		in := kaRS + "/" + c
		vin := vigilRS + `/check "http"`
		if c == "SSL_GET" {
			vin = vigilRS + `/check "https"`
		}
		out = append(out,
			KeepalivedKeyword{In: in, Keyword: "http_protocol", Note: "vigil's checks speak HTTP/1.1 with Connection: close."},
			KeepalivedKeyword{In: in, Keyword: "fast_recovery", Note: "vigil checks every URL (each a check of its own) at every interval."},
			KeepalivedKeyword{In: in + "/url", Keyword: "virtualhost", VigilIn: vin, Vigil: "host"},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex_no_match", Note: "vigil cannot fail a check on a match of expect_body."},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex_options", Note: "vigil's expect_body is a Go (RE2) expression: write options inline, e.g. (?i)."},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex_stack", Note: "Go's regular expressions need no stack size."},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex_min_offset", Note: "vigil matches expect_body anywhere in the first max_body_bytes."},
			KeepalivedKeyword{In: in + "/url", Keyword: "regex_max_offset", Note: "vigil matches expect_body anywhere in the first max_body_bytes."},
		)
	}
	for _, c := range []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "SMTP_CHECK", "DNS_CHECK", "UDP_CHECK", "PING_CHECK", "MISC_CHECK"} {
		in := kaRS + "/" + c
		out = append(out, KeepalivedKeyword{In: in, Keyword: "alpha", Note: alpha})
		if c == "MISC_CHECK" {
			continue
		}
		out = append(out,
			KeepalivedKeyword{In: in, Keyword: "bind_port", Note: noMark},
			KeepalivedKeyword{In: in, Keyword: "bind_if", Note: noMark},
			KeepalivedKeyword{In: in, Keyword: "fwmark", Note: noMark},
			KeepalivedKeyword{In: in, Keyword: "log_all_failures", Note: "vigil logs every change of a check's state, and counts every failure in vigil_check_failures_total."},
		)
		if c == "TCP_CHECK" {
			out = append(out, KeepalivedKeyword{In: in, Keyword: "nb_sock_retry", VigilIn: vigilRS + `/check "tcp"`, Vigil: "fall", Note: "keepalived 1's name of retry: fall = nb_sock_retry + 1."})
		}
	}
	return out
}
