// The platform model: a read-only snapshot of the libnvdimm, device-dax and memory-hotplug
// objects, named after the kernel ABI. One scan builds it; links between objects are resolved
// once, in both directions, so questions never re-walk sysfs.

import type {Range} from '../util/ranges';
import type {CxlRegion, CxlTopology} from './cxl/types';

export type {Range};

/** ndbusN: one NVDIMM bus (ACPI.NFIT, nfit_test.0, e820 …). */
export interface Bus {
  name: string; // ndbus0
  id: number; // 0
  provider: string; // ACPI.NFIT
  dev: string; // /dev/ndctl0
  /** Bus-level commands the kernel advertises (ars_cap, ars_start, ars_status, clear_error …). */
  commands: string[];
  /** nfit/scrub: number of kernel-initiated scrubs completed, and whether one is running now. */
  scrub?: {count: number; running: boolean};
  /** Whether the bus has the nfit/scrub attribute (ACPI NFIT buses do). */
  scrubSupported: boolean;
  regions: Region[];
  dimms: Dimm[];
}

/** nmemN: one NVDIMM. */
export interface Dimm {
  name: string; // nmem0
  id: number;
  bus: Bus;
  /** nfit/flags split into words ("not_armed", "save_fail", "smart_event" …). */
  flags: string[];
  /** security: disabled | unlocked | locked | frozen | overwrite | unsupported (absent attribute) */
  security: string;
  handle?: number;
  /** nfit/phys_id (SMBIOS handle) and nfit/id (vendor-serial id), as ndctl shows them. */
  physId?: number;
  uid?: string;
  /** nmemN/state: "idle" or "active" (a region using it is enabled). */
  state?: string;
  dev: string; // /dev/nmem0
  regions: Region[];
}

/** regionN: a physical address range of interleaved DIMMs. */
export interface Region {
  name: string; // region0
  id: number;
  bus: Bus;
  devtype: string; // nd_pmem | nd_volatile | nd_blk
  resource: bigint; // physical start
  size: bigint;
  align: bigint;
  /** available_size, as ndctl reports it: 0 for label-less (nstype IO) regions, which cannot be carved. */
  available: bigint;
  /** nstype: 4 = io (label-less), 5 = pmem, 6 = blk. */
  nstype?: number;
  targetNode: number; // target_node, -1 when unknown
  numaNode: number; // numa_node
  persistenceDomain?: string;
  readOnly: boolean;
  /** max_available_extent: the largest contiguous free space for a new namespace. */
  maxAvailableExtent?: bigint;
  /** mappingN: which DIMM contributes which DPA range, in interleave position order. */
  mappings?: RegionMapping[];
  /** Driver bound (nd_region) — disabled when absent. */
  enabled: boolean;
  /** Resolved /sys/devices/… directory. */
  dir: string;
  /** The unconfigured namespace and dax claim the kernel offers for creating the next ones. */
  namespaceSeed?: string;
  daxSeed?: string;
  /** Label-less: one fixed raw namespace (nstype io, or namespaces without a uuid attribute). */
  labelless: boolean;
  /** badblocks ranges, converted to absolute physical addresses. */
  badblocks: Badblock[];
  dimms: Dimm[];
  namespaces: Namespace[];
  /** dax devices in this region whose namespace is in devdax mode. */
  daxDevices: DaxDevice[];
}

/** regionN/mappingK = "nmemX,offset,length,position". */
export interface RegionMapping {
  dimm: string; // nmem0
  offset: bigint; // DPA offset on the DIMM
  length: bigint;
  position?: number;
}

/** One badblocks record: `sector count` in 512-byte units relative to region resource. */
export interface Badblock {
  /** Offset from the region's resource, bytes. */
  offset: bigint;
  length: bigint;
  /** Absolute physical address. */
  start: bigint;
}

/** namespaceX.Y */
export interface Namespace {
  name: string; // namespace0.0
  region: Region;
  /** Physical start (resource), when the kernel shows it. */
  resource?: bigint;
  /** Has a uuid attribute: a labelled namespace (nd_namespace_pmem), not label-less io. */
  labelled: boolean;
  /** The driver bound to the namespace itself (a raw namespace exposing /dev/pmemX). */
  driver?: string;
  /** raw | fsdax | devdax | sector | unknown (nstype/mode: the personality in use) */
  mode: string;
  uuid?: string;
  size: bigint;
  /** map location: mem | dev (pfn/dax seed's "location"), when in fsdax/devdax mode */
  map?: string;
  align?: bigint;
  /** nd_namespace_io (label-less) or nd_namespace_pmem (labelled). */
  devtype?: string;
  /** The seed claiming this namespace (dax0.0, pfn0.0, btt0.0): its `holder` attribute. */
  holder?: string;
  /** The claim's own uuid (in its info block): what ndctl prints as uuid for fsdax/devdax/sector. */
  claimUuid?: string;
  /** Size left after the claim's info block and struct-page map (the seed's size): what ndctl prints as size for fsdax/devdax. */
  usableSize?: bigint;
  enabled: boolean;
  daxDevices: DaxDevice[];
}

