// Guest shell for CXL tests: a RAM region made through sysfs, the way docs/kernel-lab.md
// verified it (the product's own region provisioning is `daxram provision memN…`; this is the
// oracle-side setup for tests of everything else). Sets REGION to the region's name.
//   make_ram_region DECODER SIZE  (one endpoint decoder, interleave 1)

export const CXL_RAM_REGION = String.raw`
# The first endpoint decoder of memdev $1 (decoderN.0 of the endpoint port whose uport is it).
ep_decoder() {
  for e in /sys/bus/cxl/devices/endpoint*; do
    [ "$(basename $(readlink -f $e/uport))" = "$1" ] && basename $(ls -d $e/decoder*.0) && return 0
  done
  return 1
}
make_ram_region() { # endpoint-decoder size
  REGION=$(cat /sys/bus/cxl/devices/decoder0.0/create_ram_region)
  echo $REGION > /sys/bus/cxl/devices/decoder0.0/create_ram_region || return 1
  echo 256 > /sys/bus/cxl/devices/$REGION/interleave_granularity || return 2
  echo 1 > /sys/bus/cxl/devices/$REGION/interleave_ways || return 3
  echo ram > /sys/bus/cxl/devices/$1/mode || return 4
  echo $2 > /sys/bus/cxl/devices/$1/dpa_size || return 5
  echo $2 > /sys/bus/cxl/devices/$REGION/size || return 6
  echo $1 > /sys/bus/cxl/devices/$REGION/target0 || return 7
  echo 1 > /sys/bus/cxl/devices/$REGION/commit || return 8
  echo $REGION > /sys/bus/cxl/drivers/cxl_region/bind || return 9
  for i in $(seq 1 50); do ls /sys/bus/cxl/devices/$REGION/dax_region*/ >/dev/null 2>&1 && return 0; sleep 0.2; done
  return 10
}
`;

/** free_state: "regions=N dpa=M" (regions, endpoint decoders holding DPA); 0/0 is free capacity. */
export const CXL_FREE_STATE = String.raw`
free_state() {
  n=$(ls /sys/bus/cxl/devices | grep -c '^region') ; d=0
  for e in /sys/bus/cxl/devices/endpoint*/decoder*.*; do [ -e $e/dpa_size ] || continue; [ "$(($(cat $e/dpa_size)))" = 0 ] || d=$((d+1)); done
  echo "regions=$n dpa=$d"
}
`;

/**
 * provision_devdax MEMDEVS OUT: a whole-capacity region over MEMDEVS, handed back to devdax
 * unzeroed (provision --no-online leaves it System RAM with its blocks offline). For tests of the
 * steps after it (a resize, a destroy): zeroing CXL memory costs minutes of TCG time, since QEMU
 * emulates every store to it. The provision's JSON goes to OUT, its stderr to OUT.err. Calls the
 * test's own dx().
 */
export const CXL_PROVISION_DEVDAX = String.raw`
provision_devdax() {
  dx provision $1 --no-online --json > $2 2> $2.err
  dx offline $(grep -o '"daxDevice": *"dax[0-9.]*"' $2 | cut -d'"' -f4) --no-zero > /dev/null 2>&1
}
`;

/**
 * cxl-cli v81 (Debian 13) and daxram on the same two memdevs, timed in one run: the reference
 * (`cxl create-region -t ram` + `daxctl reconfigure-device -m system-ram`, then `daxctl
 * reconfigure-device -m devdax` + `cxl destroy-region`) and ours (`daxram provision`, `daxram
 * release`, which also zeroes the capacity on its way back). Between them, poison in both
 * memdevs for the list comparison. Leaves ref-*, prov*, rel*, cxl-list.json and dx-list.json in
 * $HARNESS_OUT; *-ms are wall times.
 */
export const CXL_CLI_VS_DAXRAM = String.raw`
set -u
O=$HARNESS_OUT
dx() { node bin/daxram "$@"; }
ms() { date +%s%3N; }
${CXL_FREE_STATE}
modprobe msr
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for i in $(seq 1 120); do [ "$(ls -d /sys/bus/cxl/devices/endpoint*/decoder*.0 2>/dev/null | wc -l)" = 2 ] && break; sleep 0.5; done
cxl version > $O/cxl-version
daxdev() { basename $(ls -d /sys/bus/cxl/devices/region*/dax_region*/dax*.0 | head -1); }
# The reference: cxl-cli makes the region, daxctl makes it System RAM (Movable, daxctl's default).
t0=$(ms)
cxl create-region -t ram -d decoder0.0 -m mem0 mem1 > $O/ref-create.json 2> $O/ref-create.err; echo $? > $O/ref-create.rc
D=$(daxdev)
daxctl reconfigure-device -m system-ram $D > $O/ref-online.json 2> $O/ref-online.err; echo $? > $O/ref-online.rc
t1=$(ms); echo $((t1 - t0)) > $O/ref-ms
daxctl list -d $D > $O/ref-daxctl.json
# Poison in both memdevs: the lists, ours against cxl-cli's.
echo 0x1000 > /sys/kernel/debug/cxl/mem0/inject_poison
echo 0x40 > /sys/kernel/debug/cxl/mem1/inject_poison
cxl list -M -R -D --media-errors > $O/cxl-list.json
dx list --json -C --media-errors > $O/dx-list.json 2> $O/dx-list.err
dx list --json -C > $O/dx-list-plain.json 2> $O/dx-list-plain.err
echo 0x1000 > /sys/kernel/debug/cxl/mem0/clear_poison
echo 0x40 > /sys/kernel/debug/cxl/mem1/clear_poison
t2=$(ms)
daxctl reconfigure-device -m devdax -f $D > /dev/null 2> $O/ref-offline.err; echo $? > $O/ref-offline.rc
cxl destroy-region -f region0 > /dev/null 2> $O/ref-destroy.err; echo $? > $O/ref-destroy.rc
t3=$(ms); echo $((t3 - t2)) > $O/ref-release-ms
free_state > $O/ref-free
# Ours, on the same memdevs.
t4=$(ms)
dx provision mem0,mem1 --json > $O/prov.json 2> $O/prov.err; echo $? > $O/prov.rc
t5=$(ms); echo $((t5 - t4)) > $O/prov-ms
daxctl list -d $(daxdev) > $O/prov-daxctl.json
cxl list -R > $O/prov-cxl.json
dx release region0 --no-zero --dry-run > $O/rel-dry.txt 2>&1
# Like cxl destroy-region, ours without zeroing (the zeroing release is cxl.test's).
t6=$(ms)
dx release region0 --no-zero --json > $O/rel.json 2> $O/rel.err; echo $? > $O/rel.rc
t7=$(ms); echo $((t7 - t6)) > $O/rel-ms
free_state > $O/rel-free
`;
