package ipvs

import "encoding/binary"

func nativePut(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
