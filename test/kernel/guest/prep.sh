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
# A link to /dev/null is what `systemctl mask` writes; one systemctl per unit cost 4 s of a TCG
# boot (the first call alone 2.3 s: systemctl and libsystemd-shared read cold over 9p).
mkdir -p /etc/systemd/system
for u in serial-getty@ttyS0.service getty@tty1.service console-getty.service ${HARNESS_MASK:-}; do
	ln -sfn /dev/null "/etc/systemd/system/$u" || exit 1
done

cp /harness/daxram-harness.service /etc/systemd/system/daxram-harness.service || exit 1
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/daxram-harness.service /etc/systemd/system/multi-user.target.wants/daxram-harness.service

for u in ${HARNESS_ENABLE:-}; do
	systemctl enable "$u" || exit 1
done

if [ -s /harness/pre.sh ]; then
	# apt-get install ./daxram_*.deb needs only the dpkg status (the root has the package's
	# dependencies): the archive's indices (92 MB, and apt's 48 MB cache of them) read over 9p
	# cost 3 s of every install, so they are out of sight while the pre script runs, and back
	# for the test's own apt runs (package.test installs, upgrades and purges with them).
	mount -t tmpfs -o mode=0755 lab-apt-lists /var/lib/apt/lists && mount -t tmpfs -o mode=0755 lab-apt-cache /var/cache/apt || exit 1
	(cd "$HARNESS_CWD" && /bin/sh /harness/pre.sh); rc=$?
	umount /var/cache/apt /var/lib/apt/lists || exit 1
	# The pre script's own reason (installDeb writes apt's) is kept.
	[ $rc = 0 ] || { [ -s /harness/setup-failed ] || echo "pre script failed (exit $rc)" > /harness/setup-failed; exit 1; }
fi
exit 0
