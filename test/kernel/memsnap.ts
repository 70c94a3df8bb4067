// Guest shell for DRAM measurements (memmap test, bench/dram.ts): node 0's free memory counted
// as the kernel holds it, free pages plus the pages parked on per-CPU lists (/proc/zoneinfo's
// pageset counts), which MemFree leaves out and which move by megabytes between two samples;
// page cache dropped first; median of five samples, in kB. And a node's MemTotal.

export const NODE0_FREE = String.raw`
free0() {
  sync; echo 3 > /proc/sys/vm/drop_caches; sleep 1
  for i in 1 2 3 4 5; do
    awk '/^Node/ {n = ($2 == "0,")} n && /^ +pages free/ {f += $3} n && /^ +count:/ {f += $2} END {print f * 4}' /proc/zoneinfo
    sleep 0.3
  done | sort -n | sed -n 3p
}
total() { awk '/MemTotal/ {print $4}' /sys/devices/system/node/node$1/meminfo 2>/dev/null || echo 0; }
`;
