#!/usr/bin/env bash
# Builds the kernel lab's Debian 13 (trixie) guest root and the newest kernel, once:
#   $LAB/trixie/            debootstrap'd root: systemd, udev, Debian's nodejs, ndctl/daxctl/cxl,
#                           and what building nfit_test for the newest kernel needs (gcc, its
#                           headers, its linux-source tarball)
#   $LAB/trixie/usr/lib/modules/<kver>/   the newest linux-image-amd64 of trixie-backports,
#                           unpacked (vmlinuz and modules; no initramfs, no bootloader hooks)
# The guest boots it read-only from a squashfs image made from this directory (lab.ts).
# Idempotent: a stamp records what was built; a changed script or a newer kernel in
# trixie-backports rebuilds. The archive is the one the machine's apt sources already use (no
# host name is written into this repository). Needs root.
#   usage: build-trixie-root.sh ARCHIVE_URI [LAB_DIR]
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

URI=${1:?usage: build-trixie-root.sh ARCHIVE_URI [LAB_DIR]}
LAB=${2:-/var/cache/daxram-lab}
ROOT=$LAB/trixie
PACKAGES=systemd,systemd-sysv,udev,kmod,nodejs,ndctl,daxctl,cxl,python3,procps
# Added with apt after debootstrap (debootstrap's first pass cannot resolve everything).
EXTRA=(gcc make libc6-dev xz-utils)

say() { echo "build-trixie-root: $*"; }
in_root() { chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C DEBIAN_FRONTEND=noninteractive "${@:2}"; }

[ "$(id -u)" -eq 0 ] || { say "must run as root" >&2; exit 1; }
command -v debootstrap >/dev/null || { say "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
mkdir -p "$LAB"

# The newest kernel: what trixie-backports' linux-image-amd64 depends on today. Asked of a
# root that already has the backports lists (the current one, or the one being built).
newest_kernel() { # root
	local v
	v=$(in_root "$1" apt-cache madison linux-image-amd64 | awk '/trixie-backports\/main/ {print $3; exit}')
	[ -n "$v" ] || { say "no linux-image-amd64 in trixie-backports" >&2; return 1; }
	in_root "$1" apt-cache depends "linux-image-amd64=$v" | awk '/Depends: linux-image-[0-9]/ {sub("linux-image-", "", $2); print $2; exit}'
}

stamp_of() { # kver
	printf '%s\n%s\n%s\n' "$(sha256sum "$0" | cut -d' ' -f1)" "$URI" "$1"
}

if [ -f "$ROOT/.daxram-lab-stamp" ]; then
	in_root "$ROOT" apt-get update -qq >/dev/null 2>&1 || true
	kver=$(newest_kernel "$ROOT" || true)
	if [ -n "$kver" ] && [ "$(cat "$ROOT/.daxram-lab-stamp")" = "$(stamp_of "$kver")" ]; then
		say "up to date ($ROOT, kernel $kver)"
		exit 0
	fi
fi

NEW=$LAB/trixie.new
rm -rf "$NEW"
say "debootstrap trixie from $URI"
debootstrap --variant=minbase --include="$PACKAGES" trixie "$NEW" "$URI" > "$LAB/debootstrap.log" 2>&1 \
	|| { tail -20 "$LAB/debootstrap.log" >&2; exit 1; }

cat > "$NEW/etc/apt/sources.list" <<EOF
deb $URI trixie main
deb $URI trixie-updates main
deb $URI trixie-backports main
EOF
in_root "$NEW" apt-get update -qq
kver=$(newest_kernel "$NEW")
series=$(echo "$kver" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')
say "newest kernel $kver; extras: ${EXTRA[*]} linux-headers-$kver linux-source-$series"
in_root "$NEW" apt-get install -y -qq --no-install-recommends "${EXTRA[@]}" "linux-headers-$kver" >/dev/null
# The source tarball only (nfit_test is built from it); it is not installed as a package so
# nothing unpacks 160 MB into the image.
mkdir -p "$NEW/var/tmp/kernel"
in_root "$NEW" sh -c "cd /var/tmp/kernel && apt-get download -qq linux-binary-$kver linux-modules-$kver linux-source-$series" 2>/dev/null
for deb in "$NEW"/var/tmp/kernel/linux-binary-*.deb "$NEW"/var/tmp/kernel/linux-modules-*.deb "$NEW"/var/tmp/kernel/linux-source-*.deb; do
	dpkg-deb -x "$deb" "$NEW"
done
rm -rf "$NEW/var/tmp/kernel"
[ -f "$NEW/usr/lib/modules/$kver/vmlinuz" ] || { say "the kernel image was not unpacked to /usr/lib/modules/$kver/vmlinuz" >&2; exit 1; }
in_root "$NEW" depmod "$kver"
in_root "$NEW" apt-get clean
# The guest's own identity: no host name, no machine id shared between boots.
: > "$NEW/etc/machine-id"
echo daxram-lab > "$NEW/etc/hostname"

stamp_of "$kver" > "$NEW/.daxram-lab-stamp"
rm -rf "$ROOT"
mv "$NEW" "$ROOT"
say "built $ROOT ($(du -sh "$ROOT" | cut -f1)), kernel $kver"
