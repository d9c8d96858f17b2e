package ipvs

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"net/netip"
	"slices"
)

// MaglevSize is the number of slots of the kernel's mh lookup table: primes[4] = 4093 of
// net/netfilter/ipvs/ip_vs_mh.c for CONFIG_IP_VS_MH_TAB_INDEX=12, the Kconfig default
// (Debian's). 251 is the size only for CONFIG_IP_VS_MH_TAB_INDEX=8.
const MaglevSize = 4093

// maglevBits is IP_VS_MH_TAB_BITS (CONFIG_IP_VS_MH_TAB_INDEX / 2): weights / gcd are
// shifted right until they fit in this many bits.
const maglevBits = 12 / 2

// The kernel's fixed hash secrets (generate_hash_secret): every director computes the same
// permutations, so only the destination order and weights make tables differ.
var (
	maglevKey1 = hsiphashKey{2654435761, 2654435761}
	maglevKey2 = hsiphashKey{2654446892, 2654446892}
)

// MaglevDest is one destination as ip_vs_mh.c sees it: its address and its last non-zero
// weight (the kernel's last_weight: a destination quiesced to weight 0 keeps its slots, one
// added with weight 0 and never raised has none).
type MaglevDest struct {
	Addr       netip.AddrPort
	LastWeight int
}

// MaglevTable computes the lookup table ip_vs_mh_permutate and ip_vs_mh_populate build for
// ds, given in the kernel's list order (the order Table.Destinations lists: most recently
// added first). Slot i holds the index in ds of its destination, or -1 when no destination
// has a positive last weight.
func MaglevTable(ds []MaglevDest) []int {
	table := make([]int, MaglevSize)
	for i := range table {
		table[i] = -1
	}
	g, mx := 0, 0
	for _, d := range ds {
		if w := d.LastWeight; w > 0 {
			g = gcd(w, g)
			mx = max(mx, w)
		}
	}
	if g < 1 || len(ds) > MaglevSize {
		return table // ip_vs_mh_reset; more destinations than slots is -EINVAL
	}
	shift := max(bits.Len(uint(mx/g))-maglevBits, 0) // ip_vs_mh_shift_weight
	type setup struct{ perm, skip, turns int }
	su := make([]setup, len(ds))
	for i, d := range ds {
		a, p := d.Addr.Addr(), d.Addr.Port()
		su[i].perm = int(MaglevHash(a, p, 0) % MaglevSize)
		su[i].skip = int(maglevHash(a, p, maglevKey2, 0)%(MaglevSize-1)) + 1
		lw := max(d.LastWeight, 0)
		if su[i].turns = (lw / g) >> shift; su[i].turns == 0 && lw != 0 {
			su[i].turns = 1
		}
	}
	taken := make([]bool, MaglevSize)
	for n := 0; ; {
		for i := range ds {
			for range su[i].turns {
				c := su[i].perm
				for taken[c] {
					if su[i].perm += su[i].skip; su[i].perm >= MaglevSize {
						su[i].perm -= MaglevSize
					}
					c = su[i].perm
				}
				taken[c], table[c] = true, i
				if n++; n == MaglevSize {
					return table
				}
			}
		}
	}
}

// MaglevHash is ip_vs_mh_hashkey with the first secret: the slot of a client address (and
// port, with mh-port; 0 otherwise) is MaglevHash(addr, port, 0) % MaglevSize, and mh-fallback
// tries MaglevHash(addr, port, offset) for the following offsets.
func MaglevHash(a netip.Addr, port uint16, offset uint32) uint32 {
	return maglevHash(a, port, maglevKey1, offset)
}

func maglevHash(a netip.Addr, port uint16, k hsiphashKey, offset uint32) uint32 {
	return hsiphash32(offset+uint32(port)+AddrFold(a), k)
}

// MaglevFingerprint is a short digest of the table MaglevTable computes for ds: the
// destination address of every slot in order (SHA-256, first 8 bytes in hex). Directors
// whose mh services have the same fingerprint send every client to the same real server;
// a table with no destination has the fingerprint of 4093 empty slots.
func MaglevFingerprint(ds []MaglevDest) string {
	h := sha256.New()
	var buf [19]byte
	for _, i := range MaglevTable(ds) {
		b := buf[:1]
		if i >= 0 {
			a := ds[i].Addr
			b[0] = 1
			b = append(b, a.Addr().Unmap().AsSlice()...)
			b = binary.BigEndian.AppendUint16(b, a.Port())
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// CompareMaglevOrder orders destinations of an mh service as the reconciler keeps them in
// the kernel's list: by address, then port, descending. The kernel puts each new
// destination at the head of the list, so vigil adds them ascending.
func CompareMaglevOrder(a, b netip.AddrPort) int {
	return cmp.Compare(0, a.Compare(b))
}

// MaglevCanonical reports whether addrs, in the kernel's list order, is in the order
// CompareMaglevOrder defines.
func MaglevCanonical(addrs []netip.AddrPort) bool {
	return slices.IsSortedFunc(addrs, CompareMaglevOrder)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// AddrFold folds an address to 32 bits as the kernel's sh, dh and mh schedulers do: the
// IPv4 address itself, or the XOR of the four 32-bit words of an IPv6 address, in host
// order (ntohl of the folded big-endian words).
func AddrFold(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return binary.BigEndian.Uint32(b[:])
	}
	b := a.As16()
	var f uint32
	for i := 0; i < 16; i += 4 {
		f ^= binary.BigEndian.Uint32(b[i:])
	}
	return f
}

// hsiphashKey is a hsiphash_key_t on a 64-bit kernel: two machine words.
type hsiphashKey [2]uint64

// hsiphash32 is the kernel's hsiphash over one u32 on 64-bit architectures, where
// lib/siphash.c makes "HalfSipHash-1-3" SipHash-1-3 truncated to 32 bits.
func hsiphash32(v uint32, k hsiphashKey) uint32 {
	v0 := uint64(0x736f6d6570736575) ^ k[0]
	v1 := uint64(0x646f72616e646f6d) ^ k[1]
	v2 := uint64(0x6c7967656e657261) ^ k[0]
	v3 := uint64(0x7465646279746573) ^ k[1]
	b := uint64(4)<<56 | uint64(v)
	round := func() {
		v0 += v1
		v1 = bits.RotateLeft64(v1, 13)
		v1 ^= v0
		v0 = bits.RotateLeft64(v0, 32)
		v2 += v3
		v3 = bits.RotateLeft64(v3, 16)
		v3 ^= v2
		v0 += v3
		v3 = bits.RotateLeft64(v3, 21)
		v3 ^= v0
		v2 += v1
		v1 = bits.RotateLeft64(v1, 17)
		v1 ^= v2
		v2 = bits.RotateLeft64(v2, 32)
	}
	v3 ^= b
	round()
	v0 ^= b
	v2 ^= 0xff
	round()
	round()
	round()
	return uint32((v0 ^ v1) ^ (v2 ^ v3))
}
