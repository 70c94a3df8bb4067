// Fixture sysfs trees shaped like Debian's 6.1 kernel shows them (QEMU NFIT and nfit_test
// guests), links included, so model, CLI and engine tests run without a kernel. Usable now.
//
// API
//   const fx = buildFixture(spec)        // writes a tree under a fresh temp dir
//   fx.root                              // pass as --root to bin/daxram, or new Sysfs(fx.root)
//   fx.sysfs                             // a Sysfs on that root
//   fx.path('/sys/bus/dax/devices/dax0.0/size')   // host path of a kernel path
//   fx.write(kernelPath, value) / fx.read(kernelPath) / fx.rm(kernelPath)  // mutate mid-test
//   fx.cleanup()                         // rm -rf the tree (also t.teardown(fx.cleanup))
//
// Every attribute is a regular file, writable (state, bind, unbind, new_id, remove_id …), so an
// engine under test can write through Sysfs.writeAttr and the test reads what it wrote. Links
// are real symlinks with the kernel's relative targets: /sys/bus/nd/devices/* and
// /sys/bus/dax/devices/* → /sys/devices/…, daxX.Y/driver → /sys/bus/dax/drivers/{kmem,device_dax},
// memoryN/nodeM ↔ node/nodeM/memoryN.
//
// Examples
//   // One QEMU NVDIMM (ACPI.NFIT, 2 GiB at 8 GiB on node 1) with a 1 GiB devdax namespace,
//   // bound to kmem and onlined movable (7 blocks: head and tail lost to block alignment):
//   const fx = buildFixture({
//     buses: [{regions: [{start: 8n * GiB, size: 2n * GiB, targetNode: 1,
//       namespaces: [{mode: 'devdax', size: GiB, dax: {driver: 'kmem', online: 'movable'}}]}]}],
//   });
//   // A soft-reserved (hmem) device with no NVDIMM behind it, left in devdax mode:
//   buildFixture({hmem: [{start: 16n * GiB, size: 4n * GiB, targetNode: 2}]});
//   // nfit_test-like bus with ARS commands and poison at sector 16 of its region:
//   buildFixture({buses: [{provider: 'nfit_test.0', commands: NFIT_TEST_COMMANDS,
//     regions: [{start: 4n * GiB, size: 32n * MiB, badblocks: [[16, 1]], namespaces: []}]}]});
//   // The 6 TiB machine of the bench: build6TiB().
//
// Names follow the kernel: buses ndbus0…, DIMMs nmem0… and regions region0… numbered across
// buses, namespaceR.N / daxR.N per region, device-dax daxR.0 under the region's nd_dax seed.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {Sysfs} from '../../daemon/sysfs';

export const KiB = 1n << 10n;
export const MiB = 1n << 20n;
export const GiB = 1n << 30n;
export const TiB = 1n << 40n;

/** Bus commands of an ACPI.NFIT bus under QEMU (no ARS). */
export const QEMU_NFIT_COMMANDS = ['cmd_call'];
/** Bus commands of nfit_test.N (ARS and clear-error emulated). */
export const NFIT_TEST_COMMANDS = ['ars_cap', 'ars_start', 'ars_status', 'clear_error', 'cmd_call'];

export type DaxDriver = 'device_dax' | 'kmem' | null;
/** State of the blocks kmem added: movable/kernel = online in that zone, false = offline. */
export type OnlineAs = 'movable' | 'kernel' | false;

export interface DaxSpec {
  /** Default device_dax. null = no driver (disabled). */
  driver?: DaxDriver;
  /** When bound to kmem: how its blocks are (default 'movable'). */
  online?: OnlineAs;
  /** Physical ranges; default: the namespace's data area (NVDIMM) or start/size (hmem). */
  ranges?: Array<{start: bigint; size: bigint}>;
  start?: bigint;
  size?: bigint;
  align?: bigint; // default 2 MiB
  targetNode?: number; // default: the region's
  numaNode?: number;
  /** Omit mappingN directories (pre-5.10 kernels: resource + size only). */
  noMappings?: boolean;
  /** Write no memoryN for kmem's blocks even when bound (kmem failed to add memory). */
  noBlocks?: boolean;
}

