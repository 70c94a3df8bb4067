// The CXL objects daxram reads, named after the kernel ABI (Documentation/ABI/testing/
// sysfs-bus-cxl) and, where a user meets them, after cxl-cli's field names.

/** memN: a CXL memory expander (a type-3 device's memory interface). */
export interface CxlMemdev {
  name: string; // mem0
  id: number;
  /** Resolved /sys/devices/… directory. */
  dir: string;
  /** The PCI function it sits on (0000:0d:00.0): cxl list's "host". */
  host: string;
  serial?: bigint;
  /** Volatile (ram) and persistent (pmem) capacity, bytes. */
  ramSize: bigint;
  pmemSize: bigint;
  numaNode: number;
  firmwareVersion?: string;
  /** The kernel can read its poison list (trigger_poison_list exists). */
  poisonList: boolean;
  /** /dev/cxl/memN, the mailbox character device. */
  dev: string;
  /** Its endpoint port (endpointN), when cxl_mem has attached it. */
  endpoint?: string;
  /** Volatile capacity no endpoint decoder has allocated yet (bytes; the scan computes it). */
  ramFree: bigint;
}

export type CxlPortKind = 'root' | 'switch' | 'endpoint';

/** rootN, portN, endpointN. */
export interface CxlPort {
  name: string;
  kind: CxlPortKind;
  dir: string;
  /** What the port represents: the ACPI0017 device, a host bridge (pci0000:0c), a memdev (mem0). */
  host: string;
  /** The port above (none for the root). */
  parent?: string;
  decoders: string[];
  /** Downstream ports (dportN): their id (what a decoder's target_list names) and device. */
  dports: {id: number; dir: string}[];
  /** The downstream port of the port above that this one hangs off (parent_dport), resolved. */
  parentDport?: string;
}

export type CxlDecoderKind = 'root' | 'switch' | 'endpoint';

/** decoderX.Y: an HDM decoder of a port. */
export interface CxlDecoder {
  name: string;
  kind: CxlDecoderKind;
  port: string;
  dir: string;
  /** Host physical range it decodes (size 0: not programmed). */
  start: bigint;
  size: bigint;
  interleaveWays: number;
  interleaveGranularity: number;
  /** Root and switch decoders: dport ids they route to (target_list). */
  targets: string[];
  /** Endpoint decoders: ram | pmem | none, and the device physical range behind. */
  mode?: string;
  dpaResource?: bigint;
  dpaSize?: bigint;
  /** Root decoders: what a region under it may hold. */
  capRam?: boolean;
  capPmem?: boolean;
  locked?: boolean;
  /** The region it serves (its region attribute; else resolved by the scan). */
  region?: string;
  /** Root decoders: the region name create_ram_region will accept next. */
  nextRegion?: string;
}

/** regionN on the cxl bus: HPA space of a root decoder assembled from endpoint decoders. */
export interface CxlRegion {
  name: string; // region0 (its own namespace: not an NVDIMM region)
  id: number;
  dir: string;
  rootDecoder: string;
  mode: string; // ram | pmem
  resource: bigint;
  size: bigint;
  interleaveWays: number;
  interleaveGranularity: number;
  /** Endpoint decoders in interleave position order (targetN). */
  targets: string[];
  /** commit: 1 → "commit", else "reset" (cxl list's decode_state). */
  decodeState: 'commit' | 'reset';
  uuid?: string;
  /** dax_regionN below it (a RAM region bound to cxl_region), when there is one. */
  daxRegion?: string;
  /** Memdevs behind the targets, in position order. */
  memdevs: string[];
  /** Host bridge(s) the targets hang off (pci0000:0c). */
  hostBridges: string[];
}

export interface CxlTopology {
  memdevs: CxlMemdev[];
  ports: CxlPort[];
  decoders: CxlDecoder[];
  regions: CxlRegion[];
}
