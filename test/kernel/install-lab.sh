#!/usr/bin/env bash
# Installs what the kernel-lab guests need, for every guest kernel and root, side by side:
#   Debian 12's 6.1 (bookworm) and 6.12 with QEMU 10 (bookworm-backports), and the Debian 13
#   (trixie) root with the newest trixie-backports kernel unpacked into it
#   (build-trixie-root.sh, under /var/cache/daxram-lab).
# Kernel packages are installed by their versioned names (linux-image-6.1.0-N-amd64 …),
# resolved from each suite's meta package, so neither suite's meta replaces the other's
# kernel. The backports archive is added with the URI the machine's own apt sources already
# use for Debian (no host name is written into this repository). Idempotent; needs root.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

[ "$(id -u)" -eq 0 ] || { echo "install-lab: must run as root" >&2; exit 1; }

# The Debian archive URI this machine uses for bookworm, from deb822 .sources or a list file.
debian_uri() {
  local f uri suites
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
    suites=$(awk '/^Suites:/ {$1=""; print; exit}' "$f")
    case " $suites " in *" bookworm "*) [ -n "$uri" ] && { echo "$uri"; return; } ;; esac
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  return 1
}

BP=/etc/apt/sources.list.d/daxram-bookworm-backports.sources
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  uri=$(debian_uri) || { echo "install-lab: no bookworm entry in the apt sources to derive the backports URI from" >&2; exit 1; }
  printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" > "$BP"
  echo "install-lab: added bookworm-backports from $uri"
fi
apt-get update -qq

# The versioned package a suite's meta package depends on (linux-image-amd64 → linux-image-6.1.0-57-amd64).
versioned() { # meta suite-regex
  local v
  v=$(apt-cache madison "$1" | awk -v s="$2" '$0 ~ s {print $3; exit}')
  [ -n "$v" ] || { echo "install-lab: no $1 in $2" >&2; return 1; }
  apt-cache depends "$1=$v" | awk '/Depends:/ {print $2; exit}'
}

MAIN=' bookworm(-updates|-security)?/(main|updates/main) '
BPS=' bookworm-backports/main '
img61=$(versioned linux-image-amd64 "$MAIN")
hdr61=$(versioned linux-headers-amd64 "$MAIN")
img612=$(versioned linux-image-amd64 "$BPS")
hdr612=$(versioned linux-headers-amd64 "$BPS")
src61=$(versioned linux-source "$MAIN")
src612=$(versioned linux-source "$BPS")

apt-get install -y -qq \
  busybox-static cpio ndctl daxctl kexec-tools xz-utils kmod \
  linux-libc-dev build-essential python3 debootstrap squashfs-tools \
  dpkg-dev debhelper fakeroot lintian \
  "$img61" "$hdr61" "$src61" >/dev/null
apt-get install -y -qq -t bookworm-backports qemu-system-x86 "$img612" "$hdr612" "$src612" >/dev/null

# promtool checks the alert rules the package ships (test/fleet.test.ts): the tool alone, out of
# Debian's prometheus package, whose server would otherwise be installed and started.
if ! command -v promtool >/dev/null; then
  pt=$(mktemp -d)
  (cd "$pt" && apt-get download -qq prometheus 2>/dev/null) && dpkg-deb -x "$pt"/prometheus_*.deb "$pt/x" \
    && install -m 0755 "$pt/x/usr/bin/promtool" /usr/local/bin/promtool
  rm -rf "$pt"
  command -v promtool >/dev/null || { echo "install-lab: could not extract promtool from Debian's prometheus package" >&2; exit 1; }
fi

# Module indexes: busybox insmod in the initramfs resolves nothing, and modprobe in the guest
# needs modules.dep for each kernel.
for k in /lib/modules/*; do
  [ -e "$k/modules.dep" ] || depmod "$(basename "$k")"
done

# The Debian 13 root and the newest kernel, from the same archive.
bash "$(dirname "$0")/build-trixie-root.sh" "$(debian_uri)"
echo "install-lab: $img61 $img612 $(qemu-system-x86_64 --version | head -1)"
