package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-lb/vigil/conf"
)

// byteSize is a --max-config-size value: bytes, or a number with KiB, MiB or GiB (K, M
// and G mean the same).
type byteSize int64

func (b *byteSize) String() string {
	switch n := int64(*b); {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	default:
		return strconv.FormatInt(n, 10)
	}
}

func (b *byteSize) Set(s string) error {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(strings.ToUpper(t), strings.ToUpper(u.suffix)) {
			t, mult = strings.TrimSpace(t[:len(t)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size: write bytes or a number with KiB, MiB or GiB, e.g. 32MiB", s)
	}
	if n > (1<<40)/mult {
		return fmt.Errorf("%q is more than 1 TiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}

// configLimits adds --max-config-size to fs: check, run and every reload of run read the
// configuration within it.
func configLimits(fs *flag.FlagSet) func() conf.Limits {
	size := byteSize(conf.DefaultMaxBytes)
	fs.Var(&size, "max-config-size", "refuse a configuration file larger than this (its token limit grows in proportion)")
	return func() conf.Limits { return conf.LimitsForSize(int64(size)) }
}
