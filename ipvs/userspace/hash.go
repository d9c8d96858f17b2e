package userspace

import "github.com/vigil-lb/vigil/ipvs"

// addrFold folds an address to 32 bits as the kernel's sh, dh and mh schedulers do.
var addrFold = ipvs.AddrFold

// hash32 is the kernel's hash_32 (include/linux/hash.h): multiplicative hashing with
// GOLDEN_RATIO_32, keeping the top bits.
func hash32(v uint32, nbits uint) uint32 {
	return (v * 0x61C88647) >> (32 - nbits)
}
