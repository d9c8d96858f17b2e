// Package state keeps what a director must remember across restarts (real servers'
// administrative states, the IPVS services and loopback addresses it owns) in a versioned
// JSON file written atomically.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Version is the format this package writes; Read refuses any other.
const Version = 1

// FileName is the state file's name inside the state directory.
const FileName = "state.json"

// DefaultDir is where the shipped systemd unit's StateDirectory=vigil puts it.
const DefaultDir = "/var/lib/vigil"

// maxSize bounds what Read accepts: 1,000 x 4 real servers all drained take about 300 KB.
const maxSize = 16 << 20

// File is the content of the state file.
type File struct {
	Version   int       `json:"version"`
	WrittenAt time.Time `json:"written_at"`
	// Admin holds every real server whose administrative state is not ready, in the order
	// of the configuration.
	Admin []Admin `json:"admin_states"`
	// Owned are the IPVS services the director created or adopted; one of them that is
	// not in the configuration at the next start is deleted then.
	Owned []Service `json:"owned_services"`
	// Loopback are the announced virtual IPs the director put on lo. A director killed
	// before it could take them off finds them here at its next start: it adopts those
	// still announced and removes the others.
	Loopback []netip.Prefix `json:"loopback_addresses,omitempty"`
}

// Admin is one real server's administrative state. The real server is known by its
// virtual server's identity (Service: "TCP 198.18.0.254:80", or `group "NAME" TCP`) and
// its address, as a reload knows it; the names are for the reader.
type Admin struct {
	Service       string         `json:"service"`
	Address       netip.AddrPort `json:"address"`
	VirtualServer string         `json:"virtual_server,omitempty"`
	RealServer    string         `json:"real_server,omitempty"`
	State         string         `json:"state"` // drain | maint
	// Remove: maint with the destination deleted from the table (vigil maint --remove).
	Remove bool      `json:"remove,omitempty"`
	Since  time.Time `json:"since"`
}

// Service is an IPVS service: a protocol and an address, or a firewall mark and a family.
type Service struct {
	Protocol string         `json:"protocol,omitempty"` // tcp | udp | sctp
	Address  netip.AddrPort `json:"address,omitzero"`
	FWMark   uint32         `json:"fwmark,omitempty"`
	Family   string         `json:"family,omitempty"` // inet | inet6, for a fwmark service
}

// ErrCorrupt wraps the error of a state file that exists but cannot be used.
var ErrCorrupt = errors.New("state file unusable")

// Path is the state file in dir.
func Path(dir string) string { return filepath.Join(dir, FileName) }

// Read reads the state file at path. A missing file is an empty state and no error; a
// file that cannot be read or decoded, or of another version, is an error wrapping
// ErrCorrupt (the caller sets it aside with KeepAside and starts without it).
func Read(path string) (File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return File{Version: Version}, nil
	}
	if err != nil {
		return File{}, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return File{}, fmt.Errorf("%w: read %s: %w", ErrCorrupt, path, err)
	}
	if len(b) > maxSize {
		return File{}, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, path, maxSize)
	}
	var out File
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return File{}, fmt.Errorf("%w: decode %s: %w", ErrCorrupt, path, err)
	}
	if dec.More() {
		return File{}, fmt.Errorf("%w: %s: data after the JSON object", ErrCorrupt, path)
	}
	if out.Version != Version {
		return File{}, fmt.Errorf("%w: %s is version %d; this vigil reads version %d", ErrCorrupt, path, out.Version, Version)
	}
	for i, a := range out.Admin {
		if a.State != "drain" && a.State != "maint" {
			return File{}, fmt.Errorf("%w: %s: admin_states[%d]: state %q is neither drain nor maint", ErrCorrupt, path, i, a.State)
		}
	}
	return out, nil
}

// KeepAside renames an unusable state file to path.corrupt-UNIXTIME so that an operator
// can look at it, and returns the new name.
func KeepAside(path string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.corrupt-%d", path, now.Unix())
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("keep the unusable state file aside: %w", err)
	}
	return to, nil
}

// Write replaces the state file at path with f atomically: a temporary file in the same
// directory, written, fsynced, renamed over path, and the directory fsynced, so that a
// crash or a power cut leaves either the old file or the new one, never a mixture.
func Write(path string, f File) error {
	f.Version = Version
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the state: %w", err)
	}
	b = append(b, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write the state file: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the state file: %w", err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		// The rename is durable once the directory is.
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("write the state file: fsync %s: %w", dir, err)
		}
	}
	return nil
}

// Equal reports whether a and b hold the same states and services (WrittenAt aside), so
// that a change that changes nothing is not written.
func Equal(a, b File) bool {
	return slices.Equal(a.Admin, b.Admin) && slices.Equal(a.Owned, b.Owned) && slices.Equal(a.Loopback, b.Loopback)
}
