package vmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// cpioEntry is one parsed newc record.
type cpioEntry struct {
	Name string
	Mode uint32
	Data string
	Rdev [2]uint32
}

// readCPIO is an independent newc reader for checking the writer.
func readCPIO(t *testing.T, b []byte) []cpioEntry {
	t.Helper()
	var out []cpioEntry
	off := 0
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("bad header at offset %d", off)
		}
		field := func(i int) uint32 {
			v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
			if err != nil {
				t.Fatalf("field %d at %d: %v", i, off, err)
			}
			return uint32(v)
		}
		mode, size, rmaj, rmin, namesz := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+namesz-1])
		off = align(off + 110 + namesz)
		data := string(b[off : off+size])
		off = align(off + size)
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Errorf("%d bytes after trailer", len(b)-off)
			}
			return out
		}
		out = append(out, cpioEntry{name, mode, data, [2]uint32{rmaj, rmin}})
	}
}

func writeSample(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := newCPIOWriter(&buf)
	w.Dir("/etc", 0o755)
	w.Bytes("/etc/hostname", 0o644, []byte("guest\n"))
	w.Bytes("/usr/lib/x/odd", 0o600, []byte("12345")) // parents created, 5 bytes needs padding
	w.Symlink("/bin/sh", "/bin/busybox")
	w.CharDev("/dev/console", 0o600, 5, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCPIOWriter(t *testing.T) {
	got := readCPIO(t, writeSample(t))
	want := []cpioEntry{
		{Name: "etc", Mode: cpioDir | 0o755},
		{Name: "etc/hostname", Mode: cpioFile | 0o644, Data: "guest\n"},
		{Name: "usr", Mode: cpioDir | 0o755},
		{Name: "usr/lib", Mode: cpioDir | 0o755},
		{Name: "usr/lib/x", Mode: cpioDir | 0o755},
		{Name: "usr/lib/x/odd", Mode: cpioFile | 0o600, Data: "12345"},
		{Name: "bin", Mode: cpioDir | 0o755},
		{Name: "bin/sh", Mode: cpioSymlink | 0o777, Data: "/bin/busybox"},
		{Name: "dev", Mode: cpioDir | 0o755},
		{Name: "dev/console", Mode: cpioCharDev | 0o600, Rdev: [2]uint32{5, 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

// TestCPIOBusybox extracts the archive with busybox cpio, an independent reader.
func TestCPIOBusybox(t *testing.T) {
	bb, err := findStaticBusybox()
	if err != nil {
		t.Skipf("no busybox: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bb, "cpio", "-i", "-d")
	cmd.Dir = dir
	var data bytes.Buffer
	w := newCPIOWriter(&data)
	w.Bytes("/etc/hostname", 0o644, []byte("guest\n"))
	w.Symlink("/bin/sh", "busybox")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = &data
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v: %s", err, out)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "etc/hostname")); err != nil || string(got) != "guest\n" {
		t.Errorf("etc/hostname = %q, %v; want %q", got, err, "guest\n")
	}
	if got, err := os.Readlink(filepath.Join(dir, "bin/sh")); err != nil || got != "busybox" {
		t.Errorf("bin/sh -> %q, %v; want busybox", got, err)
	}
}
