// Package filewatch reports that a file may have changed (inotify on Linux), for VRRP
// file tracking (keepalived's track_file).
package filewatch

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Event masks of inotify(7) that matter here.
const (
	inCloseWrite = 0x00000008
	inMovedFrom  = 0x00000040
	inMovedTo    = 0x00000080
	inDelete     = 0x00000200
	inIgnored    = 0x00008000
	inQOverflow  = 0x00004000
	inIsDir      = 0x40000000
)

// event is one struct inotify_event.
type event struct {
	wd   int32
	mask uint32
	name string
}

// headerLen is struct inotify_event without its name: wd, mask, cookie, len.
const headerLen = 16

// parseEvents decodes what one read(2) of an inotify descriptor returned: events, each
// a 16-byte header and a NUL-padded name. A truncated tail is an error; what came
// before it is returned.
func parseEvents(b []byte) ([]event, error) {
	var out []event
	ne := binary.NativeEndian
	for len(b) > 0 {
		if len(b) < headerLen {
			return out, fmt.Errorf("inotify event of %d bytes: shorter than its header", len(b))
		}
		n := int(ne.Uint32(b[12:]))
		if n > len(b)-headerLen {
			return out, fmt.Errorf("inotify event name of %d bytes, %d left", n, len(b)-headerLen)
		}
		name := b[headerLen : headerLen+n]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		out = append(out, event{wd: int32(ne.Uint32(b[0:])), mask: ne.Uint32(b[4:]), name: string(name)})
		b = b[headerLen+n:]
	}
	return out, nil
}

// concerns reports whether ev may change the file called name in the watched
// directory, and whether the watch is gone (the directory was removed).
func concerns(ev event, name string) (changed, gone bool) {
	switch {
	case ev.mask&inQOverflow != 0:
		return true, false // events were lost: read the file again
	case ev.mask&inIgnored != 0:
		return true, true
	case ev.mask&inIsDir != 0:
		return false, false
	}
	return ev.name == name && ev.mask&(inCloseWrite|inMovedFrom|inMovedTo|inDelete) != 0, false
}
