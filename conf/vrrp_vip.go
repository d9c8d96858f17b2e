package conf

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// VIPDevice places a virtual address on another interface than the instance's, or
// gives it a label (keepalived: "ADDRESS dev DEV label LABEL").
type VIPDevice struct {
	Address netip.Addr `json:"address"`
	// Dev is the interface the address goes on; "" is the instance's interface.
	Dev string `json:"dev"`
	// Label is the IPv4 address label (ip addr ... label), which must begin with the
	// device's name, as in "eth1:vip"; "" for none.
	Label string `json:"label"`
}

// vipEntry is one element of virtual_ipaddresses: a string, or an object with address,
// dev and label.
type vipEntry struct {
	address, dev, label string
}

// vipEntries decodes virtual_ipaddresses: a list whose elements are "ip/len" strings or
// { address = "ip/len", dev = "eth1", label = "eth1:vip" } objects.
func (d *decoder) vipEntries(a *hcl.Attribute) ([]vipEntry, bool) {
	v, diags := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return nil, false
	}
	rng := a.Expr.Range()
	bad := func() ([]vipEntry, bool) {
		d.errorf(rng, "Incorrect attribute value type",
			`virtual_ipaddresses is a list of addresses, each "ip/len" or { address = "ip/len", dev = "eth1", label = "eth1:vip" }.`)
		return nil, false
	}
	if v.IsNull() || !v.IsWhollyKnown() || !(v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType()) {
		return bad()
	}
	var out []vipEntry
	for _, e := range v.AsValueSlice() {
		switch {
		case e.IsNull():
			return bad()
		case e.Type() == cty.String:
			out = append(out, vipEntry{address: e.AsString()})
		case e.Type().IsObjectType() || e.Type().IsMapType():
			ent, ok := d.vipObject(rng, e)
			if !ok {
				return nil, false
			}
			out = append(out, ent)
		default:
			return bad()
		}
	}
	return out, true
}

func (d *decoder) vipObject(rng hcl.Range, e cty.Value) (vipEntry, bool) {
	var ent vipEntry
	keys := []string{"address", "dev", "label"}
	for it := e.ElementIterator(); it.Next(); {
		k, val := it.Element()
		name := k.AsString()
		if !slices.Contains(keys, name) {
			d.errorf(rng, "Unsupported argument", "virtual_ipaddresses: an address object takes address, dev and label, not %q.%s", name, didYouMean(name, keys))
			return ent, false
		}
		if val.IsNull() || val.Type() != cty.String {
			d.errorf(rng, "Incorrect attribute value type", "virtual_ipaddresses: %s must be a string.", name)
			return ent, false
		}
		switch name {
		case "address":
			ent.address = val.AsString()
		case "dev":
			ent.dev = val.AsString()
		case "label":
			ent.label = val.AsString()
		}
	}
	if ent.address == "" {
		d.errorf(rng, "Missing required argument", `virtual_ipaddresses: an address object needs address, e.g. { address = "198.18.0.254/24", dev = "eth1" }.`)
		return ent, false
	}
	return ent, true
}

// vipDevice checks an entry's dev and label for address ip of instance vi.
func (d *decoder) vipDevice(rng hcl.Range, vi *VRRPInstance, ip netip.Addr, ent vipEntry) {
	if ent.dev == "" && ent.label == "" {
		return
	}
	if ent.dev != "" && !validIfName(ent.dev) {
		d.errorf(rng, "Invalid interface name", "virtual_ipaddresses: dev %q is not a Linux interface name (1..15 characters, no '/', ':' or spaces).", ent.dev)
		return
	}
	dev := ent.dev
	if dev == "" {
		dev = vi.Interface
	}
	if ent.label != "" {
		switch {
		case ip.Is6():
			d.errorf(rng, "Label on an IPv6 address", "virtual_ipaddresses: %s has label %q; Linux labels IPv4 addresses only.", ip, ent.label)
			return
		case len(ent.label) > 15 || !strings.HasPrefix(ent.label, dev) || strings.ContainsAny(ent.label, " \t\n/"):
			d.errorf(rng, "Invalid label", "virtual_ipaddresses: label %q must begin with the device name %q and be at most 15 characters, e.g. %q.", ent.label, dev, dev+":vip")
			return
		}
	}
	vi.VIPDevices = append(vi.VIPDevices, VIPDevice{Address: ip, Dev: ent.dev, Label: ent.label})
}
