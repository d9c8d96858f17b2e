package ipvsnl

import (
	"testing"

	"github.com/mdlayher/netlink"
)

// BenchmarkDecodeDestinations decodes one GET_DEST reply as Destinations does, and for
// comparison visits the same attributes with netlink.AttributeDecoder, which copies each
// one (the reason codec.go walks them in place).
func BenchmarkDecodeDestinations(b *testing.B) {
	msg := kernelDestMsg(Destination{Family: Inet4, Addr: ap("198.18.1.1:80"), Weight: 1, ActiveConns: 3, Stats: big})
	attrs := data(b, msg)
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeDestination(attrs, Inet4); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AttributeDecoder", func(b *testing.B) {
		b.ReportAllocs()
		leaf := func(ad *netlink.AttributeDecoder) error {
			for ad.Next() { // Next copies the attribute
			}
			return nil
		}
		dest := func(ad *netlink.AttributeDecoder) error {
			for ad.Next() {
				if t := ad.Type(); t == destAttrStats || t == destAttrStats64 {
					ad.Nested(leaf)
				}
			}
			return nil
		}
		visit := func(ad *netlink.AttributeDecoder) error {
			for ad.Next() {
				ad.Nested(dest)
			}
			return ad.Err()
		}
		for b.Loop() {
			ad, err := netlink.NewAttributeDecoder(attrs)
			if err != nil {
				b.Fatal(err)
			}
			if err := visit(ad); err != nil {
				b.Fatal(err)
			}
		}
	})
}
