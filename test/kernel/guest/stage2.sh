#!/bin/sh
# Guest side, stage 2 (runs as root inside the guest root: chrooted from the initramfs in
# script mode, or as daxram-harness.service under systemd). Prepares the NVDIMM labels if
# asked, runs the test's script with cwd = the repo, and reports through /harness:
#   stdout, stderr   the script's output
#   status           its exit code (written last, atomically)
#   setup-failed     present (with a message) when the preparation failed
# Inputs: /harness/config.sh (written by the host), /harness/script.sh; $1, from the
# initramfs: the mode of this boot (script on a firstBootScript guest's first boot).
set -u
. /harness/config.sh
HARNESS_MODE=${1:-${HARNESS_MODE:-script}}
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
export DAXRAM_GUEST=1 HARNESS_OUT=/harness

setup_log=/harness/setup.log
fail_setup() {
	echo "stage2: $*" >> "$setup_log"
	echo "stage2: $*" > /harness/setup-failed
	sync
	exit 1
}
up() { cut -d' ' -f1 /proc/uptime; }
run() {
	echo "[$(up)] + $*" >> "$setup_log"
	"$@" >> "$setup_log" 2>&1
}

echo "[$(up)] stage2: mode=${HARNESS_MODE:-script} kernel=$(uname -r)" >> "$setup_log"

if [ "${HARNESS_MODE:-script}" = script ]; then
	# No udev here: load what udev's coldplug would load for the NVDIMM stack, so that
	# namespaces and dax devices get their drivers.
	if [ -n "${HARNESS_MODPROBE:-}" ]; then
		# --ignore-install skips ndctl's "install libnvdimm ... ndctl load-keys" hook
		# (3 s under TCG; the lab has no security keys).
		run modprobe -a --ignore-install $HARNESS_MODPROBE || fail_setup "modprobe -a $HARNESS_MODPROBE failed"
	fi
	if [ "${HARNESS_UDEV:-0}" = 1 ]; then
		# udevadm refuses to act "in chroot" unless told otherwise.
		export SYSTEMD_IGNORE_CHROOT=1
		run /lib/systemd/systemd-udevd --daemon || fail_setup "systemd-udevd failed"
		run udevadm trigger --action=add --type=subsystems
		run udevadm trigger --action=add --type=devices
		run udevadm settle --timeout=120 || fail_setup "udevadm settle timed out"
	fi
else
	if [ "${HARNESS_WAIT_BOOT:-1}" = 1 ]; then
		# Our unit is Type=exec, so the boot transaction can finish while we wait here.
		state=$(timeout 120 systemctl is-system-running --wait 2>/dev/null)
		echo "stage2: system state after wait: $state" >> "$setup_log"
		# Coldplug events can still be in flight (6.12: ndctl's load-keys install hook delays
		# nfit by seconds): a settled boot has every device the kernel announced.
		run udevadm settle --timeout=120
	fi
fi

if [ "${HARNESS_LABELS:-0}" = 1 ]; then
	# Fresh image: initialise the labels of the QEMU NVDIMM so that namespaces can be
	# created (label-less it is one raw namespace that cannot be sub-divided).
	# Wait (at most ~60 s of guest uptime) for the ACPI.NFIT bus to show a region; shell
	# builtins only, execs are slow under TCG.
	[ -d /sys/module/nfit ] || fail_setup "labels requested but the nfit module is not loaded (modprobe list: ${HARNESS_MODPROBE:-none})"
	read -r now _ < /proc/uptime; deadline=$(( ${now%.*} + 60 ))
	found=
	while :; do
		for b in /sys/bus/nd/devices/ndbus*; do
			[ -r "$b/provider" ] || continue
			read -r prov < "$b/provider" || continue
			[ "$prov" = ACPI.NFIT ] || continue
			for r in "$b"/region*; do [ -e "$r" ] && found=$r && break; done
		done
		[ -n "$found" ] && break
		read -r now _ < /proc/uptime; now=${now%.*}
		[ "$now" -lt "$deadline" ] || fail_setup "no region on the ACPI.NFIT bus (is nfit loaded? modprobe list: ${HARNESS_MODPROBE:-none})"
		sleep 0.2
	done
	run ndctl disable-region -b ACPI.NFIT all || fail_setup "ndctl disable-region failed"
	run ndctl init-labels -f -b ACPI.NFIT all || fail_setup "ndctl init-labels failed"
	run ndctl enable-region -b ACPI.NFIT all || fail_setup "ndctl enable-region failed"
fi

cd "$HARNESS_CWD" || fail_setup "cannot cd to $HARNESS_CWD"
echo "[$(up)] stage2: running script" >> "$setup_log"
/bin/sh /harness/script.sh > /harness/stdout 2> /harness/stderr < /dev/null
rc=$?
echo "$rc" > /harness/status.tmp && mv /harness/status.tmp /harness/status
sync
echo "daxram-harness: script exit status $rc" > /dev/console 2>/dev/null || true
exit 0
