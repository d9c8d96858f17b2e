package conf

import (
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Notify commands of virtual servers and real servers (keepalived's quorum_up /
// quorum_down and notify_up / notify_down) are argv lists run without a shell and without
// arguments appended, as keepalived runs them; what happened is in their environment.
// NotifyTimeout bounds each run; a real server takes its virtual server's timeout and user
// unless it sets its own.

// notifyDefaults are a virtual server's notify_timeout and notify_user as written (or the
// defaults), which its real servers inherit.
type notifyDefaults struct {
	timeout time.Duration
	user    string
}

func (d *decoder) decodeVSNotify(at hcl.Attributes, vs *VirtualServer) notifyDefaults {
	def := d.notifyDefaults(at, notifyDefaults{timeout: DefaultNotifyTimeout})
	vs.QuorumUp = d.optionalArgv(at["quorum_up"])
	vs.QuorumDown = d.optionalArgv(at["quorum_down"])
	if vs.QuorumUp != nil || vs.QuorumDown != nil {
		vs.NotifyTimeout, vs.NotifyUser = def.timeout, def.user
	}
	return def
}

func (d *decoder) decodeRSNotify(at hcl.Attributes, inherit notifyDefaults, rs *RealServer) {
	def := d.notifyDefaults(at, inherit)
	rs.NotifyUp = d.optionalArgv(at["notify_up"])
	rs.NotifyDown = d.optionalArgv(at["notify_down"])
	if rs.NotifyUp != nil || rs.NotifyDown != nil {
		rs.NotifyTimeout, rs.NotifyUser = def.timeout, def.user
	}
}

func (d *decoder) notifyDefaults(at hcl.Attributes, def notifyDefaults) notifyDefaults {
	if a := at["notify_timeout"]; a != nil {
		if v, ok := d.duration(a, time.Second, time.Hour); ok {
			def.timeout = v
		}
	}
	if a := at["notify_user"]; a != nil {
		if s, ok := d.nonEmpty(a); ok {
			def.user = s
		}
	}
	return def
}

func (d *decoder) optionalArgv(a *hcl.Attribute) []string {
	if a == nil {
		return nil
	}
	argv, _ := d.argv(a)
	return argv
}