export interface NamespaceSpec {
  mode: 'devdax' | 'fsdax' | 'raw' | 'sector';
  /** Default: the region's whole free size. */
  size?: bigint;
  uuid?: string;
  /** fsdax/devdax: where struct pages live (default dev). */
  map?: 'dev' | 'mem';
  align?: bigint; // default 2 MiB
  /**
   * Bytes between the namespace start and the dax data (info block + struct-page map).
   * Default as the 6.1 kernel computes it: map=dev → 8 KiB info block + 64 bytes of struct
   * page per 4 KiB page, rounded up to align (1 GiB → 18 MiB, 512 MiB → 10 MiB: seen in the
   * guest as dax devices of 1006 MiB and 502 MiB); map=mem → 8 KiB rounded up to align.
   */
  dataOffset?: bigint;
  /** devdax: the device-dax instance (default {}: device_dax bound). */
  dax?: DaxSpec;
  /** Namespace/claim driver bound (default true). */
  enabled?: boolean;
  /** Label-less namespace (nd_namespace_io, no uuid) like QEMU's before init-labels. */
  labelless?: boolean;
}

export interface DimmSpec {
  /** Omitted → no security attribute (DIMM without security ops, as under QEMU). */
  security?: string;
  flags?: string[];
  handle?: number;
  physId?: number;
  id?: string;
}

export interface RegionSpec {
  start: bigint;
  size: bigint;
  targetNode?: number; // default 1
  numaNode?: number; // default 0 (the CPU node that owns it)
  align?: bigint; // default 16 MiB
  persistenceDomain?: string; // default "" (as QEMU); real platforms: cpu_cache, memory_controller
  /** Indices into the bus's DIMMs; default all of them, interleaved. */
  dimms?: number[];
  /** badblocks records: [sector, count] in 512-byte units from the region start. */
  badblocks?: Array<[number, number]>;
  enabled?: boolean; // nd_region bound, default true
  readOnly?: boolean;
  /** Label-less region (nstype 4, io): one fixed raw namespace, nothing allocatable. */
  labelless?: boolean;
  namespaces?: NamespaceSpec[];
}

export interface BusSpec {
  provider?: string; // default ACPI.NFIT
  commands?: string[];
  /** nfit/scrub content ("0", "1+"); null: no nfit/scrub attribute. Default "0" for ACPI/nfit_test. */
  scrub?: string | null;
  /** DIMMs or a count of default ones; default one per region. */
  dimms?: DimmSpec[] | number;
  regions?: RegionSpec[];
}

export interface RamSpec {
  start: bigint;
  size: bigint;
  node: number;
  /** Default online in Normal. */
  state?: 'online' | 'offline';
  zone?: string;
}

export interface FixtureSpec {
  blockSize?: bigint; // default 128 MiB
  autoOnlineBlocks?: 'offline' | 'online' | 'online_kernel' | 'online_movable';
  onlinePolicy?: string | null; // default contig-zones; null: attribute absent
  memmapOnMemory?: boolean;
  /** Boot memory blocks (System RAM not from dax). */
  ram?: RamSpec[];
  buses?: BusSpec[];
  /** dax devices with no NVDIMM (soft-reserved hmem); ranges via start/size or ranges. */
  hmem?: DaxSpec[];
  /** Extra nodes to create even if they have no memory (e.g. CPU nodes). Default [0]. */
  nodes?: number[];
  /** Directory to build in (default: a new mkdtemp under os.tmpdir()). */
  dir?: string;
}

