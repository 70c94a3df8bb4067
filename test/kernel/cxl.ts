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
