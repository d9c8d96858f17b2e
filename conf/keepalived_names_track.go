package conf

// trackKeywords are the keepalived keywords of vrrp_script, vrrp_track_process and
// track_file, and of the blocks that track them in instances and sync groups.
func trackKeywords() []KeepalivedKeyword {
	const (
		vs = "vrrp_script"
		tp = "vrrp_track_process"
		tf = "track_file"
		sg = "vrrp_sync_group"
	)
	dur := func(kw string) string { return "A duration: " + kw + ` 2 is ` + kw + ` = "2s".` }
	weight := "keepalived's \"reverse\" has no equivalent: negate the weight and mind that it then applies while the item is up (or down)."
	return []KeepalivedKeyword{
		{In: "", Keyword: vs, VigilIn: "", Vigil: "vrrp_script", Opens: true, Note: `The script's name becomes the block's label: vrrp_script "chk_haproxy" { ... }.`},
		{In: "", Keyword: tp, VigilIn: "", Vigil: "track_process", Opens: true, Note: `The name becomes the block's label: track_process "haproxy" { ... }.`},
		{In: "", Keyword: tf, VigilIn: "", Vigil: "track_file", Opens: true, Note: `The name becomes the block's label: track_file "prio" { ... }.`},
		{In: "", Keyword: "vrrp_track_file", VigilIn: "", Vigil: "track_file", Note: `keepalived's deprecated name of track_file: track_file "prio" { path = "..." }.`},

		{In: vs, Keyword: "script", VigilIn: vs, Vigil: "command",
			Note: `An argv list, run without a shell: script "/usr/bin/pgrep -x haproxy" is command = ["/usr/bin/pgrep", "-x", "haproxy"]; for a shell line set shell = true and give one string.`},
		{In: vs, Keyword: "interval", VigilIn: vs, Vigil: "interval", Note: dur("interval")},
		{In: vs, Keyword: "timeout", VigilIn: vs, Vigil: "timeout", Note: dur("timeout") + " The default is the interval in both."},
		{In: vs, Keyword: "weight", VigilIn: vs, Vigil: "weight", Note: weight},
		{In: vs, Keyword: "rise", VigilIn: vs, Vigil: "rise"},
		{In: vs, Keyword: "fall", VigilIn: vs, Vigil: "fall"},
		{In: vs, Keyword: "user", VigilIn: vs, Vigil: "user", Note: `keepalived's "user USER GROUP" is user = "USER:GROUP".`},
		{In: vs, Keyword: "init_fail", Note: "vigil's first run decides the first state, and an instance that tracks the script does not start before it."},

		{In: tp, Keyword: "process", VigilIn: "track_process", Vigil: "process", Note: `keepalived's "process NAME ARG..." is process = "NAME", args = ["ARG", ...].`},
		{In: tp, Keyword: "quorum", VigilIn: "track_process", Vigil: "quorum"},
		{In: tp, Keyword: "weight", VigilIn: "track_process", Vigil: "weight", Note: weight},
		{In: tp, Keyword: "delay", VigilIn: "track_process", Vigil: "delay", Note: dur("delay")},
		{In: tp, Keyword: "fork_delay", VigilIn: "track_process", Vigil: "delay", Note: "vigil has one delay, for processes appearing and disappearing."},
		{In: tp, Keyword: "terminate_delay", VigilIn: "track_process", Vigil: "delay", Note: "vigil has one delay, for processes appearing and disappearing."},
		{In: tp, Keyword: "full_command", VigilIn: "track_process", Vigil: "process", Note: `A process with a '/' is matched against the command line's first word: process = "/usr/sbin/haproxy".`},
		{In: tp, Keyword: "param_match", VigilIn: "track_process", Vigil: "args", Note: "args must equal the rest of the command line, keepalived's default; there is no partial match."},
		{In: tp, Keyword: "quorum_max", Note: "vigil has no upper bound on the number of processes."},

		{In: tf, Keyword: "file", VigilIn: tf, Vigil: "path", Note: "An absolute path."},
		{In: tf, Keyword: "weight", VigilIn: tf, Vigil: "weight", Note: weight},
		{In: tf, Keyword: "init_file", VigilIn: tf, Vigil: "init", Note: `init_file VALUE is init = VALUE; vigil never overwrites an existing file (keepalived's "overwrite").`},

		{In: kaVI, Keyword: "track_script", VigilIn: kaVI, Vigil: "track_script", Note: `One block per script: track_script "chk_haproxy" { weight = -60 }.`},
		{In: kaVI, Keyword: "track_process", VigilIn: kaVI, Vigil: "track_process", Note: `One block per process: track_process "haproxy" { weight = -60 }.`},
		{In: kaVI, Keyword: "track_file", VigilIn: kaVI, Vigil: "track_file", Note: `One block per file: track_file "prio" { weight = 10 }.`},
		{In: sg, Keyword: "track_script", VigilIn: sg, Vigil: "track_script", Note: "One block per script; it applies to every member."},
		{In: sg, Keyword: "track_process", VigilIn: sg, Vigil: "track_process", Note: "One block per process; it applies to every member."},
		{In: sg, Keyword: "track_file", VigilIn: sg, Vigil: "track_file", Note: "One block per file; it applies to every member."},
		{In: sg, Keyword: "track_interface", VigilIn: kaVI, Vigil: "track_interface", Note: "vigil tracks interfaces per instance: put the block in each member."},
		{In: sg, Keyword: "sync_group_tracking_weight", Note: "vigil applies the weights of a sync group's tracks and warns: use weight = 0 so that the group moves together."},
		{In: sg, Keyword: "global_tracking", Note: "vigil applies each member's tracks and warns about weights in a sync group: use weight = 0."},
	}
}