export interface Fixture {
  root: string;
  sysfs: Sysfs;
  /** Host path of a kernel path. */
  path(kernelPath: string): string;
  write(kernelPath: string, value: string): void;
  read(kernelPath: string): string;
  rm(kernelPath: string): void;
  /** Resolved /sys/devices path of a named object (dax0.0, region0, ndbus0, nmem0, namespace0.0). */
  devicePath(name: string): string;
  /** Number of memoryN directories written. */
  blocks: number;
  cleanup(): void;
}

const ACPI_PARENT = '/sys/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0012:00';
const ND_DRIVERS = ['nd_bus', 'nvdimm', 'nd_region', 'nd_pmem', 'nd_btt', 'dax_pmem', 'pmem'];

class Tree {
  constructor(readonly root: string) {}
  p(k: string): string {
    return path.join(this.root, k);
  }
  mkdir(k: string): void {
    fs.mkdirSync(this.p(k), {recursive: true});
  }
  /** Attribute file with the newline the kernel prints. */
  attr(dir: string, name: string, value: string | number | bigint, nl = true): void {
    fs.writeFileSync(this.p(`${dir}/${name}`), nl ? `${value}\n` : `${value}`);
  }
  attrs(dir: string, values: Record<string, string | number | bigint>): void {
    for (const [k, v] of Object.entries(values)) this.attr(dir, k, v);
  }
  /** Symlink at kernel path `at` pointing to kernel path `to`, relative like sysfs makes them. */
  link(at: string, to: string): void {
    const rel = path.posix.relative(path.posix.dirname(at), to);
    fs.symlinkSync(rel, this.p(at));
  }
}

const hex = (v: bigint | number) => '0x' + v.toString(16);
const roundUp = (v: bigint, a: bigint) => ((v + a - 1n) / a) * a;

function fakeUuid(seed: number): string {
  const h = (n: number, w: number) => ((seed * 2654435761 + n) >>> 0).toString(16).padStart(8, '0').slice(0, w);
  return `${h(1, 8)}-${h(2, 4)}-4${h(3, 3)}-8${h(4, 3)}-${h(5, 8)}${h(6, 4)}`;
}