/** How a dax device is used: devdax (device_dax), system-ram (kmem) or disabled (no driver). */
export type DaxMode = 'devdax' | 'system-ram' | 'disabled' | 'unknown';

/** Where a dax device sits in /sys/devices: what created it. */
export interface DaxOrigin {
  /** Resolved /sys/devices/… path of the device. */
  real: string;
  /**
   * nvdimm: a devdax namespace of an NVDIMM region; e820: of a legacy pmem region (memmap=nn!ss);
   * hmem: a soft-reserved range; cxl: a CXL RAM region; other: an unknown parent.
   */
  kind: 'nvdimm' | 'e820' | 'hmem' | 'cxl' | 'other';
  bus?: string; // ndbus0
  busDir?: string;
  region?: string; // region0 (an NVDIMM region, or a CXL region for kind cxl)
  regionDir?: string;
  /** The nd_dax seed (daxX.Y on the nd bus) that created this device, and its directory. */
  seed?: string;
  seedDir?: string;
  /** The parent device for devices without an NVDIMM: hmem.0, dax_region0 … */
  provider?: string;
}

/** daxX.Y: a device-dax instance. */
export interface DaxDevice {
  name: string; // dax0.0
  /** /sys/bus/dax/devices/<name>: the path sysfs writes are validated against. */
  sysPath: string;
  chardev: string; // dax0.0 (the /dev node, absent for system-ram)
  /** dax region id (X in daxX.Y). */
  daxRegion: number;
  size: bigint;
  /** Physical ranges (mapping0 …) in device order (page_offset); one range for NVDIMM devices. */
  ranges: Range[];
  align: bigint;
  targetNode: number;
  numaNode: number;
  driver?: string; // device_dax | kmem
  mode: DaxMode;
  /** What created it, from its place in /sys/devices (names and directories, no objects). */
  origin: DaxOrigin;
  /** A devdax namespace's uuids: the namespace label's and the dax info block's. */
  uuids: {namespace?: string; infoBlock?: string; namespaceName?: string};
  /** NVDIMM origin objects, linked by the scan; undefined for hmem / CXL devices. */
  namespace?: Namespace;
  region?: Region;
  bus?: Bus;
  /** For devices without an NVDIMM: the parent device (hmem.0, dax_region0 …). */
  provider?: string;
  /** CXL origin (the region whose dax_region made it), linked by the scan. */
  cxl?: CxlRegion;
  /** hmem origin: the /proc/iomem entry holding its range ("Soft Reserved" on 6.x). */
  iomem?: {name: string; start: bigint; end: bigint};
  /** Present memory blocks inside the ranges after rounding inward to the block size (kmem added them). */
  memblocks: MemBlocks;
  /** Bytes kmem can online after rounding each range inward to the block size. */
  kmemCapacity: bigint;
  /** Blocks kmem would add (or did add). */
  kmemBlocks: number;
}

export type MemBlockState = 'online' | 'offline' | 'going-offline' | string;

/** memoryN: one hot-pluggable memory block. */
export interface MemBlock {
  name: string; // memory64
  id: number;
  /** phys_index * block size */
  start: bigint;
  state: MemBlockState;
  /** valid_zones as the kernel prints it: for an online block, the zone it is in. */
  validZones: string[];
  node: number;
  removable?: boolean;
}

/** /sys/devices/system/memory settings that decide what happens when kmem adds memory. */
/**
 * A device's present memory blocks (DeviceBlocks in memblock.ts). Tens of thousands on a large
 * device, and most questions are counts: those are kept, and a block becomes an object only when
 * someone asks for it.
 */
export interface MemBlocks extends Iterable<MemBlock> {
  readonly length: number;
  /** Blocks online. */
  readonly online: number;
  /** Block `id` as the scan found it; undefined when it is not one of these (or not present). */
  get(id: number): MemBlock | undefined;
  /** Every online block is in ZONE_MOVABLE (true when none is online). */
  allMovable(): boolean;
}

export interface HotplugSettings {
  blockSize: bigint; // block_size_bytes (hex in sysfs)
  autoOnlineBlocks: string; // offline | online | online_kernel | online_movable
  /** /sys/module/memory_hotplug/parameters/online_policy (contig-zones | auto-movable) when present. */
  onlinePolicy?: string;
  /** The boot switch memory_hotplug.memmap_on_memory, when the kernel has it. */
  memmapOnMemory?: 'on' | 'force' | 'off';
}

export interface Platform {
  buses: Bus[];
  dimms: Dimm[];
  regions: Region[];
  namespaces: Namespace[];
  devices: DaxDevice[];
  hotplug: HotplugSettings;
  /** The cxl bus, when the kernel has one (cxl_acpi loaded). */
  cxl?: CxlTopology;
  /** Objects skipped because they were half-removed while scanning, and other oddities. */
  warnings: string[];
}
