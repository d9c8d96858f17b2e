#!/usr/bin/env bash
# Installs what vigil's tests need on a Debian machine, when run as root: the peers the tests
# run against (keepalived, MariaDB, HAProxy, ipvsadm, dnsmasq, FRR, chromium for the status page), qemu and busybox for the kernel-IPVS
# VM, and Debian's kernel for that VM. Without root it only says what is missing: the tests
# that need it then skip loudly (or fail under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(qemu-system-x86 busybox-static keepalived mariadb-server haproxy ipvsadm tcpdump wrk
      hyperfine iproute2 nftables iptables kmod xz-utils ca-certificates dnsmasq-base chromium frr)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "$(id -u)" -ne 0 ]; then
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "test-deps: NOT ROOT: cannot install ${missing[*]}; tests that need them will skip (and fail under CI=true)" >&2
	fi
	exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
	echo "test-deps: installing ${missing[*]}"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	echo "test-deps: Debian packages present"
fi

# The Debian kernel for the IPVS VM (cached; a no-op when present).
if [ -x scripts/vm-kernel.sh ]; then
	scripts/vm-kernel.sh
elif [ -d internal/testing/vmtest/cmd/vmkernel ]; then
	${GO:-go} run ./internal/testing/vmtest/cmd/vmkernel
fi