export function buildFixture(spec: FixtureSpec = {}): Fixture {
  const root = spec.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'daxram-fx-'));
  const t = new Tree(root);
  const bs = spec.blockSize ?? 128n * MiB;
  const devicePaths = new Map<string, string>();
  let blocks = 0;

  // Drivers and bus skeletons.
  for (const d of ND_DRIVERS) {
    t.mkdir(`/sys/bus/nd/drivers/${d}`);
    t.attrs(`/sys/bus/nd/drivers/${d}`, {bind: '', unbind: '', uevent: ''});
  }
  t.mkdir('/sys/bus/nd/devices');
  for (const d of ['device_dax', 'kmem']) {
    t.mkdir(`/sys/bus/dax/drivers/${d}`);
    t.attrs(`/sys/bus/dax/drivers/${d}`, {bind: '', unbind: '', new_id: '', remove_id: '', uevent: ''});
  }
  t.mkdir('/sys/bus/dax/devices');
  t.mkdir('/sys/class/nd');

  // Hotplug settings.
  const mem = '/sys/devices/system/memory';
  t.mkdir(mem);
  t.attr(mem, 'block_size_bytes', bs.toString(16));
  t.attr(mem, 'auto_online_blocks', spec.autoOnlineBlocks ?? 'offline');
  t.attrs(mem, {hard_offline_page: '', soft_offline_page: '', uevent: ''});
  const params = '/sys/module/memory_hotplug/parameters';
  t.mkdir(params);
  if (spec.onlinePolicy !== null) t.attr(params, 'online_policy', spec.onlinePolicy ?? 'contig-zones');
  t.attr(params, 'memmap_on_memory', spec.memmapOnMemory ? 'Y' : 'N');
  t.attr(params, 'auto_movable_ratio', 301);
  t.attr(params, 'auto_movable_numa_aware', 'Y');

  const nodes = new Set<number>(spec.nodes ?? [0]);
  const nodeDir = (n: number) => {
    const d = `/sys/devices/system/node/node${n}`;
    if (!nodes.has(n) || !fs.existsSync(t.p(d))) {
      nodes.add(n);
      t.mkdir(d);
      t.attrs(d, {cpulist: n === 0 ? '0-1' : '', uevent: ''});
    }
    return d;
  };
  for (const n of nodes) nodeDir(n);

  const addBlocks = (start: bigint, size: bigint, node: number, state: 'online' | 'offline', zones: string) => {
    const nd = nodeDir(node);
    const first = roundUp(start, bs) / bs;
    const last = (start + size) / bs; // exclusive
    for (let id = first; id < last; id++) {
      const name = `memory${id}`;
      const d = `${mem}/${name}`;
      fs.mkdirSync(t.p(d));
      // phys_index is %08lx; online mirrors state; removable is always 1 since 5.x.
      t.attrs(d, {state, valid_zones: zones, phys_index: id.toString(16).padStart(8, '0'), online: state === 'online' ? 1 : 0, removable: 1, phys_device: 0, uevent: ''});
      t.link(`${d}/node${node}`, nd);
      t.link(`${nd}/${name}`, d);
      blocks++;
    }
  };

  for (const r of spec.ram ?? []) {
    const st = r.state ?? 'online';
    addBlocks(r.start, r.size, r.node, st, st === 'online' ? r.zone ?? 'Normal' : 'DMA32 Normal Movable');
  }

  const addDax = (name: string, parentDir: string, ranges: Array<{start: bigint; size: bigint}>, d: DaxSpec, targetNode: number, numaNode: number) => {
    const dir = `${parentDir}/${name}`;
    t.mkdir(dir);
    devicePaths.set(`dax:${name}`, dir);
    const size = ranges.reduce((a, r) => a + r.size, 0n);
    const [maj, min] = [251, devicePaths.size];
    t.attrs(dir, {
      size,
      align: d.align ?? 2n * MiB,
      target_node: d.targetNode ?? targetNode,
      numa_node: d.numaNode ?? numaNode,
      resource: hex(ranges[0]?.start ?? 0n),
      modalias: 'dax:t0',
      dev: `${maj}:${min}`,
      uevent: `MAJOR=${maj}\nMINOR=${min}\nDEVNAME=${name}\nDRIVER=${d.driver ?? 'device_dax'}`,
      mapping: '',
    });
    if (!d.noMappings) {
      let pgoff = 0n;
      ranges.forEach((r, i) => {
        const md = `${dir}/mapping${i}`;
        t.mkdir(md);
        t.attrs(md, {start: hex(r.start), end: hex(r.start + r.size - 1n), page_offset: hex(pgoff)});
        pgoff += r.size / 4096n;
      });
    }
    t.link(`${dir}/subsystem`, '/sys/bus/dax');
    t.link(`/sys/bus/dax/devices/${name}`, dir);
    const driver = d.driver === undefined ? 'device_dax' : d.driver;
    if (driver) {
      t.link(`${dir}/driver`, `/sys/bus/dax/drivers/${driver}`);
      t.link(`/sys/bus/dax/drivers/${driver}/${name}`, dir);
    }
    if (driver === 'kmem' && !d.noBlocks) {
      const online = d.online === undefined ? 'movable' : d.online;
      for (const r of ranges) {
        if (online === false) addBlocks(r.start, r.size, d.targetNode ?? targetNode, 'offline', 'Normal Movable');
        else addBlocks(r.start, r.size, d.targetNode ?? targetNode, 'online', online === 'movable' ? 'Movable' : 'Normal');
      }
    }
  };

  // NVDIMM buses.
  let busId = 0;
  let dimmId = 0;
  let regionId = 0;
  for (const b of spec.buses ?? []) {
    const provider = b.provider ?? 'ACPI.NFIT';
    const parent = provider === 'ACPI.NFIT' ? ACPI_PARENT : `/sys/devices/platform/${provider}`;
    const bname = `ndbus${busId}`;
    const bdir = `${parent}/${bname}`;
    t.mkdir(bdir);
    devicePaths.set(bname, bdir);
    t.attrs(bdir, {provider, commands: (b.commands ?? (provider.startsWith('nfit_test') ? NFIT_TEST_COMMANDS : QEMU_NFIT_COMMANDS)).join(' '), wait_probe: 1, uevent: ''});
    const scrub = b.scrub === undefined ? (provider === 'ACPI.NFIT' || provider.startsWith('nfit_test') ? '0' : null) : b.scrub;
    if (scrub !== null) {
      t.mkdir(`${bdir}/nfit`);
      t.attrs(`${bdir}/nfit`, {scrub, revision: 1, dsm_mask: '0x0', hw_error_scrub: 1});
    }
    t.mkdir(`${bdir}/ndctl${busId}`);
    t.attrs(`${bdir}/ndctl${busId}`, {dev: `250:${busId}`, uevent: `MAJOR=250\nMINOR=${busId}\nDEVNAME=ndctl${busId}`});
    t.link(`/sys/class/nd/ndctl${busId}`, `${bdir}/ndctl${busId}`);
    t.link(`${bdir}/subsystem`, '/sys/bus/nd');
    t.link(`${bdir}/driver`, '/sys/bus/nd/drivers/nd_bus');
    t.link(`/sys/bus/nd/devices/${bname}`, bdir);

    const regions = b.regions ?? [];
    const dspecs: DimmSpec[] = Array.isArray(b.dimms) ? b.dimms : Array.from({length: b.dimms ?? Math.max(1, regions.length)}, () => ({}));
    const dimmNames: string[] = [];
    for (const ds of dspecs) {
      const n = `nmem${dimmId}`;
      const dd = `${bdir}/${n}`;
      t.mkdir(dd);
      devicePaths.set(n, dd);
      t.attrs(dd, {devtype: 'nvdimm', commands: 'cmd_call', state: 'active', flags: '', available_slots: 254, dev: `249:${dimmId}`, numa_node: 0, uevent: ''});
      if (ds.security !== undefined) t.attr(dd, 'security', ds.security);
      t.mkdir(`${dd}/nfit`);
      t.attrs(`${dd}/nfit`, {
        handle: hex(ds.handle ?? dimmId + 1),
        phys_id: hex(ds.physId ?? dimmId),
        flags: (ds.flags ?? []).join(' '),
        id: ds.id ?? `8680-${(0x57341200 + dimmId).toString(16)}`,
        family: 0,
        dsm_mask: '0x0',
      });
      t.link(`${dd}/subsystem`, '/sys/bus/nd');
      t.link(`${dd}/driver`, '/sys/bus/nd/drivers/nvdimm');
      t.link('/sys/bus/nd/drivers/nvdimm/' + n, dd);
      t.link(`/sys/bus/nd/devices/${n}`, dd);
      dimmNames.push(n);
      dimmId++;
    }

    regions.forEach((r, ri) => {
      const rid = regionId++;
      const rname = `region${rid}`;
      const rdir = `${bdir}/${rname}`;
      t.mkdir(rdir);
      devicePaths.set(rname, rdir);
      const targetNode = r.targetNode ?? 1;
      const numaNode = r.numaNode ?? 0;
      const rdimms = (r.dimms ?? (Array.isArray(b.dimms) || typeof b.dimms === 'number' ? dimmNames.map((_, i) => i) : [ri])).map((i) => dimmNames[i]);
      const nss = r.namespaces ?? [];
      let used = 0n;
      const enabled = r.enabled ?? true;
      t.attrs(rdir, {
        resource: hex(r.start),
        size: r.size,
        align: hex(r.align ?? 16n * MiB), // the region prints its align in hex, unlike the others
        target_node: targetNode,
        numa_node: numaNode,
        persistence_domain: r.persistenceDomain ?? '', // QEMU's NFIT states none (ndctl: "unknown")
        read_only: r.readOnly ? 1 : 0,
        devtype: 'nd_pmem',
        nstype: r.labelless ? 4 : 5,
        mappings: rdimms.length,
        deep_flush: 1,
        set_cookie: '0x' + (0x1a2b3c4d00000000n + BigInt(rid)).toString(16),
        init_namespaces: `${nss.length}/${nss.length}`,
        uevent: '',
      });
      const per = rdimms.length ? r.size / BigInt(rdimms.length) : 0n;
      rdimms.forEach((dn, pos) => t.attr(rdir, `mapping${pos}`, `${dn},0,${per},${pos}`));
      // badblocks refuses reads while the region is disabled: the fixture simply omits it.
      if (enabled) t.attr(rdir, 'badblocks', (r.badblocks ?? []).map(([s, c]) => `${s} ${c}\n`).join(''), false);
      t.link(`${rdir}/subsystem`, '/sys/bus/nd');
      if (enabled) {
        t.link(`${rdir}/driver`, '/sys/bus/nd/drivers/nd_region');
        t.link(`/sys/bus/nd/drivers/nd_region/${rname}`, rdir);
      }
      t.link(`/sys/bus/nd/devices/${rname}`, rdir);

      const seed = (kind: string, n: number) => `${kind}${rid}.${n}`;
      nss.forEach((ns, ni) => {
        const nsname = `namespace${rid}.${ni}`;
        const nsdir = `${rdir}/${nsname}`;
        const size = ns.size ?? r.size - used;
        const nsStart = r.start + used;
        used += size;
        t.mkdir(nsdir);
        devicePaths.set(nsname, nsdir);
        const kmode = {devdax: 'dax', fsdax: 'memory', raw: 'raw', sector: 'safe'}[ns.mode];
        const claim = ns.mode === 'devdax' ? seed('dax', ni) : ns.mode === 'fsdax' ? seed('pfn', ni) : ns.mode === 'sector' ? seed('btt', ni) : '';
        t.attrs(nsdir, {
          size,
          mode: kmode,
          devtype: ns.labelless ? 'nd_namespace_io' : 'nd_namespace_pmem',
          nstype: 5,
          resource: hex(nsStart),
          numa_node: numaNode,
          target_node: targetNode,
          dpa_extents: 1,
          holder: claim,
          holder_class: ns.mode === 'devdax' ? 'dax' : ns.mode === 'fsdax' ? 'pfn' : ns.mode === 'sector' ? 'btt' : '',
          force_raw: 0,
          uevent: '',
        });
        if (!ns.labelless) t.attrs(nsdir, {uuid: ns.uuid ?? fakeUuid(rid * 100 + ni), alt_name: '', sector_size: 512});
        t.link(`${nsdir}/subsystem`, '/sys/bus/nd');
        t.link(`/sys/bus/nd/devices/${nsname}`, nsdir);
        const en = ns.enabled ?? true;
        if (!claim) {
          if (en) {
            t.link(`${nsdir}/driver`, '/sys/bus/nd/drivers/nd_pmem');
            t.link(`/sys/bus/nd/drivers/nd_pmem/${nsname}`, nsdir);
          }
          return;
        }
        const align = ns.align ?? 2n * MiB;
        const map = ns.map ?? 'dev';
        const off = ns.dataOffset ?? roundUp(8n * KiB + (map === 'dev' ? 64n * ((size - 8n * KiB) / 4096n) : 0n), align);
        const sdir = `${rdir}/${claim}`;
        t.mkdir(sdir);
        devicePaths.set(`nd:${claim}`, sdir);
        t.attrs(sdir, {
          namespace: nsname,
          mode: map === 'dev' ? 'pmem' : 'ram',
          align,
          size: size - off,
          uuid: fakeUuid(rid * 100 + ni + 50),
          resource: hex(nsStart + off),
          devtype: claim.startsWith('dax') ? 'nd_dax' : claim.startsWith('pfn') ? 'nd_pfn' : 'nd_btt',
          numa_node: numaNode,
          target_node: targetNode,
          supported_alignments: '4096 2097152 1073741824 ',
          uevent: '',
        });
        t.link(`${sdir}/subsystem`, '/sys/bus/nd');
        t.link(`/sys/bus/nd/devices/${claim}`, sdir);
        const claimDriver = claim.startsWith('dax') ? 'dax_pmem' : claim.startsWith('pfn') ? 'nd_pmem' : 'nd_btt';
        if (en) {
          t.link(`${sdir}/driver`, `/sys/bus/nd/drivers/${claimDriver}`);
          t.link(`/sys/bus/nd/drivers/${claimDriver}/${claim}`, sdir);
        }
        if (ns.mode !== 'devdax' || !en) return;
        t.mkdir(`${sdir}/dax_region`);
        t.attrs(`${sdir}/dax_region`, {id: rid, size: size - off, align, available_size: 0});
        const d = ns.dax ?? {};
        const ranges = d.ranges ?? [{start: d.start ?? nsStart + off, size: d.size ?? size - off}];
        addDax(seed('dax', ni), sdir, ranges, d, targetNode, numaNode);
      });
      // The next seeds, as the kernel keeps one idle seed of each kind per region.
      const n = nss.length;
      t.attrs(rdir, {namespace_seed: `namespace${rid}.${n}`, dax_seed: seed('dax', n), pfn_seed: seed('pfn', n), btt_seed: seed('btt', n)});
      t.attr(rdir, 'available_size', r.size - used);
      t.attr(rdir, 'max_available_extent', r.size - used);
      const idle = `${rdir}/namespace${rid}.${n}`;
      t.mkdir(idle);
      t.attrs(idle, {size: 0, mode: 'raw', devtype: 'nd_namespace_pmem', holder: '', uuid: '', nstype: 5, uevent: ''});
      t.link(`${idle}/subsystem`, '/sys/bus/nd');
      t.link(`/sys/bus/nd/devices/namespace${rid}.${n}`, idle);
    });
    busId++;
  }

  // hmem: soft-reserved ranges, dax regions numbered after the NVDIMM ones.
  (spec.hmem ?? []).forEach((h, i) => {
    const rid = regionId + i;
    const pdir = `/sys/devices/platform/hmem.${i}`;
    t.mkdir(pdir);
    t.mkdir(`${pdir}/dax_region`);
    const ranges = h.ranges ?? [{start: h.start ?? 0n, size: h.size ?? 0n}];
    t.attrs(`${pdir}/dax_region`, {id: rid, size: ranges.reduce((a, r) => a + r.size, 0n), align: h.align ?? 2n * MiB, available_size: 0});
    addDax(`dax${rid}.0`, pdir, ranges, h, h.targetNode ?? 1, h.numaNode ?? h.targetNode ?? 1);
  });

  writeZoneinfo(root);
  const sysfs = new Sysfs(root);
  const fx: Fixture = {
    root,
    sysfs,
    blocks,
    path: (k) => t.p(k),
    write: (k, v) => fs.writeFileSync(t.p(k), v),
    read: (k) => fs.readFileSync(t.p(k), 'utf8'),
    rm: (k) => fs.rmSync(t.p(k), {recursive: true, force: true}),
    devicePath: (name) => {
      const p = devicePaths.get(name) ?? devicePaths.get(`dax:${name}`) ?? devicePaths.get(`nd:${name}`);
      if (!p) throw new Error(`fixture has no device ${name}`);
      return p;
    },
    cleanup: () => fs.rmSync(root, {recursive: true, force: true}),
  };
  return fx;
}

