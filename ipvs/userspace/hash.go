package userspace

import (
	"math/bits"
	"net/netip"
)

// addrFold folds an address to 32 bits as the kernel's sh, dh and mh schedulers do: the
// IPv4 address itself, or the XOR of the four 32-bit words of an IPv6 address, in host
// order (ntohl of the folded big-endian words).
func addrFold(a netip.Addr) uint32 {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	b := a.As16()
	var f uint32
	for i := 0; i < 16; i += 4 {
		f ^= uint32(b[i])<<24 | uint32(b[i+1])<<16 | uint32(b[i+2])<<8 | uint32(b[i+3])
	}
	return f
}

// hash32 is the kernel's hash_32 (include/linux/hash.h): multiplicative hashing with
// GOLDEN_RATIO_32, keeping the top bits.
func hash32(v uint32, nbits uint) uint32 {
	return (v * 0x61C88647) >> (32 - nbits)
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
