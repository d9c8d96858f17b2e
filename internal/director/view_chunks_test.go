package director

import "testing"

// TestChangeCopiesOnlyTheTouchedChunk: a change of one real server in a view of several
// chunks copies that virtual server and its chunk; the base view reads as before and the
// other chunks are shared.
func TestChangeCopiesOnlyTheTouchedChunk(t *testing.T) {
	const n = 2*chunkSize + 5
	base := &view{services: makeServiceList(n)}
	for i := range n {
		base.services.set(i, &serviceView{rs: []rsState{{dynamic: i}, {dynamic: -1}}})
	}
	d := &Director{cur: base}
	c := d.edit()
	ref := rsRef{svc: chunkSize + 3, rs: 1}
	c.realServer(ref).dynamic = 7
	c.realServer(ref).health = Health(1) // the second edit of the same server copies nothing more
	if got := base.services.at(ref.svc).rs[1]; got.dynamic != -1 || got.health != 0 {
		t.Errorf("base view changed: %+v", got)
	}
	if got := c.next.services.at(ref.svc).rs[1]; got.dynamic != 7 || got.health != Health(1) {
		t.Errorf("next view = %+v, want dynamic 7, health 1", got)
	}
	if len(c.touched) != 1 || c.touched[0] != ref.svc {
		t.Errorf("touched = %v, want [%d]", c.touched, ref.svc)
	}
	for ci := range base.services.chunks {
		shared := c.next.services.chunks[ci] == base.services.chunks[ci]
		if want := ci != 1; shared != want {
			t.Errorf("chunk %d shared = %v, want %v", ci, shared, want)
		}
	}
	for i := range n {
		if i != ref.svc && c.next.services.at(i) != base.services.at(i) {
			t.Errorf("virtual server %d copied, want shared", i)
		}
	}
}