/**
 * The 6 TiB machine: two 3 TiB App Direct regions, one per socket (target nodes 0 and 1), each
 * a devdax namespace (map=mem, so the data starts 2 MiB in) bound to kmem and onlined movable.
 * Each namespace is 3 TiB + 128 MiB so that after kmem rounds inward exactly 3 TiB remain:
 * 49,152 blocks of 128 MiB, 24,576 per node. `scale` shrinks it (1/8 → 6,144 blocks).
 */
export function build6TiB(opts: {scale?: number; dir?: string} = {}): Fixture {
  const per = (3n * TiB) / BigInt(Math.round(1 / (opts.scale ?? 1)));
  const nsSize = per + 128n * MiB;
  const region = (start: bigint, node: number): RegionSpec => ({
    start,
    size: nsSize,
    targetNode: node,
    numaNode: node,
    namespaces: [{mode: 'devdax', map: 'mem', dataOffset: 2n * MiB, dax: {driver: 'kmem', online: 'movable'}}],
  });
  return buildFixture({
    dir: opts.dir,
    nodes: [0, 1],
    buses: [{regions: [region(4n * TiB, 0), region(8n * TiB, 1)]}],
  });
}

/**
 * /proc/zoneinfo as the kernel prints the lines daxram reads (zone headers, spanned, present,
 * start_pfn), derived from the online blocks of the tree: each zone of a node spans from its
 * first to its last online block. The fake kernel calls it after every state change.
 */
