#!/bin/sh
# Guest side, systemd mode only: runs chrooted in the overlay root before switch_root.
# Copies the requested host files into the overlay, runs the test's pre-systemd script,
# installs daxram-harness.service (which runs stage2.sh after multi-user.target and
# powers the guest off) and enables the requested units.
set -u
. /harness/config.sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb DAXRAM_GUEST=1 HARNESS_OUT=/harness
exec >> /harness/prep.log 2>&1
PS4='+[$(cut -d" " -f1 /proc/uptime)] '
set -x

install_file() { # src dest
	case "$2" in
	*/) mkdir -p "$2" ;;
	*) mkdir -p "$(dirname "$2")" ;;
	esac
	cp -a "$1" "$2" || exit 1
}
. /harness/install.sh

# Nothing from the host's fstab and no getty waiting on the console.
: > /etc/fstab
# Debian's tmp.conf says "D /tmp": systemd-tmpfiles-setup would empty /tmp in the overlay
# at boot (whiteouts over 9p: slow, and it hides the host's /tmp, where CI clones live).
mkdir -p /etc/tmpfiles.d
echo 'd /tmp 1777 root root -' > /etc/tmpfiles.d/tmp.conf
# Units of the host that have no business in the lab (HARNESS_MASK, set by the host).
for u in serial-getty@ttyS0.service getty@tty1.service console-getty.service ${HARNESS_MASK:-}; do
	systemctl mask "$u" >/dev/null 2>&1 || true
done

cp /harness/daxram-harness.service /etc/systemd/system/daxram-harness.service || exit 1
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/daxram-harness.service /etc/systemd/system/multi-user.target.wants/daxram-harness.service

for u in ${HARNESS_ENABLE:-}; do
	systemctl enable "$u" || exit 1
done

if [ -s /harness/pre.sh ]; then
	(cd "$HARNESS_CWD" && /bin/sh /harness/pre.sh) || { echo "pre script failed" > /harness/setup-failed; exit 1; }
fi
exit 0