export function writeZoneinfo(root: string): void {
  const mem = path.join(root, 'sys/devices/system/memory');
  let bs = 128n * MiB;
  try {
    bs = BigInt('0x' + fs.readFileSync(path.join(mem, 'block_size_bytes'), 'utf8').trim());
  } catch {
    return;
  }
  const spans = new Map<string, {node: number; zone: string; first: bigint; last: bigint; n: bigint}>();
  let names: string[] = [];
  try {
    names = fs.readdirSync(mem).filter((n) => /^memory\d+$/.test(n));
  } catch {
    return;
  }
  for (const name of names) {
    const d = path.join(mem, name);
    if (fs.readFileSync(path.join(d, 'state'), 'utf8').trim() !== 'online') continue;
    const zone = fs.readFileSync(path.join(d, 'valid_zones'), 'utf8').trim().split(/\s+/)[0];
    const nodeLink = fs.readdirSync(d).find((e) => /^node\d+$/.test(e));
    const node = nodeLink ? Number(nodeLink.slice(4)) : 0;
    const id = BigInt(name.slice(6));
    const k = `${node}:${zone}`;
    const z = spans.get(k) ?? {node, zone, first: id, last: id, n: 0n};
    if (id < z.first) z.first = id;
    if (id > z.last) z.last = id;
    z.n++;
    spans.set(k, z);
  }
  const order = ['DMA', 'DMA32', 'Normal', 'Movable', 'Device'];
  const pages = bs / 4096n;
  // The boot DRAM a real host has below its hot-added memory: 4 GiB of Normal on node 0 (a CPU
  // node), unless the tree gives node 0 kernel memory blocks of its own.
  if (![...spans.values()].some((z) => z.node === 0 && z.zone !== 'Movable')) {
    spans.set('0:Normal', {node: 0, zone: 'Normal', first: 0n, last: (4n << 30n) / bs - 1n, n: (4n << 30n) / bs});
  }
  const hasCpu = path.join(root, 'sys/devices/system/node/has_cpu');
  if (!fs.existsSync(hasCpu) && fs.existsSync(path.dirname(hasCpu))) fs.writeFileSync(hasCpu, '0\n');
  const nodes = [...new Set([...spans.values()].map((z) => z.node))].sort((a, b) => a - b);
  let out = '';
  for (const node of nodes) {
    for (const zone of order) {
      const z = spans.get(`${node}:${zone}`);
      out += `Node ${node}, zone ${zone.padStart(8)}\n  pages free     0\n        spanned  ${z ? (z.last - z.first + 1n) * pages : 0n}\n        present  ${z ? z.n * pages : 0n}\n        managed  ${z ? z.n * pages : 0n}\n`;
      if (z) out += `  start_pfn:           ${z.first * pages}\n`;
    }
  }
  fs.mkdirSync(path.join(root, 'proc'), {recursive: true});
  fs.writeFileSync(path.join(root, 'proc/zoneinfo'), out);
}
